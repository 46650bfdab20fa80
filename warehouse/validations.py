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

import pyarrow as pa
import pyarrow.parquet as pq

from affectflow.schemas.tables import VALIDATIONS
from affectflow.warehouse import layout

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
