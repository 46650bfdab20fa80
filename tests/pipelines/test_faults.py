"""Faults: a job SIGKILLed mid-run and rerun leaves exactly the rows of one clean run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectflow.pipelines.analyze import run
from affectflow.warehouse.commit import done_video_keys, ensure_tables
from affectflow.warehouse.layout import unit_file
from affectflow.warehouse.partitions import partition_dir
from affectflow.warehouse.resume import Resumed, settle_unfinished, write_manifest
from affectflow.warehouse.units import committed_units, compact_run, new_unit_id, write_unit

pytestmark = pytest.mark.slow  # whole jobs, killed and resumed


def _list(tmp_path: Path, server, videos_dir: Path) -> Path:
    single = server.add_file("faults/single.mp4", videos_dir / "pyfeat_single_face.mp4")
    noface = server.add_file("faults/noface.mp4", videos_dir / "pyfeat_no_face.mp4")
    video_list = tmp_path / "videos.csv"
    video_list.write_text(
        f"url,cohort\n{single},a\n{noface},b\n{server.url('faults/gone.mp4')},b\n"
    )
    return video_list


def _args(video_list: Path, warehouse: Path, cache: Path) -> list[str]:
    return [str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(cache)]


def test_killed_run_then_rerun_equals_one_clean_run(
    tmp_path: Path,
    session_http_server,
    videos_dir: Path,
    model_cache_dir: Path,
    fer_weights,
    all_rows,
    kill_midway,
) -> None:
    video_list = _list(tmp_path, session_http_server, videos_dir)
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    run(_args(video_list, clean, model_cache_dir))
    kill_midway(["analyze", *_args(video_list, faulty, model_cache_dir)], tmp_path / "killed.log")
    # Whatever the kill left, DuckDB reads the warehouse (no half-written file)...
    all_rows(faulty)
    run(_args(video_list, faulty, model_cache_dir))
    # ...and after the rerun it holds exactly what a clean run holds.
    assert all_rows(faulty) == all_rows(clean)
    assert all_rows(clean)["faces"] and len(all_rows(clean)["videos"]) == 3
    assert not list(faulty.rglob("*.tmp-*")) and not list((faulty / "_staging").rglob("*"))


RUN_ID = "20261124T170000Z-0f0f0f"


def _unit_rows(key: str, unit_id: str) -> dict[str, list[dict]]:
    return {"videos": [{"video_key": key, "cohort": "a", "status": "ok", "run_id": RUN_ID,
                        "analysis_id": "a1", "unit_id": unit_id}]}  # fmt: skip


def test_a_killed_run_is_resumed_by_the_same_command_and_closed_by_another(
    tmp_path: Path,
) -> None:
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    write_manifest(warehouse, RUN_ID, {"identity": "same", "run_row": {"run_id": RUN_ID,
                   "started_at": "2026-11-24T17:00:00+00:00"}})  # fmt: skip
    unit = new_unit_id(RUN_ID)
    write_unit(warehouse, RUN_ID, unit, _unit_rows("url-aaaa", unit), 1)
    # A worker killed while writing a unit (no marker), a commit killed mid-compaction.
    half = new_unit_id(RUN_ID)
    pq.write_table(
        pa.table({"video_key": ["url-bbbb"]}), unit_file(warehouse, RUN_ID, "videos", half)
    )
    compact_run(warehouse, RUN_ID, "2026-11-24")
    partition = Path(partition_dir(str(tmp_path / "out" / "videos"), "2026-11-24", "a"))
    (partition / f"run-{RUN_ID}-00000-of-00001.parquet.tmp-1234").write_bytes(b"half a file")
    assert done_video_keys(warehouse, "a1") == {"url-aaaa"}  # the committed unit, once

    resumed = settle_unfinished(warehouse, "same")
    assert resumed == Resumed(RUN_ID, attempt=2, videos_committed=1)
    assert not list(partition.glob("*"))  # compacted files of a run without a runs row
    assert committed_units(warehouse, RUN_ID) == [unit]
    assert not Path(unit_file(warehouse, RUN_ID, "videos", half)).exists()

    assert settle_unfinished(warehouse, "another command") is None
    assert [p.name for p in partition.glob("*")] == [f"run-{RUN_ID}-00000-of-00001.parquet"]
    assert done_video_keys(warehouse, "a1") == {"url-aaaa"}
    assert not (tmp_path / "out" / "_units" / RUN_ID).exists()
    assert not (tmp_path / "out" / "_staging" / RUN_ID).exists()
