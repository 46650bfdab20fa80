"""Hive-style partitions written after the Beam write."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from affectflow.schemas.tables import VIDEOS
from affectflow.warehouse.partitions import (
    NULL_PARTITION,
    partition_dir,
    run_date_of,
    write_partitioned,
)


def test_run_date_comes_from_the_run_id() -> None:
    assert run_date_of("20261124T160305Z-a1b2c3") == "2026-11-24"


def test_cohort_names_are_encoded_and_null_has_its_own_folder(tmp_path: Path) -> None:
    assert partition_dir(str(tmp_path), "2026-11-24", "a/b c").endswith("cohort_folder=a%2Fb%20c")
    assert partition_dir(str(tmp_path), "2026-11-24", None).endswith(
        f"cohort_folder={NULL_PARTITION}"
    )


def test_a_staged_file_is_split_by_cohort_keeping_schema_and_rows(tmp_path: Path) -> None:
    cohorts = ["a/b", None, "c", "a/b", "c", "c"]
    rows = [
        {"video_key": f"k{i}", "cohort": c, "attributes": {"n": str(i)}}
        for i, c in enumerate(cohorts)
    ]
    source = tmp_path / "staged" / "run-20261124T160305Z-a1b2c3-00000-of-00001.parquet"
    source.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=VIDEOS), source, row_group_size=2)
    written = write_partitioned(str(source), str(tmp_path / "videos"), "2026-11-24")
    assert sorted(Path(p).parent.name for p in written) == [
        "cohort_folder=__HIVE_DEFAULT_PARTITION__",
        "cohort_folder=a%2Fb",
        "cohort_folder=c",
    ]
    assert all(Path(p).name == source.name for p in written)
    for path in written:
        assert pq.read_schema(path) == VIDEOS
    back = duckdb.execute(
        "select video_key, cohort, attributes['n'] from read_parquet($files, "
        "hive_partitioning = false) order by video_key",
        {"files": written},
    ).fetchall()
    assert back == [(f"k{i}", c, str(i)) for i, c in enumerate(cohorts)]
    assert not list((tmp_path / "videos").rglob("*.tmp-*"))
