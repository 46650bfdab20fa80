"""Every knob of the analyze job, as one Beam PipelineOptions subclass.

Beam's own options (`--runner`, `--direct_num_workers`, Dataflow's `--project`, ...)
pass through unchanged; `resolve_runner_options` fills in the local defaults.
`stage_settings.py` turns the options into each stage's settings (`schemas.settings`),
whose defaults are the flags' defaults. Each flag checks its own value (range, choice,
path: `option_types.py`) when parsed; `check_beam_args` rejects what neither affectflow
nor Beam knows.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from affectflow.models.registry import MODEL_SPECS
from affectflow.pipelines.option_types import OptionError, folder, names, number, umask
from affectflow.schemas.settings import (
    DETECTORS,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    UnitSettings,
)

DEFAULT_RUNNER = "FnApiRunner"
DETECT = DetectSettings()
DOWNLOAD = DownloadSettings()
CLASSIFY = ClassifySettings()
UNITS = UnitSettings()
LOCAL_RUNNERS = ("fnapirunner", "directrunner", "localworkersrunner", "bundlebasedirectrunner")
LOCAL_WORKERS_RUNNER = "affectflow.pipelines.local_workers.LocalWorkersRunner"
DEFAULT_UMASK = 0o077
# What `runs.config` records: an allow-list, so that no secret option of Beam or of a
# runner (--s3_secret_access_key, --azure_connection_string, ...) is ever stored.
RECORDED_BEAM_OPTIONS = ("runner", "direct_num_workers", "direct_running_mode")
PRIVATE_OPTIONS = frozenset({"channel_salt"})


POSITIVE, NON_NEGATIVE = number(float, 0, above=True), number(float, 0)
COUNT, AT_LEAST_ONE = number(int, 0), number(int, 1)

# (group title, [(flag, argparse keywords), ...]): `analyze --help` shows them in this order.
Spec = list[tuple[str, dict[str, Any]]]
BASICS: Spec = [
    ("warehouse", dict(default="out", type=folder, metavar="DIR",
                       help="warehouse folder or URI, new or existing (default: %(default)s)")),
    ("cohort", dict(metavar="NAME", help="cohort of the rows that name none (.txt lists)")),
    ("allow-local", dict(action="store_true", help="accept local paths and file:// URLs")),
    ("model", dict(default=CLASSIFY.model, choices=tuple(MODEL_SPECS),
                   help="emotion model (default: %(default)s)")),
    ("weights", dict(metavar="FILE", help="weights file, for models that need one")),
    ("fps", dict(type=POSITIVE, default=DETECT.fps, metavar="N",
                 help="frames sampled per second (default: %(default)s)")),
    ("workers", dict(type=AT_LEAST_ONE, default=1, metavar="N",
                     help="local worker processes (default: %(default)s)")),
    ("force", dict(action="store_true", help="re-analyse videos already done")),
]  # fmt: skip
DETECTION: Spec = [
    ("trim-s", dict(type=NON_NEGATIVE, default=DETECT.trim_s, metavar="S",
                    help="seconds dropped at the start and the end (default: %(default)s)")),
    ("detector", dict(default=DETECT.detector, choices=DETECTORS,
                      help="face detector; every box is then checked by MTCNN's ONet "
                      "(default: %(default)s)")),
    ("scale-factor", dict(type=number(float, 1, above=True), default=DETECT.scale_factor,
                          metavar="X", help="Haar scaleFactor (default: %(default)s)")),
    ("min-neighbors", dict(type=COUNT, default=DETECT.min_neighbors, metavar="N",
                           help="Haar minNeighbors (default: %(default)s)")),
    ("min-face", dict(type=AT_LEAST_ONE, default=DETECT.min_face, metavar="PX",
                      help="smallest face side in px (default: %(default)s)")),
    ("detect-width", dict(type=COUNT, default=DETECT.detect_width, metavar="PX",
                          help="shrink frames to this width to search faces; 0: full size "
                          "(default: %(default)s)")),
    ("detect-every", dict(type=AT_LEAST_ONE, default=DETECT.detect_every, metavar="K",
                          help="search whole frames every k-th sampled frame (and when a track "
                          "is lost), follow faces in between (default: %(default)s)")),
    ("min-track-frames", dict(type=AT_LEAST_ONE, default=DETECT.min_track_frames, metavar="N",
                              help="sampled frames a face track needs to count "
                              "(default: %(default)s)")),
    ("min-face-score", dict(type=number(float, 0), default=DETECT.min_face_score, metavar="P",
                            help="ONet P(face) a box needs to count as a face "
                            "(default: %(default)s)")),
    ("min-face-quality", dict(type=number(float, 0), default=DETECT.min_face_quality,
                              metavar="Q", help="drop faces whose quality (0-1: the weakest "
                              "of P(face), size, sharpness) is below Q (default: %(default)s)")),
    ("align", dict(default="on" if DETECT.align else "off", choices=("on", "off"),
                   help="rotate and scale crops on the face's landmarks, eyes level "
                   "(default: %(default)s)")),
    ("detect-batch", dict(type=AT_LEAST_ONE, default=DETECT.detect_batch, metavar="N",
                          help="frames per batched MTCNN whole-frame search (GPU runners: "
                          "16-64; default: %(default)s)")),
    ("clahe", dict(choices=("on", "off"),
                   help="contrast-enhance face crops (default: the model's setting)")),
]  # fmt: skip
LABELS: Spec = [
    ("flip-average", dict(choices=("on", "off"), default="on" if CLASSIFY.flip_average else "off",
                          help="average each face's class probabilities with its mirror "
                          "image's (default: %(default)s)")),
    ("smooth-s", dict(type=NON_NEGATIVE, default=CLASSIFY.smooth_s, metavar="S",
                      help="smoothed labels: mean probabilities of a track's face-frames "
                      "within +-S/2 seconds; 0: off (default: %(default)s)")),
]  # fmt: skip
DOWNLOAD_OPTIONS: Spec = [
    ("max-duration", dict(type=POSITIVE, default=DOWNLOAD.max_duration_s, metavar="S",
                          help="longest video in seconds (default: %(default)s)")),
    ("max-filesize", dict(type=AT_LEAST_ONE, default=DOWNLOAD.max_filesize_bytes,
                          metavar="BYTES", help="largest download (default: %(default)s)")),
    ("max-height", dict(type=AT_LEAST_ONE, default=DOWNLOAD.max_height, metavar="PX",
                        help="highest video format downloaded (default: %(default)s)")),
    ("sites", dict(type=names, metavar="NAMES",
                   help="comma-separated yt-dlp extractors to accept (default: all)")),
    ("socket-timeout", dict(type=POSITIVE, default=DOWNLOAD.socket_timeout_s, metavar="S",
                            help="network timeout in seconds (default: %(default)s)")),
    ("retries", dict(type=COUNT, default=DOWNLOAD.retries, metavar="N",
                     help="retries of retryable download errors (default: %(default)s)")),
    ("backoff-s", dict(type=NON_NEGATIVE, default=DOWNLOAD.backoff_s, metavar="S",
                       help="first retry delay, doubling (default: %(default)s)")),
    ("download-timeout", dict(type=POSITIVE, default=DOWNLOAD.download_timeout_s, metavar="S",
                              help="longest time one video's fetch may take, in seconds "
                              "(default: %(default)s)")),
    ("min-rate", dict(type=NON_NEGATIVE, default=DOWNLOAD.min_rate_bytes, metavar="BYTES",
                      help="slowest download accepted once it has streamed for 30 s, bytes/s; "
                      "0: any (default: %(default)s)")),
    ("downloads", dict(type=AT_LEAST_ONE, default=DOWNLOAD.concurrent_downloads, metavar="N",
                       help="downloads at the same time per worker (default: %(default)s)")),
    ("allow-private-addresses", dict(action="store_true",
                                     help="follow redirects and page links to loopback, "
                                     "private and link-local hosts")),
    ("cache-dir", dict(type=folder, metavar="DIR",
                       help="model and video cache (default: ~/.cache/affectflow)")),
    ("keep-videos", dict(action="store_true", help="keep downloaded videos in the cache")),
    ("cache-max-gb", dict(type=POSITIVE, metavar="GB",
                          help="size cap of the video cache (default: none)")),
]  # fmt: skip
PRIVACY: Spec = [
    ("keep-title", dict(action="store_true", help="store video titles (off: privacy)")),
    ("channel-salt", dict(default=os.environ.get("AFFECTFLOW_CHANNEL_SALT"), metavar="KEY",
                          help="key for hashing channel ids (default: env "
                          "AFFECTFLOW_CHANNEL_SALT; none: channel ids not stored)")),
    ("umask", dict(type=umask, default=DEFAULT_UMASK, metavar="MASK",
                   help="octal mask of what the job creates (default: 077, owner only; "
                   "027: the group may read)")),
    ("debug-crops", dict(type=folder, metavar="DIR",
                         help="write every face crop to DIR (debugging only: personal data)")),
]  # fmt: skip
RUNNER: Spec = [
    ("device", dict(default=CLASSIFY.device, choices=("cpu", "cuda"),
                    help="torch device (default: %(default)s)")),
    ("batch-size", dict(type=AT_LEAST_ONE, default=CLASSIFY.batch_size, metavar="N",
                        help="faces per inference batch (default: %(default)s)")),
    ("batch-across-videos", dict(action="store_true",
                                 help="fill inference batches across videos (off: a batch "
                                 "holds one video's faces, so each video finishes at once)")),
    ("model-copies", dict(type=AT_LEAST_ONE, metavar="N",
                          help="model copies per worker machine (default: Beam's)")),
    ("unit-videos", dict(type=AT_LEAST_ONE, default=UNITS.max_videos, metavar="N",
                         help="commit finished videos in units of N (default: %(default)s)...")),
    ("unit-seconds", dict(type=NON_NEGATIVE, default=UNITS.max_seconds, metavar="S",
                          help="...or once the oldest has waited S s (default: %(default)s)")),
]  # fmt: skip
GROUPS = (
    ("basics", BASICS),
    ("face detection", DETECTION),
    ("labels", LABELS),
    ("download and cache", DOWNLOAD_OPTIONS),
    ("privacy", PRIVACY),
    ("runner (Beam's own options, --runner, --project, ..., pass through)", RUNNER),
)


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `affectflow analyze` to `parser` (help, refresh config, Beam).

    Each is `--some-name`, with Beam's spelling `--some_name` as a hidden alias.
    """
    for title, spec in GROUPS:
        group = parser.add_argument_group(title)
        for name, keywords in spec:
            dest = name.replace("-", "_")
            group.add_argument(f"--{name}", dest=dest, **keywords)
            if dest != name:
                group.add_argument(
                    f"--{dest}", dest=dest, **{**keywords, "help": argparse.SUPPRESS}
                )


