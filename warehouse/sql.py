"""DuckDB over the committed tables of a warehouse (`committed.sql`), for Python and SQL.

`connect` runs `setup_sql`: each table's files as a relation (`<table>_files`,
`<table>_unit_files`: globs read by DuckDB for a local warehouse, Arrow datasets read
by pyarrow for a remote one), then the views of `committed.sql`: the one definition of a
committed run, used by the "already done" checks here and by the analysts' views
(`queries/views.sql`) built on top of it.
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
from affectflow.warehouse.remote import NoRemoteWarehouse, RemoteError, file_relations


class WarehouseError(ValueError):
    """The warehouse cannot be read as asked: the message says what to do."""


class NoWarehouse(WarehouseError):
    """There is no warehouse there yet (no run ever committed to it)."""


def committed_sql() -> str:
    return resources.files("affectflow.warehouse").joinpath("committed.sql").read_text()


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


# Columns added since the first warehouses: files written before them read as nulls.
ADDED_COLUMNS = {"videos": "null::varchar as input_key", "errors": "null::varchar as input_key"}


def _file_views() -> list[str]:
    """The relations `committed.sql` reads, as views over the globs set before them."""
    names = [(t, f"{t}_files", f"{t}_glob") for t in TABLE_NAMES]
    names += [(t, f"{t}_unit_files", f"{t}_units_glob") for t in layout.UNIT_TABLES]
    views = []
    for table, name, glob in names:
        files = (
            f"read_parquet(getvariable('{glob}'), union_by_name = true, hive_partitioning = false)"
        )
        added = ADDED_COLUMNS.get(table)
        union = f" union all by name (select {added} limit 0)" if added else ""
        views.append(f"create or replace temp view {name} as select * from {files}{union};")
    return views


def glob_root(warehouse: str) -> str:
    """Where the globs of a setup SQL start: a URI as given, a local path made absolute."""
    if layout.is_remote(warehouse):
        return warehouse
    return os.path.abspath(layout.local_path(warehouse))


def literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def setup_sql(warehouse: str) -> str:
    """The SQL that defines the committed views of `warehouse` in any DuckDB client:
    each table's file glob and each unit glob (`set variable`, absolute for a local
    warehouse), the file relations over them, then `committed.sql`. A remote warehouse
    needs the client's `httpfs` there (`connect` reads it with pyarrow instead)."""
    root = glob_root(warehouse)
    lines = ["load httpfs;"] if layout.is_remote(warehouse) else []
    lines += [
        f"set variable {table}_glob = {literal(layout.table_glob(root, table))};"
        for table in TABLE_NAMES
    ]
    lines += [
        f"set variable {table}_units_glob = {literal(_unit_glob(root, table))};"
        for table in layout.UNIT_TABLES
    ]
    return "\n".join([*lines, *_file_views()]) + "\n\n" + committed_sql()


def check_warehouse(warehouse: str) -> None:
    """Raise WarehouseError unless `warehouse` holds a warehouse this process can read."""
    try:
        found = layout.is_warehouse(warehouse)
    except ValueError as error:  # a scheme Beam has no filesystem for here
        raise WarehouseError(f"cannot read {warehouse!r}: {error}") from error
    if not found:
        raise NoWarehouse(f"{warehouse!r} holds no affectflow warehouse (no runs/ folder)")


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
    """An in-memory DuckDB connection with the committed views of `warehouse`.

    A remote warehouse is read through pyarrow's filesystems with the environment's
    credentials (`warehouse.remote`), not DuckDB's httpfs. Raises NoWarehouse when it
    holds none yet, WarehouseError when it cannot be read.
    """
    con = duckdb.connect()
    if not layout.is_remote(warehouse):
        check_warehouse(warehouse)
        con.execute(setup_sql(warehouse))
        return con
    try:
        relations = file_relations(warehouse, TABLE_NAMES, layout.UNIT_TABLES)
    except NoRemoteWarehouse as error:
        raise NoWarehouse(str(error)) from error
    except RemoteError as error:
        raise WarehouseError(str(error)) from error
    for name, relation in relations.items():
        con.register(name, relation)
    con.execute(committed_sql())
    return con
