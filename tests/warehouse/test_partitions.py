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
    write_partitioned_tables,
)


def test_run_date_comes_from_the_run_id() -> None:
    assert run_date_of("20261124T160305Z-a1b2c3") == "2026-11-24"


def test_cohort_names_are_encoded_and_null_has_its_own_folder(tmp_path: Path) -> None:
    assert partition_dir(str(tmp_path), "2026-11-24", "a/b c").endswith("cohort_folder=a%2Fb%20c")
    assert partition_dir(str(tmp_path), "2026-11-24", None).endswith(
        f"cohort_folder={NULL_PARTITION}"
    )


def test_tables_are_split_by_cohort_keeping_schema_and_rows(tmp_path: Path) -> None:
    cohorts = ["a/b", None, "c", "a/b", "c", "c"]
    rows = [
        {"video_key": f"k{i}", "cohort": c, "attributes": {"n": str(i)}}
        for i, c in enumerate(cohorts)
    ]
    name = "run-20261124T160305Z-a1b2c3-00000-of-00001.parquet"
    table = pa.Table.from_pylist(rows, schema=VIDEOS)
    units = [table.slice(0, 2), table.slice(2, 2), table.slice(4)]  # one table per unit
    written = write_partitioned_tables(units, str(tmp_path / "videos"), "2026-11-24", name, VIDEOS)
    assert sorted(Path(p).parent.name for p in written) == [
        "cohort_folder=__HIVE_DEFAULT_PARTITION__",
        "cohort_folder=a%2Fb",
        "cohort_folder=c",
    ]
    assert all(Path(p).name == name for p in written)
    for path in written:
        assert pq.read_schema(path) == VIDEOS
    back = duckdb.execute(
        "select video_key, cohort, attributes['n'] from read_parquet($files, "
        "hive_partitioning = false) order by video_key",
        {"files": written},
    ).fetchall()
    assert back == [(f"k{i}", c, str(i)) for i, c in enumerate(cohorts)]
    assert not list((tmp_path / "videos").rglob("*.tmp-*"))


def test_hostile_cohort_names_get_bounded_folders_and_lose_no_rows(tmp_path: Path) -> None:
    """Long names (emoji, CJK) stay under 255 bytes; the hive default name and a missing
    cohort, and names sharing a long prefix, each keep their own folder and rows."""
    long_a, long_b = "😀" * 30 + "a", "😀" * 30 + "b"
    cohorts = [long_a, long_b, "中文名字" * 7, NULL_PARTITION, None, "x~y", "x%7Ey"]
    rows = [{"video_key": f"k{i}", "cohort": c} for i, c in enumerate(cohorts)]
    name = "run-20261124T160305Z-a1b2c3-00000-of-00001.parquet"
    table = pa.Table.from_pylist(rows, schema=VIDEOS)
    written = write_partitioned_tables(
        [table], str(tmp_path / "videos"), "2026-11-24", name, VIDEOS
    )
    folders = [Path(p).parent.name for p in written]
    assert len(set(folders)) == len(cohorts)
    assert all(len(name.encode()) <= 255 for name in folders)
    assert partition_dir("t", "d", long_a).split("cohort_folder=")[1].startswith("%F0%9F%98%80")
    for hive in (", hive_partitioning = false", ", hive_partitioning = true", ""):
        back = duckdb.execute(  # the file's own column, whatever the reader
            f"select video_key, cohort from read_parquet($files{hive}) order by 1",
            {"files": written},
        ).fetchall()
        assert back == [(f"k{i}", c) for i, c in enumerate(cohorts)]
    # The folder value decodes to the name when short, to a readable prefix when long.
    by_folder = dict(
        duckdb.execute(
            "select video_key, cohort_folder from read_parquet($files, hive_partitioning = true)",
            {"files": written},
        ).fetchall()
    )
    assert [by_folder[f"k{i}"] for i in (3, 5, 6)] == [NULL_PARTITION, "x~y", "x%7Ey"]
    assert by_folder["k4"] is None and by_folder["k2"].startswith("中文名字")
    assert by_folder["k0"].startswith("😀" * 8) and by_folder["k0"] != by_folder["k1"]
