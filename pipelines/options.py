"""Every knob of the analyze job, as one Beam PipelineOptions subclass.

Beam's own options (`--runner`, `--direct_num_workers`, Dataflow's `--project`, ...)
pass through unchanged; `resolve_runner_options` fills in the local defaults.
"""

from __future__ import annotations

import argparse
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from affectflow.transforms.detect import DETECT_EVERY, DETECT_WIDTH

DEFAULT_RUNNER = "FnApiRunner"
GIB = 1024**3
QUIET_WORKERS_RUNNER = "affectflow.pipelines.local_workers.WorkerProcessRunner"


def _add(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """Add `--some-name` with `--some_name` as an alias (Beam's spelling)."""
    flags = [f"--{name}"]
    if "-" in name:
        flags.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*flags, dest=name.replace("-", "_"), **kwargs)


class AnalyzeOptions(PipelineOptions):
    """Options of `affectflow analyze`."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        _add(parser, "warehouse", default="out", help="warehouse folder or URI (default: out)")
        _add(parser, "cohort", default=None, help="cohort of rows that name none (.txt lists)")
        _add(parser, "allow-local", action="store_true", help="accept local paths and file://")
        _add(parser, "fps", type=float, default=10.0, help="frames sampled per second (10)")
        _add(parser, "trim-s", type=float, default=0.0, help="seconds trimmed at start and end")
        _add(parser, "model", default="fer-minixception", help="emotion model (registry name)")
        _add(parser, "weights", default=None, help="weights file for models that need one")
        _add(parser, "device", default="cpu", choices=("cpu", "cuda"), help="torch device")
        _add(parser, "batch-size", type=int, default=64, help="faces per inference batch (64)")
        _add(
            parser,
            "model-copies",
            type=int,
            default=None,
            help="model copies per worker machine (GPU runners: usually 1)",
        )
        _add(parser, "workers", type=int, default=1, help="local worker processes (1)")
        _add(parser, "cache-dir", default=None, help="model and video cache (~/.cache/affectflow)")
        _add(parser, "max-duration", type=float, default=3600.0, help="longest video in s (3600)")
        _add(parser, "max-filesize", type=int, default=2 * GIB, help="largest download in bytes")
        _add(parser, "max-height", type=int, default=480, help="highest video format (480)")
        _add(parser, "socket-timeout", type=float, default=20.0, help="network timeout in s (20)")
        _add(parser, "retries", type=int, default=3, help="retries of retryable download errors")
        _add(parser, "backoff-s", type=float, default=2.0, help="first retry delay, doubling (2)")
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
        _add(parser, "scale-factor", type=float, default=1.1, help="Haar scaleFactor (1.1)")
        _add(parser, "min-neighbors", type=int, default=5, help="Haar minNeighbors (5)")
        _add(parser, "min-face", type=int, default=50, help="smallest face side in px (50)")
        _add(
            parser,
            "detect-width",
            type=int,
            default=DETECT_WIDTH,
            help=f"shrink frames to this width for face search; 0: full size ({DETECT_WIDTH})",
        )
        _add(
            parser,
            "detect-every",
            type=int,
            default=DETECT_EVERY,
            help="search whole frames every k-th sampled frame (and on track loss), "
            f"follow faces between ({DETECT_EVERY})",
        )
        _add(
            parser,
            "min-track-frames",
            type=int,
            default=3,
            help="sampled frames a face track needs before its faces count (3)",
        )
        _add(
            parser,
            "clahe",
            default=None,
            choices=("on", "off"),
            help="contrast-enhance crops (default: the model's own setting)",
        )
        _add(parser, "force", action="store_true", help="re-analyse videos already done")


def resolve_runner_options(options: PipelineOptions) -> None:
    """Local defaults: FnApiRunner; `--workers N` -> N quiet processes, one thread each.

    With N > 1 and the local runner, the runner is `local_workers.WorkerProcessRunner`:
    Beam's FnApiRunner in multi_processing mode whose workers start quietly.
    """
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    workers = options.view_as(AnalyzeOptions).workers
    direct = options.view_as(DirectOptions)
    if workers > 1 and direct.direct_num_workers <= 1:  # Beam's default is 1
        direct.direct_num_workers = workers
        direct.direct_running_mode = "multi_processing"
    local = str(standard.runner).lower() == DEFAULT_RUNNER.lower()
    if local and direct.direct_running_mode == "multi_processing":
        standard.runner = QUIET_WORKERS_RUNNER
