"""The `affectflow` command: analyze, refresh, report, sql, models, prepare, train, evaluate,
validate, forget."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from affectflow import __version__
from affectflow.pipelines.logs import setup_logging

EPILOG = """commands:
  analyze LIST --warehouse DIR [options]   run the job on a video list (analyze --help)
  report [NAME] --warehouse DIR            print a cohort report (report --list)
  sql --warehouse DIR [-c SQL]             DuckDB with the views loaded (--print-setup)
  models list | models fetch NAME          show or download the emotion models
  prepare SPLIT.csv... --out DIR           crop labelled images as analyze does (cached)
  train DATA --out CKPT [options]          train HybridMicroNet on labelled faces (train --help)
  train --crops NPZ... --out W.pt          train the default model on prepared crops
  evaluate DATA [options]                  LOSO / k-fold / held-out metrics (evaluate --help)
  validate LABELLED --warehouse DIR        the whole instrument on labelled faces (validate --help)
  refresh --config cohorts.toml            analyse what is new in the cohorts, rebuild reports
  forget VIDEO --warehouse DIR             delete a video's rows and cached file (key or URL)
"""


SIGPIPE_EXIT = 141  # a shell's status of a command killed by SIGPIPE
SIGINT_EXIT = 130  # ... and by SIGINT (Ctrl-C)
DUCKDB_INTERRUPTED = "Query interrupted"
# Each command is a module with `main(argv) -> int`, imported only when it runs (heavy imports).
COMMANDS = {
    "analyze": "affectflow.pipelines.analyze_cli",
    "report": "affectflow.pipelines.report",
    "sql": "affectflow.pipelines.sql",
    "models": "affectflow.pipelines.models",
    "prepare": "affectflow.pipelines.prepare",
    "train": "affectflow.pipelines.train",
    "evaluate": "affectflow.pipelines.evaluate",
    "validate": "affectflow.pipelines.validate",
    "refresh": "affectflow.pipelines.refresh_cli",
    "forget": "affectflow.pipelines.forget",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `affectflow` console script."""
    try:
        code = _dispatch(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a reader that left shows here, not in Python's flush at exit
        return code
    except BrokenPipeError:  # `affectflow report ... | head`: the reader has what it wanted
        return _reader_gone()
    except KeyboardInterrupt:  # Ctrl-C (analyze commits what is finished before this)
        return _interrupted()
    except RuntimeError as error:  # what DuckDB makes of a Ctrl-C during a query
        if str(error) != DUCKDB_INTERRUPTED:
            raise
        return _interrupted()


def _interrupted() -> int:
    print("affectflow: interrupted", file=sys.stderr)
    return SIGINT_EXIT


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "--version":
        print(f"affectflow {__version__}")
        return 0
    quiet = "--quiet" in argv
    argv = [a for a in argv if a != "--quiet"]
    if not argv or argv[0] not in COMMANDS:
        asked = argv[:1] in (["-h"], ["--help"])
        unknown = f"affectflow: unknown command {argv[0]!r}\n" if argv and not asked else ""
        print(
            f"{unknown}usage: affectflow COMMAND ...\n\n{EPILOG}",
            file=sys.stdout if asked else sys.stderr,
        )
        return 0 if asked else 2
    setup_logging(verbose=not quiet)
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


def _reader_gone() -> int:
    """Exit as a tool killed by SIGPIPE would (128 + 13), with no traceback: what is left
    to print goes nowhere (Python's own flush of stdout at exit would raise again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return SIGPIPE_EXIT


if __name__ == "__main__":
    sys.exit(main())
