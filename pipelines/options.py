"""Every knob of the analyze job, as one Beam PipelineOptions subclass.

Beam's own options (`--runner`, `--direct_num_workers`, Dataflow's `--project`, ...)
pass through unchanged; `resolve_runner_options` fills in the local defaults.
`stage_settings` turns the options into each stage's settings (`schemas.settings`),
whose defaults are the flags' defaults.
"""

from __future__ import annotations

import argparse
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from affectflow.models.registry import ModelSpec
from affectflow.schemas.settings import (
    GIB,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    IngestSettings,
    StageSettings,
)

DEFAULT_RUNNER = "FnApiRunner"
DETECT = DetectSettings()
DOWNLOAD = DownloadSettings()
CLASSIFY = ClassifySettings()
LOCAL_WORKERS_RUNNER = "affectflow.pipelines.local_workers.LocalWorkersRunner"


def _add(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """Add `--some-name` with `--some_name` as an alias (Beam's spelling)."""
    flags = [f"--{name}"]
    if "-" in name:
        flags.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*flags, dest=name.replace("-", "_"), **kwargs)


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `affectflow analyze` to `parser` (help, refresh config, Beam)."""
    _add(parser, "warehouse", default="out", help="warehouse folder or URI (default: out)")
    _add(parser, "cohort", default=None, help="cohort of rows that name none (.txt lists)")
    _add(parser, "allow-local", action="store_true", help="accept local paths and file://")
    _add(
        parser,
        "fps",
        type=float,
        default=DETECT.fps,
        help="frames sampled per second (%(default)s)",
    )
    _add(
        parser,
        "trim-s",
        type=float,
        default=DETECT.trim_s,
        help="seconds trimmed at start and end",
    )
    _add(parser, "model", default=CLASSIFY.model, help="emotion model (registry name)")
    _add(parser, "weights", default=None, help="weights file for models that need one")
    _add(parser, "device", default=CLASSIFY.device, choices=("cpu", "cuda"), help="torch device")
    _add(
        parser,
        "batch-size",
        type=int,
        default=CLASSIFY.batch_size,
        help="faces per inference batch (%(default)s)",
    )
    _add(
        parser,
        "model-copies",
        type=int,
        default=None,
        help="model copies per worker machine (GPU runners: usually 1)",
    )
    _add(parser, "workers", type=int, default=1, help="local worker processes (1)")
    _add(parser, "cache-dir", default=None, help="model and video cache (~/.cache/affectflow)")
    _add(
        parser,
        "max-duration",
        type=float,
        default=DOWNLOAD.max_duration_s,
        help="longest video in s (%(default)s)",
    )
    _add(
        parser,
        "max-filesize",
        type=int,
        default=DOWNLOAD.max_filesize_bytes,
        help="largest download in bytes",
    )
    _add(
        parser,
        "max-height",
        type=int,
        default=DOWNLOAD.max_height,
        help="highest video format (%(default)s)",
    )
    _add(
        parser,
        "socket-timeout",
        type=float,
        default=DOWNLOAD.socket_timeout_s,
        help="network timeout in s (%(default)s)",
    )
    _add(
        parser,
        "retries",
        type=int,
        default=DOWNLOAD.retries,
        help="retries of retryable download errors",
    )
    _add(
        parser,
        "backoff-s",
        type=float,
        default=DOWNLOAD.backoff_s,
        help="first retry delay, doubling (%(default)s)",
    )
    _add(
        parser,
        "debug-crops",
        default=None,
        help="folder to write every face crop to (debugging only: crops are personal data)",
    )
    _add(parser, "keep-videos", action="store_true", help="keep downloads in the cache")
    _add(parser, "cache-max-gb", type=float, default=None, help="video cache cap in GiB")
    _add(parser, "sites", default=None, help="comma-separated yt-dlp extractors to accept")
    _add(parser, "keep-title", action="store_true", help="store video titles (off: privacy)")
    _add(
        parser,
        "channel-salt",
        default=os.environ.get("AFFECTFLOW_CHANNEL_SALT"),
        help="key for hashing channel ids (env AFFECTFLOW_CHANNEL_SALT); none: not stored",
    )
    _add(
        parser,
        "scale-factor",
        type=float,
        default=DETECT.scale_factor,
        help="Haar scaleFactor (%(default)s)",
    )
    _add(
        parser,
        "min-neighbors",
        type=int,
        default=DETECT.min_neighbors,
        help="Haar minNeighbors (%(default)s)",
    )
    _add(
        parser,
        "min-face",
        type=int,
        default=DETECT.min_face,
        help="smallest face side in px (%(default)s)",
    )
    _add(
        parser,
        "detect-width",
        type=int,
        default=DETECT.detect_width,
        help="shrink frames to this width for face search; 0: full size (%(default)s)",
    )
    _add(
        parser,
        "detect-every",
        type=int,
        default=DETECT.detect_every,
        help="search whole frames every k-th sampled frame (and on track loss), "
        "follow faces between (%(default)s)",
    )
    _add(
        parser,
        "min-track-frames",
        type=int,
        default=DETECT.min_track_frames,
        help="sampled frames a face track needs before its faces count (%(default)s)",
    )
    _add(
        parser,
        "clahe",
        default=None,
        choices=("on", "off"),
        help="contrast-enhance crops (default: the model's own setting)",
    )
    _add(parser, "force", action="store_true", help="re-analyse videos already done")


class AnalyzeOptions(PipelineOptions):
    """Options of `affectflow analyze` (declared by `add_analyze_arguments`)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_analyze_arguments(parser)


