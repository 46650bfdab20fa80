"""`affectflow analyze LIST ...`: the command around `pipelines.analyze.run`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from affectflow.pipelines.command_parser import CommandParser
from affectflow.pipelines.logs import phase
from affectflow.pipelines.options import add_analyze_arguments
from affectflow.pipelines.preflight import JobError, preflight
from affectflow.schemas.printable import printable

if TYPE_CHECKING:
    from affectflow.pipelines.summary import RunSummary

HELP_EPILOG = """\
The list: CSV or JSONL with a url (or video_id) column and a cohort column (any other
columns are kept as attributes), or TXT with one URL per line and --cohort NAME.
Beam's own options (--runner, --project, --region, ...) pass through to Beam.

example:
  affectflow analyze videos.csv --warehouse out --fps 5 --workers 2
  affectflow report --warehouse out
"""


def help_parser() -> argparse.ArgumentParser:
    """The parser `analyze --help` prints: the list, then the options by group."""
    parser = CommandParser(
        prog="affectflow analyze",
        usage="affectflow analyze LIST [--warehouse DIR] [options]",
        description="Analyse the videos of a list into a warehouse (Parquet tables).",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video_list", metavar="LIST", help="video list: .csv, .jsonl or .txt")
    add_analyze_arguments(parser)
    return parser


def _run(argv: list[str]) -> RunSummary:
    """The job itself, once its preflight passed (Beam and torch load here)."""
    phase("checked the options and the list; loading Beam, the model and its weights")
    from affectflow.pipelines.analyze import run

    return run(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """`affectflow analyze LIST ...`: exit 0 when the job ran (even if every video failed),
    2 with a message when it cannot run, 75 when another job holds the warehouse's lock."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return 0 if argv else 2
    try:
        preflight(argv)  # options, list, warehouse: a mistake is told before Beam loads
        summary = _run(argv)
    except JobError as error:
        print(printable(f"affectflow analyze: {error}"), file=sys.stderr)
        return 2
    except Exception as error:  # the job failed; say what to fix, no traceback
        from affectflow.pipelines.failures import failed_exit

        return failed_exit("analyze", error)
    print("\n".join([summary.line(), *summary.error_lines()]))
    return 0
