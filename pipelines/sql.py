"""`affectflow sql`: DuckDB over a warehouse with every view and macro of the reports.

`affectflow sql --warehouse out` opens a shell (the `duckdb` CLI when it is installed,
else a small one here); `-c SQL` or a file runs SQL and prints the result of each query in it;
`--print-setup` prints the SQL that loads the same views in any DuckDB client.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

FORMATS = ("table", "csv", "json")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectflow sql",
        description="DuckDB over a warehouse with the views of the reports loaded "
        "(latest_videos, videos, faces, errors, runs, persons, video_affect, label_valence; "
        "macros videos_with_faces, bootstrap_shares).",
        epilog="examples:\n  affectflow sql --warehouse out\n"
        '  affectflow sql --warehouse out -c "select cohort, count(*) from latest_videos '
        'group by all"\n  affectflow sql --warehouse out --print-setup > setup.sql   '
        "# then: duckdb -init setup.sql",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", nargs="?", help="a file of SQL to run")
    parser.add_argument("-c", "--command", metavar="SQL", help="SQL to run")
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument(
        "--print-setup", action="store_true", help="print the SQL that loads the views, and exit"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="(default: table)")
    return parser


def _print_result(con, sql: str, fmt: str) -> None:
    from affectflow.queries.render import render_report
    from affectflow.queries.runner import query

    results = query(con, sql)
    for index, result in enumerate(results):
        print(("\n" * bool(index)) + render_report(con, result, fmt).rstrip("\n"))


def _builtin_shell(con, fmt: str) -> None:
    """Read statements (ending with `;`) from stdin and print each result; Ctrl-D quits."""
    import duckdb

    print("affectflow sql: end a statement with ';', Ctrl-D to quit", file=sys.stderr)
    buffer: list[str] = []
    while True:
        try:
            line = input("· " if buffer else "D ")
        except EOFError:
            break
        except KeyboardInterrupt:
            buffer = []
            continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            try:
                _print_result(con, "\n".join(buffer), fmt)
            except duckdb.Error as error:
                print(f"error: {error}", file=sys.stderr)
            buffer = []


def _duckdb_cli(binary: str, setup: str) -> int:
    """The `duckdb` shell with the setup run first (`-init`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(setup)
    try:
        return subprocess.call([binary, "-init", handle.name])
    finally:
        os.unlink(handle.name)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the SQL ran (or the shell ended), 2 with a message when it could not."""
    import duckdb

    from affectflow.queries.runner import connect, setup_sql
    from affectflow.warehouse.sql import WarehouseError, check_warehouse

    args = _parser().parse_args(argv)
    try:
        if args.print_setup:
            check_warehouse(args.warehouse)
            print(setup_sql(args.warehouse))
            return 0
        con = connect(args.warehouse)
        if args.command is not None or args.file is not None:
            sql = args.command if args.command is not None else Path(args.file).read_text()
            _print_result(con, sql, args.format)
            return 0
        binary = shutil.which("duckdb")
        if binary and sys.stdin.isatty():
            return _duckdb_cli(binary, setup_sql(args.warehouse))
        _builtin_shell(con, args.format)
    except (WarehouseError, duckdb.Error, OSError) as error:
        print(f"affectflow sql: {error}", file=sys.stderr)
        return 2
    return 0
