"""`affectflow report [NAME] --warehouse DIR`: print or write one cohort report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from affectflow.queries.render import FORMATS
    from affectflow.queries.runner import DEFAULT_MIN_VIDEOS

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


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the report printed or written, 2 with a message when it cannot run."""
    import duckdb

    from affectflow.queries.export import write_text
    from affectflow.queries.render import render_report
    from affectflow.queries.runner import connect, list_reports, report_info, run_report

    parser = _parser()
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
