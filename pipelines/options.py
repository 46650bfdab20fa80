"""Every knob of the analyze job, as one Beam PipelineOptions subclass.

Beam's own options (`--runner`, `--direct_num_workers`, Dataflow's `--project`, ...)
pass through unchanged; `resolve_runner_options` fills in the local defaults.
`stage_settings.py` turns the options into each stage's settings (`schemas.settings`),
whose defaults are the flags' defaults (`option_flags.py`: every flag, in the groups
`analyze --help` shows). Each flag checks its own value (range, choice,
path: `option_types.py`) when parsed; `check_beam_args` rejects what neither affectflow
nor Beam knows, flags without a value included.

Beam is imported only where Beam is needed (its own options, `AnalyzeOptions`): parsing
affectflow's options, `--help` and a mistake's message never wait for it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from affectflow.models.cache import default_cache_dir
from affectflow.pipelines.option_flags import GROUPS
from affectflow.pipelines.option_types import OptionError

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_RUNNER = "FnApiRunner"
LOCAL_RUNNERS = ("fnapirunner", "directrunner", "localworkersrunner", "bundlebasedirectrunner")
LOCAL_WORKERS_RUNNER = "affectflow.pipelines.local_workers.LocalWorkersRunner"
# What `runs.config` records: an allow-list, so that no secret option of Beam or of a
# runner (--s3_secret_access_key, --azure_connection_string, ...) is ever stored.
RECORDED_BEAM_OPTIONS = ("runner", "direct_num_workers", "direct_running_mode")
PRIVATE_OPTIONS = frozenset({"channel_salt"})


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
    from apache_beam.options.pipeline_options import PipelineOptions

    return set(PipelineOptions([]).get_all_options()) - set(analyze_option_names())


def suggest(flag: str, beam_flags: Mapping[str, str] | None = None) -> str:
    """` (did you mean --x?)` for the known flag closest to `flag`, or nothing."""
    beam = list(beam_flags) if beam_flags is not None else [f"--{n}" for n in beam_option_names()]
    known = [*analyze_option_names().values(), *beam]
    close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def check_beam_args(args: Sequence[str]) -> None:
    """Reject what is left after the analyze options that Beam does not know either.

    Beam's own parser reads `args` (every PipelineOptions subclass's flags, as Beam does):
    whatever it leaves over is a mistake, a flag without a value included (Beam itself
    would drop `--keep-video` with a log line and run). Raises OptionError naming the
    first unknown option (with a close match) or a stray argument.
    """
    if not args:
        return
    for arg in _beam_leftover(args):
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            raise OptionError(f"unknown option {name}{suggest(name)}")
        raise OptionError(f"unexpected argument {arg!r}")


def beam_parser() -> argparse.ArgumentParser:
    """Beam's own argument parser, with every PipelineOptions subclass's flags (through
    `get_all_options`'s public `add_extra_args_fn` hook)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers: list[argparse.ArgumentParser] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    return parsers[0]


def _beam_leftover(args: Sequence[str]) -> list[str]:
    """What Beam's parser does not know in `args`; a value Beam rejects is an OptionError."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            _, leftover = beam_parser().parse_known_args(list(args))
    except SystemExit:
        message = printed.getvalue().strip().splitlines()[-1:] or ["invalid Beam option"]
        raise OptionError(message[0].split("error: ", 1)[-1]) from None
    return leftover


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
    argv: Sequence[str], with_list: bool, *, check_beam: bool = True
) -> tuple[argparse.Namespace, list[str]]:
    """Check every analyze option's value (and the list's place); returns them and Beam's args.

    Raises OptionError with the message of the first bad option. Beam's args are checked
    too unless `check_beam` is false (the caller then calls `check_beam_args` itself).
    """
    parser = _RaisingParser(prog="affectflow analyze", add_help=False, allow_abbrev=False)
    if with_list:
        parser.add_argument("video_list")
    add_analyze_arguments(parser)
    known, rest = parser.parse_known_args(list(argv))
    if check_beam:
        check_beam_args(rest)
    return known, rest


def recorded_options(options: PipelineOptions) -> dict[str, object]:
    """The options `runs.config` stores: affectflow's own (but private ones) and a few of
    Beam's (`RECORDED_BEAM_OPTIONS`); nothing else, whatever was passed."""
    names = [n for n in analyze_option_names() if n not in PRIVATE_OPTIONS]
    given = options.get_all_options()
    return {name: given.get(name) for name in (*names, *RECORDED_BEAM_OPTIONS)}


@functools.cache
def _analyze_options_class() -> type:
    from apache_beam.options.pipeline_options import PipelineOptions

    class AnalyzeOptions(PipelineOptions):
        """Options of `affectflow analyze` (declared by `add_analyze_arguments`)."""

        @classmethod
        def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
            add_analyze_arguments(parser)

    AnalyzeOptions.__module__, AnalyzeOptions.__qualname__ = __name__, "AnalyzeOptions"
    return AnalyzeOptions


def __getattr__(name: str) -> Any:
    """`AnalyzeOptions`, the PipelineOptions subclass, defined when first asked for (it
    imports Beam)."""
    if name == "AnalyzeOptions":
        return _analyze_options_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_runner_options(options: PipelineOptions) -> None:
    """Local defaults: FnApiRunner; `--workers N` -> N worker processes, one thread each.

    With N > 1 on the local runner: `--direct_num_workers N` and the runner
    `local_workers.LocalWorkersRunner` (FnApiRunner whose workers log like the CLI).
    Other runners, and Beam's own `--direct_running_mode`, are left as given.
    """
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    workers = options.view_as(_analyze_options_class()).workers
    direct = options.view_as(DirectOptions)
    if workers <= 1 or direct.direct_num_workers > 1:  # Beam's default is 1
        return
    direct.direct_num_workers = workers
    local = str(standard.runner).lower() == DEFAULT_RUNNER.lower()
    if local and direct.direct_running_mode == "in_memory":  # Beam's default
        standard.runner = LOCAL_WORKERS_RUNNER


def is_local_runner(options: PipelineOptions) -> bool:
    """Whether the job runs on this machine (so the device is this machine's)."""
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner or DEFAULT_RUNNER
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1].lower() in LOCAL_RUNNERS


def launcher_cache_dir(options: PipelineOptions) -> str:
    """The cache of the machine that starts the job (its weights, its locks).

    On a local runner `--cache-dir` is this machine's, as the workers are. On a remote
    runner it names the workers' folder (downloaded videos; their default: their own
    `$AFFECTFLOW_CACHE_DIR`), so the launcher keeps its default cache and never writes
    where the workers would (`--cache-dir /opt/affectflow-cache` creates nothing here).
    """
    cache_dir = options.view_as(_analyze_options_class()).cache_dir
    if cache_dir and is_local_runner(options):
        return cache_dir
    return str(default_cache_dir())
