"""Hive-style partitions, written when a run ends: `<table>/run_date_folder=D/cohort_folder=C/`.

The committed units of a run (`units.compact_run`) are split by cohort here, unit by
unit (memory stays bounded by one unit), into
`run_date_folder=<YYYY-MM-DD>/cohort_folder=<name>/` folders of the table. The files keep
every column, `cohort` and `run_date` (a date, set here) included, and no folder key is a
column name: every reader gets the same `cohort` and the same `run_date` type with or
without partition discovery (pandas, pyarrow, polars and Spark add `run_date_folder` and
`cohort_folder` columns; DuckDB's `hive_partitioning` prunes by them), and a folder name
need not spell the cohort exactly. Each file is written under a temporary name and
renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from affectflow.warehouse import layout

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Folder keys: never a column of the files (a reader would see the column twice).
RUN_DATE_KEY, COHORT_KEY = "run_date_folder", "cohort_folder"
RUN_DATE = "run_date"  # the column: the run's start date (UTC), a date in every reader
# Longest cohort folder value in bytes: file systems allow 255 per name.
MAX_FOLDER_VALUE = 120


def run_date_of(run_id: str) -> str:
    """The UTC start date of a run from its id: `20261124T160305Z-a1b2c3` -> `2026-11-24`."""
    return f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}"


def cohort_folder_value(cohort: str | None) -> str:
    """The `cohort_folder=` value of a folder: percent-encoded, bounded, one per cohort.

    Every character but letters, digits and `_.-` is percent-encoded (`/` and `~` too).
    A value longer than `MAX_FOLDER_VALUE` bytes (long names, emoji, CJK) keeps a readable
    prefix and ends `~<sha256 of the name>`: `~` never occurs otherwise, so it cannot
    collide with another cohort. A cohort literally named like the hive default
    partition (what a missing cohort maps to) has its underscores encoded.
    """
    if cohort is None or cohort == "":
        return NULL_PARTITION
    value = _encode(cohort)
    if value == NULL_PARTITION:
        return value.replace("_", "%5F")
    if len(value) <= MAX_FOLDER_VALUE:
        return value
    digest = hashlib.sha256(cohort.encode("utf-8")).hexdigest()[:16]
    prefix = ""
    for char in cohort:  # whole characters: the prefix still decodes as UTF-8
        encoded = _encode(char)
        if len(prefix) + len(encoded) > MAX_FOLDER_VALUE - len(digest) - 1:
            break
        prefix += encoded
    return f"{prefix}~{digest}"


def _encode(text: str) -> str:
    return quote(text, safe="").replace("~", "%7E")


def partition_dir(table_dir: str, run_date: str, cohort: str | None) -> str:
    """The folder of one run date and cohort (`cohort_folder_value`)."""
    value = cohort_folder_value(cohort)
    return layout.join(table_dir, f"{RUN_DATE_KEY}={run_date}", f"{COHORT_KEY}={value}")


def with_run_date(table: pa.Table, run_date: str, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`'s column order, its `run_date` column (if `schema` has one) set
    to the run's date (units written before the column existed get it too)."""
    if RUN_DATE not in schema.names:
        return table
    dates = pa.array([dt.date.fromisoformat(run_date)] * table.num_rows, pa.date32())
    index = table.schema.get_field_index(RUN_DATE)
    table = (
        table.append_column(RUN_DATE, dates)
        if index < 0
        else table.set_column(index, RUN_DATE, dates)
    )
    return table.select(schema.names)


def _cohorts(table: pa.Table) -> list[str | None]:
    return pc.unique(table["cohort"]).to_pylist()


def _rows_of(table: pa.Table, cohort: str | None) -> pa.Table:
    column = table["cohort"]
    mask = pc.is_null(column) if cohort is None else pc.fill_null(pc.equal(column, cohort), False)
    return table.filter(mask)


class _PartitionWriters:
    """One open Parquet writer per cohort, each on a temporary name until `commit`."""

    def __init__(self, table_dir: str, run_date: str, name: str, schema: pa.Schema) -> None:
        self._table_dir, self._run_date, self._name = table_dir, run_date, name
        self._schema = schema
        self._open: dict[str | None, tuple[pq.ParquetWriter, object, str, str]] = {}

    def write(self, cohort: str | None, rows: pa.Table) -> None:
        if cohort not in self._open:
            folder = partition_dir(self._table_dir, self._run_date, cohort)
            final = layout.join(folder, self._name)
            temporary = f"{final}.tmp-{secrets.token_hex(4)}"
            handle = layout.create(temporary)
            writer = pq.ParquetWriter(handle, self._schema, compression="zstd")
            self._open[cohort] = (writer, handle, temporary, final)
        self._open[cohort][0].write_table(rows)

    def commit(self) -> list[str]:
        """Close every file and move it to its final name; returns the final paths."""
        for writer, handle, _, _ in self._open.values():
            writer.close()
            handle.close()
        temporaries = [entry[2] for entry in self._open.values()]
        finals = [entry[3] for entry in self._open.values()]
        if temporaries:
            layout.rename(temporaries, finals)
        return finals


def write_table(table: pa.Table, path: str) -> None:
    """Write one Parquet file atomically: a temporary name, then a rename."""
    with layout.write_atomically(path) as handle:
        pq.write_table(table, handle, compression="zstd")


def write_partitioned_tables(
    tables: Iterable[pa.Table], table_dir: str, run_date: str, name: str, schema: pa.Schema
) -> list[str]:
    """Split tables (read one at a time) by cohort into one file `name` per partition."""
    writers = _PartitionWriters(table_dir, run_date, name, schema)
    for table in tables:
        table = with_run_date(table, run_date, schema)
        for cohort in _cohorts(table):
            writers.write(cohort, _rows_of(table, cohort))
    return writers.commit()
