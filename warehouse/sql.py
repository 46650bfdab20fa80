"""DuckDB over the committed tables of a warehouse (`committed.sql`), for Python and SQL.

`connect` binds each table's file glob and defines the views of `committed.sql`: the
one definition of a committed run, used by the "already done" checks here and by the
analysts' views (`queries/views.sql`) built on top of it.
"""

from __future__ import annotations

from importlib import resources

import duckdb

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


def connect(warehouse: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the committed views of `warehouse`."""
    con = duckdb.connect()
    if layout.is_remote(warehouse):
        _remote_reader(con, warehouse)
    try:
        found = layout.is_warehouse(warehouse)
    except ValueError as error:  # a scheme Beam has no filesystem for here
        raise WarehouseError(f"cannot read {warehouse!r}: {error}") from error
    if not found:
        raise WarehouseError(f"{warehouse!r} holds no affectflow warehouse (no runs/ folder)")
    for table in TABLE_NAMES:
        glob = layout.table_glob(layout.local_path(warehouse), table)
        con.execute(f"set variable {table}_glob = $glob", {"glob": glob})
    con.execute(committed_sql())
    return con
