"""`affectflow sql`: DuckDB over a warehouse with every view and macro of the reports.

`affectflow sql --warehouse out` opens a shell; `-c SQL` or a file runs SQL and prints the
result of each query in it; `--print-setup` prints the SQL that loads the same views in any
DuckDB client. The session is read-only: it reads the warehouse's files and no others,
cannot change DuckDB's settings, and refuses COPY, EXPORT, ATTACH, LOAD/INSTALL
(`warehouse.sql.lock_down`, `check_read_only`); the shell is a small one here. With
`--writable` none of that, and the shell is the `duckdb` CLI when it is installed. What
it writes is owner-only.
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

from affectflow.pipelines.command_parser import CommandParser

FORMATS = ("table", "csv", "json")


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="affectflow sql",
        description="DuckDB over a warehouse with the views of the reports loaded "
        "(latest_videos, videos, faces, errors, runs, persons, video_affect, label_valence; "
        "macros videos_with_faces, bootstrap_shares). Read-only unless --writable: only the "
        "warehouse's files are read, no file is written (COPY, EXPORT, ATTACH, LOAD refused), "
        "DuckDB's settings are locked.",
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
    parser.add_argument(
        "--writable",
        action="store_true",
        help="a full DuckDB session: COPY ... TO, ATTACH, other files and extensions "
        "allowed (files it writes are owner-only); the duckdb CLI as the shell if installed",
    )
    parser.add_argument(
        "--raw-csv",
        action="store_true",
        help="CSV cells as they are (default: a cell starting with = + - @, a tab or a "
        "carriage return gets a leading ', as a spreadsheet would run it)",
    )
    return parser


def _print_result(con, sql: str, args: argparse.Namespace) -> None:
    from affectflow.queries.render import render_report
    from affectflow.queries.runner import query
    from affectflow.schemas.printable import to_terminal
    from affectflow.warehouse.sql import check_read_only

    if not args.writable:
        check_read_only(sql)
    for index, result in enumerate(query(con, sql)):
        text = render_report(con, result, args.format, raw_csv=args.raw_csv)
        print(("\n" * bool(index)) + to_terminal(text.rstrip("\n")))


def _error(text: str) -> None:
    """One error line on stderr, made printable (it may quote the SQL or a value)."""
    from affectflow.schemas.printable import printable

    print(printable(text, newlines=True), file=sys.stderr)


def _builtin_shell(con, args: argparse.Namespace) -> None:
    """Read statements (ending with `;`) from stdin and print each result; Ctrl-D quits."""
    import duckdb

    from affectflow.warehouse.sql import WarehouseError

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
                _print_result(con, "\n".join(buffer), args)
            except (duckdb.Error, WarehouseError) as error:
                _error(f"error: {error}")
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
    from affectflow.warehouse.layout import owner_only
    from affectflow.warehouse.sql import WarehouseError, check_warehouse, lock_down

    args = _parser().parse_args(argv)
    try:
        if args.print_setup:
            check_warehouse(args.warehouse)
            print(setup_sql(args.warehouse))
            return 0
        sql = args.command
        if sql is None and args.file is not None:
            sql = Path(args.file).read_text()
        con = connect(args.warehouse)
        if not args.writable:
            lock_down(con, args.warehouse)
        with owner_only():
            if sql is not None:
                _print_result(con, sql, args)
                return 0
            binary = shutil.which("duckdb")
            if args.writable and binary and sys.stdin.isatty():
                return _duckdb_cli(binary, setup_sql(args.warehouse))
            _builtin_shell(con, args)
    except BrokenPipeError:  # `affectflow sql ... | head`: `cli.main` exits quietly
        raise
    except (WarehouseError, duckdb.Error, OSError) as error:
        _error(f"affectflow sql: {error}")
        return 2
    return 0