def analyze_option_names() -> dict[str, str]:
    """Each analyze option's flag (`--trim-s`) by its name (`trim_s`)."""
    return {name.replace("-", "_"): f"--{name}" for _, spec in GROUPS for name, _ in spec}


def beam_option_names() -> set[str]:
    """The names of Beam's own options (and of every other PipelineOptions subclass)."""
    return set(PipelineOptions([]).get_all_options()) - set(analyze_option_names())


def _suggest(flag: str) -> str:
    known = [*analyze_option_names().values(), *(f"--{n}" for n in beam_option_names())]
    close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def check_beam_args(args: Sequence[str]) -> None:
    """Reject what is left after the analyze options that Beam does not know either.

    Raises OptionError naming the first unknown option (with a close match) or a stray
    argument.
    """
    parsed = _beam_parse(args)
    known = set(PipelineOptions([]).get_all_options())
    unknown = {name.split("=", 1)[0] for name in parsed} - known
    for index, arg in enumerate(args):
        name = arg.split("=", 1)[0]
        if arg.startswith("-") and (name.lstrip("-") in unknown or not arg.startswith("--")):
            raise OptionError(f"unknown option {name}{_suggest(name)}")
        previous = args[index - 1] if index else ""
        if not arg.startswith("-") and not (previous.startswith("--") and "=" not in previous):
            raise OptionError(f"unexpected argument {arg!r}")


