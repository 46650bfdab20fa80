"""The `affectflow` command: analyze, refresh, report, models, train, evaluate, forget."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from affectflow import __version__

EPILOG = """commands:
  analyze LIST --warehouse DIR [options]   run the job on a video list (analyze --help)
  report [NAME] --warehouse DIR            print a cohort report (report --list)
  models list | models fetch NAME          show or download the emotion models
  train DATA --out CKPT [options]          train HybridMicroNet on labelled faces (train --help)
  evaluate DATA | --images DIR [options]   LOSO / k-fold / held-out metrics (evaluate --help)
  refresh --config cohorts.toml            analyse what is new in the cohorts, rebuild reports
  forget VIDEO_KEY --warehouse DIR         delete a video's rows and cached file
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
    from affectflow.warehouse.lock import EX_TEMPFAIL, WarehouseBusy

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
    except WarehouseBusy as error:
        print(f"affectflow analyze: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    print(summary.line())
    return 0


def _report_parser() -> argparse.ArgumentParser:
    from affectflow.queries.runner import DEFAULT_MIN_VIDEOS, FORMATS

    parser = argparse.ArgumentParser(prog="affectflow report")
    parser.add_argument("name", nargs="?", default="cohort_summary", help="report name")
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument("--list", action="store_true", help="list the reports and exit")
    parser.add_argument(
        "--min-videos",
        type=int,
        default=None,
        help=f"mask rows built from fewer distinct videos (default {DEFAULT_MIN_VIDEOS})",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a report parameter (repeatable; see the report's SQL header)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--out", default=None, help="write to this file instead of stdout")
    return parser


def _report(argv: Sequence[str]) -> int:
    import duckdb

    from affectflow.queries.export import render_report, write_text
    from affectflow.queries.runner import (
        connect,
        list_reports,
        report_info,
        run_report,
    )

    parser = _report_parser()
    args = parser.parse_args(argv)
    if args.list:
        for name in list_reports():
            print(f"{name}: {report_info(name).question}")
        return 0
    params: dict[str, object] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"--param takes KEY=VALUE, not {item!r}")
        params[key] = value
    if args.min_videos is not None:
        params["min_videos"] = args.min_videos
    try:
        con = connect(args.warehouse)
        report = run_report(con, args.name, params)
        text = render_report(con, report, args.format)
    except (ValueError, FileNotFoundError, duckdb.Error) as error:
        print(f"affectflow report: {error}", file=sys.stderr)
        return 2
    if args.out is None:
        print(text)
        return 0
    write_text(Path(args.out), text)
    print(f"affectflow report: wrote {args.out}", file=sys.stderr)
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


def _lazy(module: str) -> Callable[[Sequence[str]], int]:
    """A command whose module (and its heavy imports) loads only when it runs."""

    def command(argv: Sequence[str]) -> int:
        return importlib.import_module(module).main(list(argv))

    return command


COMMANDS = {
    "analyze": _analyze,
    "report": _report,
    "models": _models,
    "train": _lazy("affectflow.pipelines.train"),
    "evaluate": _lazy("affectflow.pipelines.evaluate"),
    "refresh": _lazy("affectflow.pipelines.refresh"),
    "forget": _lazy("affectflow.pipelines.forget"),
}


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
