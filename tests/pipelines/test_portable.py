"""The analyze job on Beam's PortableRunner (job service + external worker pool processes)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import duckdb
import pytest

from affectflow.pipelines.analyze import run

pytestmark = pytest.mark.slow  # Beam's job service and worker pool

FACE_COLUMNS = "video_key, frame_index, track_id, bbox_x, bbox_y, bbox_w, bbox_h, label"


@pytest.fixture(scope="module")
def portable_flags(portable_services, model_cache_dir) -> Iterator[list[str]]:
    """Flags of a job on two real Beam service processes; the workers' own cache (their
    "image") holds the weights, as `deploy/dataflow/Dockerfile` bakes them in."""
    env = {**os.environ, "AFFECTFLOW_CACHE_DIR": str(model_cache_dir)}
    with portable_services(env) as flags:
        yield flags


def rows(warehouse, table: str, columns: str) -> list[tuple]:
    return duckdb.execute(
        f"select {columns} from read_parquet($glob) order by all",
        {"glob": str(warehouse / table / "**" / "*.parquet")},
    ).fetchall()


def test_portable_runner_gives_the_rows_of_fnapirunner(
    tmp_path, videos_dir, model_cache_dir, portable_flags
) -> None:
    video_list = tmp_path / "videos.txt"
    clips = ["pyfeat_single_face.mp4", "pyfeat_no_face.mp4"]
    video_list.write_text("".join(f"{videos_dir / clip}\n" for clip in clips))
    common = [str(video_list), "--cohort", "a", "--allow-local"]
    common += ["--cache-dir", str(model_cache_dir)]
    local = run([*common, "--warehouse", str(tmp_path / "local")])
    portable = run([*common, "--warehouse", str(tmp_path / "portable"), *portable_flags])
    video_columns = "video_key, status, frames_sampled, faces_detected, tracks"
    assert rows(tmp_path / "portable", "videos", video_columns) == rows(
        tmp_path / "local", "videos", video_columns
    )
    assert rows(tmp_path / "portable", "faces", FACE_COLUMNS) == rows(
        tmp_path / "local", "faces", FACE_COLUMNS
    )
    assert rows(tmp_path / "local", "faces", FACE_COLUMNS)
    assert local.videos_total == 2
    # Beam metrics reach the job service: the run summaries agree too.
    assert dataclasses.replace(portable, seconds=0) == dataclasses.replace(local, seconds=0)
