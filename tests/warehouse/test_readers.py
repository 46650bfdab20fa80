"""Every table folder of a real warehouse reads with no options in the analysts' tools.

pandas, pyarrow.dataset, polars (hive) and DuckDB (with and without hive partitioning)
each get every row of each table, with the same `cohort` as the files themselves hold.
"""

from __future__ import annotations

import collections
import datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from affectflow.schemas.tables import TABLE_NAMES

pytestmark = pytest.mark.slow  # a real pipeline writes the warehouse the clients read


def _truth(folder: Path) -> collections.Counter:
    """(cohort or None) of every row, file by file with plain pyarrow (no dataset)."""
    counts: collections.Counter = collections.Counter()
    for path in folder.rglob("*.parquet"):
        table = pq.read_table(path)
        column = table["cohort"].to_pylist() if "cohort" in table.column_names else []
        counts.update(column or [None] * table.num_rows)
    return counts


def _duckdb(folder: Path, options: str) -> list:
    glob = str(folder / "**" / "*.parquet")
    return duckdb.sql(f"select * from read_parquet('{glob}'{options})").df()


READERS = {
    "pandas": lambda folder: pd.read_parquet(folder),
    "pyarrow.dataset": lambda folder: ds.dataset(folder).to_table().to_pandas(),
    "pyarrow.dataset hive": lambda folder: (
        ds.dataset(folder, partitioning="hive").to_table().to_pandas()
    ),
    "polars hive": lambda folder: (
        pl.scan_parquet(folder, hive_partitioning=True).collect().to_pandas()
    ),
    "duckdb": lambda folder: _duckdb(folder, ""),
    "duckdb hive": lambda folder: _duckdb(folder, ", hive_partitioning = true"),
    "duckdb no hive": lambda folder: _duckdb(folder, ", hive_partitioning = false"),
}


@pytest.mark.parametrize("reader", READERS)
def test_each_client_reads_each_table_with_every_row_and_cohort(job, reader) -> None:
    for table in TABLE_NAMES:
        folder = job.warehouse / table
        frame = READERS[reader](folder)
        truth = _truth(folder)
        assert len(frame) == sum(truth.values()) > 0, (table, reader)
        if table == "runs":
            continue
        cohorts = [None if pd.isna(c) else str(c) for c in frame["cohort"]]
        assert collections.Counter(cohorts) == truth, (table, reader)
    assert set(_truth(job.warehouse / "videos")) >= {"a", "b"}


DATE_KINDS = {
    "pandas": "object",  # pyarrow's date32 -> datetime.date objects (pandas has no date dtype)
    "pyarrow.dataset": "object",
    "pyarrow.dataset hive": "object",
}


@pytest.mark.parametrize("reader", READERS)
def test_run_date_is_a_date_in_every_reader(job, reader) -> None:
    """`run_date` is a date column of the files, never the folder key (that is
    `run_date_folder`), so every reader gets dates, whatever it does with folders."""
    for table in ("videos", "faces", "errors"):
        frame = READERS[reader](job.warehouse / table)
        values = {v for v in frame["run_date"] if not pd.isna(v)}
        assert values and all(isinstance(v, datetime.date) for v in values), (table, reader)
        dtype = str(frame["run_date"].dtype)
        assert dtype == DATE_KINDS.get(reader, dtype) and "category" not in dtype, dtype
        assert not dtype.startswith(("str", "string")), (table, reader, dtype)


def test_an_empty_table_has_one_placeholder_until_it_has_partitions(tmp_path: Path) -> None:
    from affectflow.warehouse.commit import EMPTY_FILE, ensure_tables
    from affectflow.warehouse.partitions import partition_dir

    ensure_tables(str(tmp_path))
    assert len(pd.read_parquet(tmp_path / "faces")) == 0
    folder = Path(partition_dir(str(tmp_path / "faces"), "2026-11-24", "a"))
    folder.mkdir(parents=True)
    pq.write_table(pq.read_table(tmp_path / "faces" / EMPTY_FILE), folder / "run-x.parquet")
    ensure_tables(str(tmp_path))
    assert not (tmp_path / "faces" / EMPTY_FILE).exists()
    assert (tmp_path / "videos" / EMPTY_FILE).exists()
    assert pl.scan_parquet(tmp_path / "faces", hive_partitioning=True).collect().height == 0
