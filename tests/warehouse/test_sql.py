"""The one definition of "committed": DuckDB views over a real warehouse's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from affectflow.schemas.records import ErrorRecord, RunInfo, Stage, VideoRequest
from affectflow.schemas.rows import error_row, failed_video_row, item_key, skipped_video_row
from affectflow.schemas.tables import RUNS, SCHEMAS
from affectflow.warehouse import layout
from affectflow.warehouse.commit import done_video_keys, ensure_tables, settled_video_keys
from affectflow.warehouse.partitions import write_table
from affectflow.warehouse.sql import WarehouseError, connect


@pytest.mark.slow
def test_rows_of_a_run_without_its_runs_row_are_invisible(job, tmp_path: Path) -> None:
    copy = tmp_path / "wh"
    shutil.copytree(job.warehouse, copy, ignore=shutil.ignore_patterns(".lock"))
    with connect(str(copy)) as con:
        ((run_id, analysis_id),) = con.execute(
            "select run_id, analysis_id from internal.video_rows group by all"
        ).fetchall()
        videos = con.execute("select count(*) from internal.video_rows").fetchall()[0][0]
        faces = con.execute("select count(*) from internal.face_rows").fetchall()[0][0]
    assert videos > 0 and faces > 0
    assert done_video_keys(str(copy), analysis_id)
    Path(layout.run_record(str(copy), run_id)).unlink()
    ensure_tables(str(copy))  # as every commit leaves it: each table has a file
    with connect(str(copy)) as con:
        for view in ("runs", "internal.video_rows", "internal.face_rows", "errors"):
            assert con.execute(f"select count(*) from {view}").fetchall() == [(0,)], view
    assert done_video_keys(str(copy), analysis_id) == frozenset()


def test_a_folder_without_runs_is_no_warehouse(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no affectflow warehouse"):
        connect(str(tmp_path))


@pytest.mark.slow
def test_a_remote_warehouse_says_what_to_do() -> None:
    with pytest.raises(WarehouseError, match=r"copy it to a local folder|cannot read"):
        connect("s3://affectflow-nowhere/out")


@pytest.mark.slow
def test_settled_is_done_plus_what_failed_for_good_unless_retried(job) -> None:
    """One definition (committed.sql's `settled_videos`) for the graph and refresh."""
    warehouse = str(job.warehouse)
    with connect(warehouse) as con:
        (analysis_id,) = con.execute("select distinct analysis_id from runs").fetchone()
        keys = dict(con.execute("select url, video_key from internal.video_rows").fetchall())
    done = done_video_keys(warehouse, analysis_id)
    assert keys[job.urls["single"]] in done and keys[job.urls["noface"]] in done
    assert settled_video_keys(warehouse, analysis_id, retry_failed=True) == done
    for_good = settled_video_keys(warehouse, analysis_id, retry_failed=False) - done
    assert keys[job.urls["missing"]] in for_good  # a 404: retrying cannot fix it
    assert keys[job.urls["refused"]] not in for_good  # a refused connection may pass later


def test_rows_written_before_the_input_key_column_get_it_from_the_same_parts(
    tmp_path: Path,
) -> None:
    """A warehouse of an older version: its files have no `input_key`."""
    run = RunInfo(
        run_id="20250102T030405Z-aaaaaa", model_id="m", weights_sha256="", analysis_id="a"
    )
    ok = VideoRequest("url-0a", "https://example.org/v.mp4", "c", 1)
    refused = ErrorRecord(
        stage=Stage.INGEST, error_class="BadRow", message="no url", input="x,y",
        cohort="c", row_number=2, retryable=False,
    )  # fmt: skip
    tables = {
        "videos": [skipped_video_row(ok, run), failed_video_row(refused, run)],
        "errors": [error_row(refused, run)],
    }
    warehouse = str(tmp_path)
    for name, rows in tables.items():
        table = pa.Table.from_pylist(rows, schema=SCHEMAS[name]).drop_columns(["input_key"])
        write_table(table, layout.join(warehouse, name, f"run-{run.run_id}-00000-of-00001.parquet"))
    runs_row = {"run_id": run.run_id, "analysis_id": "a", "model_id": "m"}
    write_table(
        pa.Table.from_pylist([runs_row], schema=RUNS), layout.run_record(warehouse, run.run_id)
    )
    ensure_tables(warehouse)
    with connect(warehouse) as con:
        keys = con.execute("select input_key from internal.video_rows order by all").fetchall()
        (error_key,) = con.execute("select input_key from errors").fetchone()
    expected = sorted([item_key(ok), item_key(refused)])
    assert [key for (key,) in keys] == expected and error_key == item_key(refused)
