"""The options of a job -> each stage's settings (`schemas.settings`), built once."""

from __future__ import annotations

from affectflow.models.registry import ModelSpec
from affectflow.models.threads import worker_threads
from affectflow.pipelines.options import AnalyzeOptions, is_local_runner
from affectflow.schemas.settings import (
    GIB,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    IngestSettings,
    StageSettings,
    UnitSettings,
)


def stage_settings(
    opts: AnalyzeOptions,
    spec: ModelSpec,
    weights_path: str,
    weights_sha256: str,
    detector_weights_path: str = "",
) -> StageSettings:
    """Each stage's settings from the options, the model and the face check's weights."""
    # Threads per worker from the cores this process may use; on a remote runner each
    # worker counts its own (None).
    threads = worker_threads(opts.workers) if is_local_runner(opts) else None
    return StageSettings(
        ingest=IngestSettings(default_cohort=opts.cohort, allow_local=opts.allow_local),
        download=DownloadSettings(
            cache_dir=opts.cache_dir or "",  # "": each worker's default
            max_height=opts.max_height,
            max_duration_s=opts.max_duration,
            max_filesize_bytes=opts.max_filesize,
            allowed_extractors=tuple(opts.sites.split(",")) if opts.sites else None,
            socket_timeout_s=opts.socket_timeout,
            retries=opts.retries,
            backoff_s=opts.backoff_s,
            keep_title=opts.keep_title,
            channel_salt=opts.channel_salt,
            keep_videos=opts.keep_videos,
            download_timeout_s=opts.download_timeout,
            min_rate_bytes=opts.min_rate,
            download_deadline_s=opts.download_deadline,
            max_pixels=opts.max_pixels,
            concurrent_downloads=opts.downloads,
            allow_private_addresses=opts.allow_private_addresses,
            still_images=opts.still_images,
            cache_max_bytes=int(opts.cache_max_gb * GIB) if opts.cache_max_gb is not None else None,
        ),
        detect=DetectSettings(
            fps=opts.fps,
            trim_s=opts.trim_s,
            detector=opts.detector,
            scale_factor=opts.scale_factor,
            min_neighbors=opts.min_neighbors,
            min_face=opts.min_face,
            detect_width=opts.detect_width,
            detect_every=opts.detect_every,
            min_track_frames=opts.min_track_frames,
            min_face_score=opts.min_face_score,
            min_face_quality=opts.min_face_quality,
            align=opts.align == "on",
            crop_size=spec.input_size,
            crop_margin_px=spec.crop_margin_px,
            clahe=spec.clahe if opts.clahe is None else opts.clahe == "on",
            detector_weights_path=detector_weights_path,
            device=opts.device,
            detect_batch=opts.detect_batch,
            cv2_threads=threads,
            debug_crops_dir=opts.debug_crops,
            max_duration_s=opts.max_duration,
            max_pixels=opts.max_pixels,
            process_timeout_s=opts.process_timeout,
        ),
        classify=ClassifySettings(
            model=spec.name,
            weights_sha256=weights_sha256,
            weights_path=weights_path,
            batch_size=opts.batch_size,
            batch_across_videos=opts.batch_across_videos,
            device=opts.device,
            torch_threads=threads,
            model_copies=opts.model_copies,
            flip_average=opts.flip_average == "on",
            smooth_s=opts.smooth_s,
        ),
        units=UnitSettings(
            warehouse=opts.warehouse, max_videos=opts.unit_videos, max_seconds=opts.unit_seconds
        ),
    )
