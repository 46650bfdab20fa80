"""The `affectflow` command: analyze, report, models."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from affectflow import __version__

EPILOG = """commands:
  analyze LIST --warehouse DIR [options]   run the job on a video list (analyze --help)
  report [NAME] --warehouse DIR            print a cohort report (report --list)
  models list | models fetch NAME          show or download the emotion models
"""


# Warnings Beam logs on every local run that say nothing about the job.
BEAM_NOISE = (
    "apitools not found",
    "Resource module is not available",
)


def _not_beam_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(BEAM_NOISE)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_beam_noise)
    logging.getLogger("affectflow").setLevel(logging.INFO if verbose else logging.WARNING)
    progress = logging.getLogger("affectflow.progress")
    progress.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[affectflow] %(message)s"))
    progress.addHandler(handler)


def _analyze(argv: Sequence[str]) -> int:
    from affectflow.pipelines.analyze import JobError, run
    from affectflow.pipelines.options import AnalyzeOptions

    if not argv or argv[0] in ("-h", "--help"):
        parser = argparse.ArgumentParser(
            prog="affectflow analyze LIST",
            description="Analyse the videos of a list (CSV, JSONL or TXT) into a warehouse. "
            "Beam options (--runner, --project, ...) pass through.",
        )
        AnalyzeOptions._add_argparse_args(parser)
        parser.print_help()
        return 0 if argv else 2
    try:
        summary = run(list(argv))
    except JobError as error:
        print(f"affectflow analyze: {error}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0


def _report(argv: Sequence[str]) -> int:
    from affectflow.queries.runner import (
        DEFAULT_MIN_VIDEOS,
        connect,
        format_report,
        list_reports,
        run_report,
    )

    parser = argparse.ArgumentParser(prog="affectflow report")
    parser.add_argument("name", nargs="?", default="cohort_summary", help="report name")
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument("--list", action="store_true", help="list the reports and exit")
    parser.add_argument(
        "--min-videos",
        type=int,
        default=DEFAULT_MIN_VIDEOS,
        help="mask cells from fewer distinct videos (default 5)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a report parameter (repeatable)",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(list_reports()))
        return 0
    params: dict[str, object] = {"min_videos": args.min_videos}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"--param takes KEY=VALUE, not {item!r}")
        params[key] = value
    try:
        report = run_report(connect(args.warehouse), args.name, params)
    except (ValueError, FileNotFoundError) as error:
        print(f"affectflow report: {error}", file=sys.stderr)
        return 2
    print(format_report(report, args.format))
    return 0


def _models(argv: Sequence[str]) -> int:
    from affectflow.models.registry import MODEL_SPECS, get_model_spec

    parser = argparse.ArgumentParser(prog="affectflow models")
    parser.add_argument("action", choices=("list", "fetch"))
    parser.add_argument("name", nargs="?", default="fer-minixception")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    if args.action == "list":
        for name, spec in MODEL_SPECS.items():
            print(f"{name}: {len(spec.labels)} classes ({', '.join(spec.labels)})")
        return 0
    try:
        weights = get_model_spec(args.name).fetch_weights(args.cache_dir)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"affectflow models: {error}", file=sys.stderr)
        return 2
    print(f"{args.name}: {weights.path} (sha256 {weights.sha256})")
    return 0


COMMANDS = {"analyze": _analyze, "report": _report, "models": _models}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `affectflow` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        print(f"affectflow {__version__}")
        return 0
    quiet = "--quiet" in argv
    argv = [a for a in argv if a != "--quiet"]
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: affectflow COMMAND ...\n\n{EPILOG}", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    _setup_logging(verbose=not quiet)
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
