"""Faults: a job SIGKILLed mid-run and rerun leaves exactly the rows of one clean run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from affectflow.pipelines.analyze import run
from affectflow.warehouse.commit import commit_run, discard_stale_staging
from affectflow.warehouse.partitions import partition_dir


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
    assert not list(faulty.rglob("*.tmp-*")) and not list((faulty / "_staging").rglob("*.parquet"))


def test_files_moved_by_a_commit_killed_before_its_runs_row_are_discarded(tmp_path: Path) -> None:
    warehouse = tmp_path / "out"
    row = pa.table(
        {"video_key": ["url-aaaa"], "cohort": ["a"], "run_id": ["20261124T160305Z-a1b2c3"]}
    )
    for run_id in ("20261124T160305Z-a1b2c3", "20261124T170000Z-0f0f0f"):
        staged = warehouse / "_staging" / run_id / "videos"
        staged.mkdir(parents=True)
        pq.write_table(row, staged / f"run-{run_id}-00000-of-00001.parquet")
    commit_run(str(warehouse), "20261124T160305Z-a1b2c3", _run_row("20261124T160305Z-a1b2c3"))
    # The second run died after moving its files, before writing its runs row.
    partition = Path(partition_dir(str(warehouse / "videos"), "2026-11-24", "a"))
    orphan = partition / "run-20261124T170000Z-0f0f0f-00000-of-00001.parquet"
    shutil.move(warehouse / "_staging" / "20261124T170000Z-0f0f0f" / "videos" / orphan.name, orphan)
    (partition / f"{orphan.name}.tmp-1234").write_bytes(b"half a file")
    discard_stale_staging(str(warehouse))
    names = sorted(p.name for p in (warehouse / "videos").rglob("*") if p.is_file())
    assert names == ["run-20261124T160305Z-a1b2c3-00000-of-00001.parquet"]
    assert not list((warehouse / "_staging").rglob("*.parquet"))


def _run_row(run_id: str) -> dict:
    return {"run_id": run_id}
