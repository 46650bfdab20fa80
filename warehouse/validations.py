"""Where a warehouse keeps its validations (`affectflow validate`) and their faces.

`<warehouse>/validations/` holds one Parquet file per validation (schema
`schemas.tables.VALIDATIONS`: figures, confusion matrix and the labelled items, no
faces, no file names). The labelled faces themselves are analysed into a warehouse of
their own, `<warehouse>/_validation/<name>/`, with the same tables as any warehouse:
never read by the analyst's views and reports, so validation images never enter
`videos`, `faces` or a cohort; delete that folder to drop them (the figures stay).
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from affectflow.schemas.tables import VALIDATIONS
from affectflow.warehouse import layout
from affectflow.warehouse.sql import glob_root, literal

TABLE = "validations"
FACES_FOLDER = "_validation"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    """A validation set's name: letters, digits, `.`, `_`, `-` (a folder name); ValueError."""
    if not _NAME.match(name):
        raise ValueError(
            f"validation name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
            "(it names a folder)"
        )
    return name


def faces_warehouse(warehouse: str, name: str) -> str:
    """The warehouse of a validation set's own faces, inside the analyst's warehouse."""
    return layout.join(warehouse, FACES_FOLDER, check_name(name))


def write_validation(warehouse: str, row: dict) -> str:
    """Write one validation row (a file of its own, atomically); returns its path."""
    table = pa.Table.from_pylist([row], schema=VALIDATIONS)
    path = layout.join(layout.table_dir(warehouse, TABLE), f"{row['validation_id']}.parquet")
    with layout.write_atomically(path) as handle:
        pq.write_table(table, handle)
    return path


def validations_table(warehouse: str) -> pa.Table:
    """Every validation row of a warehouse as one table (none: an empty one)."""
    return pa.Table.from_pylist(read_validations(warehouse), schema=VALIDATIONS)


def read_validations(warehouse: str) -> list[dict]:
    """Every validation row of a warehouse, newest first (none: an empty list)."""
    files = layout.table_files(warehouse, TABLE)
    rows: list[dict] = []
    for path in files:
        with layout.open_read(path) as handle:
            rows += pq.read_table(handle, schema=VALIDATIONS).to_pylist()
    return sorted(rows, key=lambda row: row["validated_at"], reverse=True)


def setup_sql(warehouse: str) -> str:
    """The SQL that defines the `validations` view in any DuckDB client (`affectflow sql
    --print-setup`): its file glob (`set variable`, as the committed tables' are) and the
    view over the files, every column of `VALIDATIONS` typed (a file of an older schema
    reads its new columns as nulls). With no validation yet the view is empty: print the
    setup again after the first `affectflow validate`."""
    glob = layout.table_glob(glob_root(warehouse), TABLE)
    with duckdb.connect() as con:  # the schema's DuckDB types, as `connect` registers them
        empty = con.from_arrow(VALIDATIONS.empty_table())
        typed = zip(empty.columns, map(str, empty.types), strict=True)
        columns = ", ".join(f'null::{kind} as "{name}"' for name, kind in typed)
    view = f"select {columns} limit 0"
    if layout.table_files(warehouse, TABLE):
        glob_var = "getvariable('validations_glob')"
        files = f"read_parquet({glob_var}, union_by_name = true, hive_partitioning = false)"
        view = f"({view}) union all by name (select * from {files})"
    return (
        f"set variable validations_glob = {literal(glob)};\n"
        f"create or replace temp view {TABLE} as {view};"
    )
