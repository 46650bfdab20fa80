"""The analyze job: video list -> downloaded videos -> faces -> emotions -> warehouse.

`run()` only checks what must hold before anything is downloaded (the list exists, the
model's weights are there, the device is real), wires the stages and commits the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from affectflow import __version__
from affectflow.models.cache import default_cache_dir
from affectflow.models.registry import ModelSpec, get_model_spec
from affectflow.pipelines.options import GIB, AnalyzeOptions, resolve_runner_options
from affectflow.pipelines.summary import RunSummary, summarise
from affectflow.pipelines.warehouse import (
    commit_run,
    discard_stale_staging,
    done_video_keys,
    new_run_id,
    staging_dir,
)
from affectflow.schemas.records import RunInfo
from affectflow.transforms.detect import DetectFaces
from affectflow.transforms.download import DownloadVideos
from affectflow.transforms.infer import ClassifyEmotions, check_device
from affectflow.transforms.ingest import ReadVideoList, list_format
from affectflow.transforms.outcomes import SplitDone, ToVideoRows
from affectflow.transforms.rows import error_row
from affectflow.transforms.sinks import WriteTables
from affectflow.transforms.video_cache import ReleaseVideos

LOG = logging.getLogger(__name__)
PRIVATE_OPTIONS = ("channel_salt",)


class JobError(RuntimeError):
    """The job itself cannot run (not a failure of one video): the message says what to fix."""


def analysis_settings(opts: AnalyzeOptions, spec: ModelSpec) -> dict:
    """Everything that changes the results of a video, fingerprinted as the analysis_id."""
    return {
        "model": spec.name,
        "fps": opts.fps,
        "trim_s": opts.trim_s,
        "scale_factor": opts.scale_factor,
        "min_neighbors": opts.min_neighbors,
        "min_face": opts.min_face,
        "detect_width": opts.detect_width,
        "detect_every": opts.detect_every,
        "min_track_frames": opts.min_track_frames,
        "crop_size": spec.input_size,
        "crop_margin_px": spec.crop_margin_px,
        "clahe": clahe_for(opts, spec),
    }


def clahe_for(opts: AnalyzeOptions, spec: ModelSpec) -> bool:
    return spec.clahe if opts.clahe is None else opts.clahe == "on"


def make_run_info(opts: AnalyzeOptions, spec: ModelSpec, weights_sha256: str) -> RunInfo:
    settings = {**analysis_settings(opts, spec), "weights_sha256": weights_sha256}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return RunInfo(
        run_id=new_run_id(),
        model_id=spec.name,
        weights_sha256=weights_sha256,
        analysis_id=digest,
    )


def build(
    pipeline: beam.Pipeline,
    video_list: str,
    opts: AnalyzeOptions,
    spec: ModelSpec,
    weights_path: str,
    run: RunInfo,
    done_keys: frozenset[str],
) -> None:
    """Wire the stages; every input row ends as exactly one `videos` row."""
    one_thread = 1 if opts.workers > 1 else None
    video_cache = opts.cache_dir  # the download stage keeps videos in <cache>/videos
    requests, ingest_failed = pipeline | "ReadVideoList" >> ReadVideoList(
        video_list, default_cohort=opts.cohort, allow_local=opts.allow_local
    )
    todo, skipped = requests | "SplitDone" >> SplitDone(done_keys)
    if opts.workers > 1:
        todo = todo | "SpreadVideos" >> beam.Reshuffle()
    videos, download_failed = todo | "DownloadVideos" >> DownloadVideos(
        cache_dir=video_cache,
        max_duration_s=opts.max_duration,
        max_filesize_bytes=opts.max_filesize,
        max_height=opts.max_height,
        socket_timeout_s=opts.socket_timeout,
        retries=opts.retries,
        backoff_s=opts.backoff_s,
        allowed_extractors=tuple(opts.sites.split(",")) if opts.sites else None,
        keep_title=opts.keep_title,
        channel_salt=opts.channel_salt,
    )
    faces, summaries, detect_failed = videos | "DetectFaces" >> DetectFaces(
        fps=opts.fps,
        trim_s=opts.trim_s,
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=clahe_for(opts, spec),
        scale_factor=opts.scale_factor,
        min_neighbors=opts.min_neighbors,
        min_size=(opts.min_face, opts.min_face),
        cv2_threads=one_thread,
        min_track_frames=opts.min_track_frames,
        detect_width=opts.detect_width,
        detect_every=opts.detect_every,
        debug_crops_dir=opts.debug_crops,
    )
    _ = (summaries, detect_failed) | "ReleaseVideos" >> ReleaseVideos(
        video_cache,
        keep_videos=opts.keep_videos,
        max_bytes=int(opts.cache_max_gb * GIB) if opts.cache_max_gb is not None else None,
    )
    face_rows, infer_failed = faces | "ClassifyEmotions" >> ClassifyEmotions(
        spec,
        weights_path,
        run,
        batch_size=opts.batch_size,
        device=opts.device,
        torch_threads=one_thread,
        model_copies=opts.model_copies,
    )
    failed = (ingest_failed, download_failed, detect_failed) | "VideoFailures" >> beam.Flatten()
    errors = (failed, infer_failed) | "AllFailures" >> beam.Flatten()
    video_rows = (summaries, skipped, failed) | "ToVideoRows" >> ToVideoRows(run)
    tables = {
        "videos": video_rows,
        "faces": face_rows,
        "errors": errors | "ToErrorRows" >> beam.Map(error_row, run=run),
    }
    _ = tables | "WriteTables" >> WriteTables(staging_dir(opts.warehouse, run.run_id), run.run_id)


def _parse(argv: Sequence[str] | None) -> tuple[str, PipelineOptions]:
    parser = argparse.ArgumentParser(prog="affectflow analyze", add_help=False)
    parser.add_argument("video_list")
    known, rest = parser.parse_known_args(argv)
    options = PipelineOptions(rest)
    resolve_runner_options(options)
    return known.video_list, options


def _preflight(video_list: str, opts: AnalyzeOptions) -> tuple[ModelSpec, str, str]:
    """Fail fast, before any download: list, model, weights and device."""
    if not FileSystems.exists(video_list):
        raise JobError(f"video list {video_list!r} does not exist")
    try:
        list_format(video_list)
        spec = get_model_spec(opts.model)
        check_device(opts.device)
        weights = spec.fetch_weights(opts.cache_dir, source=opts.weights)
        spec = spec.for_weights(weights.path)
    except (ValueError, RuntimeError, OSError) as error:
        raise JobError(str(error)) from error
    return spec, weights.path, weights.sha256


def run(
    argv: Sequence[str] | None = None, test_pipeline: beam.Pipeline | None = None
) -> RunSummary:
    """Run the analyze job and commit its rows; returns the run's summary."""
    video_list, options = _parse(argv)
    opts = options.view_as(AnalyzeOptions)
    if opts.cache_dir is None:
        opts.cache_dir = str(default_cache_dir())
    spec, weights_path, weights_sha256 = _preflight(video_list, opts)
    run_info = make_run_info(opts, spec, weights_sha256)
    discard_stale_staging(opts.warehouse)
    done = frozenset() if opts.force else done_video_keys(opts.warehouse, run_info.analysis_id)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    LOG.info(
        "run %s: %s with %s (%d videos already done)",
        run_info.run_id,
        video_list,
        spec.name,
        len(done),
    )
    pipeline = test_pipeline or beam.Pipeline(options=options)
    build(pipeline, video_list, opts, spec, weights_path, run_info, done)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarise(result, seconds=time.monotonic() - clock)
    config = {k: v for k, v in opts.get_all_options().items() if k not in PRIVATE_OPTIONS}
    commit_run(
        opts.warehouse,
        run_info.run_id,
        {
            **dataclasses.asdict(run_info),
            **summary.counts(),
            "valence": dict(spec.valence),
            "started_at": started,
            "finished_at": dt.datetime.now(dt.UTC),
            "config": json.dumps({"video_list": video_list, **config}, default=str, sort_keys=True),
            "code_version": __version__,
            "runner": str(options.view_as(StandardOptions).runner),
        },
    )
    return summary
