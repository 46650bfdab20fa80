"""DuckDB over the committed tables of a warehouse (`committed.sql`), for Python and SQL.

`connect` runs `setup_sql`: each table's file glob, then the views of `committed.sql`: the
one definition of a committed run, used by the "already done" checks here and by the
analysts' views (`queries/views.sql`) built on top of it.
"""

from __future__ import annotations

import functools
import os
import tempfile
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from affectflow.schemas.tables import TABLE_NAMES
from affectflow.warehouse import layout


class WarehouseError(ValueError):
    """The warehouse cannot be read as asked: the message says what to do."""


def committed_sql() -> str:
    return resources.files("affectflow.warehouse").joinpath("committed.sql").read_text()


def _remote_reader(con: duckdb.DuckDBPyConnection, warehouse: str) -> None:
    """DuckDB reads gs:// and s3:// through its httpfs extension, when it can load it."""
    try:
        con.execute("load httpfs")
    except duckdb.Error as error:
        raise WarehouseError(
            f"DuckDB cannot read the remote warehouse {warehouse} (httpfs: {error}); "
            "copy it to a local folder (gsutil -m rsync -r, aws s3 sync) and use that"
        ) from error


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _empty_unit_files() -> Path:
    """A local folder of empty unit tables, for warehouses made before units (read-only)."""
    from affectflow.warehouse.units import empty_unit_tables

    folder = Path(tempfile.mkdtemp(prefix="affectflow-units-"))
    for table, empty in empty_unit_tables().items():
        (folder / table).mkdir()
        pq.write_table(empty, folder / table / "empty.parquet")
    return folder


def _unit_glob(root: str, table: str) -> str:
    """The files of one unit table (`layout.units_glob`), or an empty one if it has none."""
    if layout.exists(layout.empty_unit_file(root, table)):
        return layout.units_glob(root, table)
    return str(_empty_unit_files() / table / "empty.parquet")


def setup_sql(warehouse: str) -> str:
    """The SQL that defines the committed views of `warehouse` in any DuckDB client:
    each table's file glob and each unit glob (`set variable`, absolute for a local
    warehouse), then `committed.sql`."""
    root = (
        warehouse if layout.is_remote(warehouse) else os.path.abspath(layout.local_path(warehouse))
    )
    lines = ["load httpfs;"] if layout.is_remote(warehouse) else []
    lines += [
        f"set variable {table}_glob = {_literal(layout.table_glob(root, table))};"
        for table in TABLE_NAMES
    ]
    lines += [
        f"set variable {table}_units_glob = {_literal(_unit_glob(root, table))};"
        for table in layout.UNIT_TABLES
    ]
    return "\n".join(lines) + "\n\n" + committed_sql()


def check_warehouse(warehouse: str) -> None:
    """Raise WarehouseError unless `warehouse` holds a warehouse this process can read."""
    try:
        found = layout.is_warehouse(warehouse)
    except ValueError as error:  # a scheme Beam has no filesystem for here
        raise WarehouseError(f"cannot read {warehouse!r}: {error}") from error
    if not found:
        raise WarehouseError(f"{warehouse!r} holds no affectflow warehouse (no runs/ folder)")


# What `affectflow sql` runs on a read-only connection: queries, and objects of the
# in-memory database (views, macros, temp tables, variables). Never COPY, EXPORT, ATTACH,
# DETACH, LOAD/INSTALL, PREPARE/EXECUTE (which could hide one of them) nor VACUUM.
READ_ONLY_STATEMENTS = frozenset(
    getattr(duckdb.StatementType, name)
    for name in (
        "SELECT", "EXPLAIN", "CREATE", "CREATE_FUNC", "DROP", "ALTER", "INSERT", "UPDATE",
        "DELETE", "SET", "VARIABLE_SET", "PRAGMA", "CALL", "TRANSACTION", "ANALYZE",
    )
)  # fmt: skip


def lock_down(con: duckdb.DuckDBPyConnection, warehouse: str) -> None:
    """From now on `con` reads files of the warehouse only and no setting changes:
    DuckDB's `allowed_directories` (the warehouse, and the empty unit tables of an old
    one), `enable_external_access = false`, `lock_configuration = true`. Statements that
    write are refused by `check_read_only` (allowed directories could be written to).
    A remote warehouse needs external access to be read: only `check_read_only` holds."""
    if layout.is_remote(warehouse):
        return
    folders = [os.path.abspath(layout.local_path(warehouse)), str(_empty_unit_files())]
    con.execute("set allowed_directories = $folders", {"folders": [f + "/" for f in folders]})
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def check_read_only(sql: str) -> None:
    """Raise WarehouseError when `sql` holds a statement a read-only session refuses."""
    for statement in duckdb.extract_statements(sql):
        if statement.type not in READ_ONLY_STATEMENTS:
            name = statement.type.name.replace("_", " ")
            raise WarehouseError(
                f"{name} is refused: affectflow sql is read-only (--writable allows it)"
            )


def connect(warehouse: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the committed views of `warehouse`."""
    con = duckdb.connect()
    if layout.is_remote(warehouse):
        _remote_reader(con, warehouse)
    check_warehouse(warehouse)
    con.execute(setup_sql(warehouse).removeprefix("load httpfs;\n"))
    return con
