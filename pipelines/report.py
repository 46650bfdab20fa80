"""`affectflow report [NAME] --warehouse DIR`: print or write one cohort report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from affectflow.pipelines.command_parser import CommandParser

EXAMPLES = """\
examples:
  affectflow report --warehouse out                      # cohort_summary in the terminal
  affectflow report negative_share --warehouse out --param n_boot=2000 --param seed=7
  affectflow report data_quality --warehouse out --wide  # every column, one row per block
  affectflow report paper_figure5 --warehouse out --format html --out figure5.html
  affectflow report video_summary --warehouse out --min-videos 1 --format parquet --out v.parquet
"""


def _parser() -> argparse.ArgumentParser:
    from affectflow.queries.render import FORMATS
    from affectflow.queries.runner import DEFAULT_MIN_VIDEOS, list_reports

    parser = CommandParser(
        prog="affectflow report",
        description="Run one of the shipped cohort reports (SQL over the warehouse) and print "
        "it, or write it with --out. Rows built from fewer than --min-videos distinct videos "
        "are masked (small-cell suppression). The reports (--list: each one's question and "
        f"parameters): {', '.join(list_reports())}.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "name", nargs="?", default="cohort_summary", help="report name (default: %(default)s)"
    )
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument(
        "--list", action="store_true", help="list the reports with their parameters and exit"
    )
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
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (rounded, 100 columns wide), csv, json, parquet (every digit; parquet "
        "needs --out) or html (tables and plots) (default: %(default)s)",
    )
    parser.add_argument(
        "--wide", action="store_true", help="table: every column, one row per block"
    )
    parser.add_argument(
        "--raw-csv",
        action="store_true",
        help="CSV cells as they are: without it a cell starting with = + - @, a tab or a "
        "carriage return gets a leading ' (a spreadsheet would run it as a formula)",
    )
    parser.add_argument(
        "--out", default=None, help="write to this file (owner-only, 0600) instead of stdout"
    )
    return parser


def report_list() -> str:
    """Each report with its question, then its parameters with their defaults."""
    from affectflow.queries.runner import PARAMETERS, list_reports, report_info

    lines = []
    for name in list_reports():
        info = report_info(name)
        lines.append(f"{name}: {info.question}")
        for param in info.parameters:
            spec = PARAMETERS[param]
            bounds = [] if spec.default is None else [f"default: {spec.default}"]
            bounds += [] if spec.maximum is None else [f"at most {spec.maximum:,}"]
            default = f" ({', '.join(bounds)})" if bounds else ""
            lines.append(f"    {param:<12} {spec.help}{default}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the report printed or written, 2 with a message when it cannot run."""
    import duckdb

    from affectflow.queries.export import rendered, write_text
    from affectflow.queries.render import render_report
    from affectflow.queries.runner import connect, run_report
    from affectflow.schemas.printable import printable, to_terminal

    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        print(report_list())
        return 0
    params: dict[str, object] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"--param takes KEY=VALUE, not {item!r}")
        params[key] = value
    if args.min_videos is not None:
        params["min_videos"] = args.min_videos
    if args.format == "parquet" and args.out is None:
        parser.error("--format parquet writes a file: add --out FILE.parquet")
    try:
        con = connect(args.warehouse)
        report = run_report(con, args.name, params)
        if args.format == "table":
            text = render_report(con, report, "table", wide=args.wide)
        else:
            text = rendered(con, report, args.format, raw_csv=args.raw_csv)
    except (ValueError, FileNotFoundError, duckdb.Error) as error:
        print(printable(f"affectflow report: {error}", newlines=True), file=sys.stderr)
        return 2
    if args.out is None:
        print(to_terminal(str(text).rstrip("\n")))
        return 0
    try:
        write_text(Path(args.out), text)
    except IsADirectoryError:
        print(
            printable(f"affectflow report: --out {args.out} is a folder: give a file name"),
            file=sys.stderr,
        )
        return 2
    except OSError as error:
        print(
            printable(f"affectflow report: cannot write --out {args.out}: {error.strerror}"),
            file=sys.stderr,
        )
        return 2
    print(printable(f"affectflow report: wrote {args.out}"), file=sys.stderr)
    return 0