def resolve_runner_options(options: PipelineOptions) -> None:
    """Local defaults: FnApiRunner; `--workers N` -> N worker processes, one thread each.

    With N > 1 on the local runner: `--direct_num_workers N` and the runner
    `local_workers.LocalWorkersRunner` (FnApiRunner whose workers log like the CLI).
    Other runners, and Beam's own `--direct_running_mode`, are left as given.
    """
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    workers = options.view_as(AnalyzeOptions).workers
    direct = options.view_as(DirectOptions)
    if workers <= 1 or direct.direct_num_workers > 1:  # Beam's default is 1
        return
    direct.direct_num_workers = workers
    local = str(standard.runner).lower() == DEFAULT_RUNNER.lower()
    if local and direct.direct_running_mode == "in_memory":  # Beam's default
        standard.runner = LOCAL_WORKERS_RUNNER


def stage_settings(
    opts: AnalyzeOptions, spec: ModelSpec, weights_path: str, weights_sha256: str
) -> StageSettings:
    """Each stage's settings from the options and the model (see `schemas.settings`)."""
    one_thread = 1 if opts.workers > 1 else None
    return StageSettings(
        ingest=IngestSettings(default_cohort=opts.cohort, allow_local=opts.allow_local),
        download=DownloadSettings(
            cache_dir=opts.cache_dir,
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
            cache_max_bytes=int(opts.cache_max_gb * GIB) if opts.cache_max_gb is not None else None,
        ),
        detect=DetectSettings(
            fps=opts.fps,
            trim_s=opts.trim_s,
            scale_factor=opts.scale_factor,
            min_neighbors=opts.min_neighbors,
            min_face=opts.min_face,
            detect_width=opts.detect_width,
            detect_every=opts.detect_every,
            min_track_frames=opts.min_track_frames,
            crop_size=spec.input_size,
            crop_margin_px=spec.crop_margin_px,
            clahe=spec.clahe if opts.clahe is None else opts.clahe == "on",
            cv2_threads=one_thread,
            debug_crops_dir=opts.debug_crops,
        ),
        classify=ClassifySettings(
            model=spec.name,
            weights_sha256=weights_sha256,
            weights_path=weights_path,
            batch_size=opts.batch_size,
            device=opts.device,
            torch_threads=one_thread,
            model_copies=opts.model_copies,
        ),
    )