def _beam_parse(args: Sequence[str]) -> dict[str, Any]:
    """Beam's reading of `args`; a value Beam rejects is an OptionError, not Beam's usage."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            return PipelineOptions(list(args)).get_all_options(retain_unknown_options=True)
    except SystemExit:
        message = printed.getvalue().strip().splitlines()[-1:] or ["invalid Beam option"]
        raise OptionError(message[0].split("error: ", 1)[-1]) from None


def option_args(
    values: Mapping[str, Any],
    *,
    analyze: bool = True,
    beam: bool = True,
    exclude: Sequence[str] = (),
) -> list[str]:
    """Command-line flags for options given by name (`{"fps": 5, "keep_title": True}`).

    Names are analyze options and/or Beam's (`-` or `_`); true on/off options become a
    bare flag, false ones nothing, lists repeat. Raises OptionError for an unknown name
    or a value of the wrong kind.
    """
    defaults = vars(_defaults_parser().parse_args([]))
    names = [*(defaults if analyze else ()), *(sorted(beam_option_names()) if beam else ())]
    known = [n for n in names if n not in exclude]
    args: list[str] = []
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise OptionError(
                f"unknown option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        switch = isinstance(defaults.get(name), bool)
        if isinstance(value, bool) != switch and name in defaults:
            raise OptionError(
                f"{key}: expected {'true or false' if switch else 'a value'}, got {value!r}"
            )
        args += _flag_args(name, value)
    return args


def _flag_args(name: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [f"--{name}"] if value else []
    if isinstance(value, list | tuple):
        return [arg for item in value for arg in _flag_args(name, item)]
    if isinstance(value, dict):
        raise OptionError(f"{name}: expected a value, not a table")
    return [f"--{name}={value}"]


class _RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise OptionError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionError(message)


def _defaults_parser() -> argparse.ArgumentParser:
    parser = _RaisingParser(add_help=False, allow_abbrev=False)
    add_analyze_arguments(parser)
    return parser


def parse_analyze_args(
    argv: Sequence[str], with_list: bool
) -> tuple[argparse.Namespace, list[str]]:
    """Check every analyze option's value (and the list's place); returns them and Beam's args.

    Raises OptionError with the message of the first bad option.
    """
    parser = _RaisingParser(prog="affectflow analyze", add_help=False, allow_abbrev=False)
    if with_list:
        parser.add_argument("video_list")
    add_analyze_arguments(parser)
    known, rest = parser.parse_known_args(list(argv))
    check_beam_args(rest)
    return known, rest


def recorded_options(options: PipelineOptions) -> dict[str, object]:
    """The options `runs.config` stores: affectflow's own (but private ones) and a few of
    Beam's (`RECORDED_BEAM_OPTIONS`); nothing else, whatever was passed."""
    names = [n for n in analyze_option_names() if n not in PRIVATE_OPTIONS]
    given = options.get_all_options()
    return {name: given.get(name) for name in (*names, *RECORDED_BEAM_OPTIONS)}


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


def is_local_runner(options: PipelineOptions) -> bool:
    """Whether the job runs on this machine (so the device is this machine's)."""
    runner = options.view_as(StandardOptions).runner or DEFAULT_RUNNER
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1].lower() in LOCAL_RUNNERS
