"""Two worker processes give exactly the rows one worker gives."""

from __future__ import annotations

import duckdb

from affectflow.pipelines.analyze import run

FACE_COLUMNS = (
    "video_key, frame_index, timestamp_ms, track_id, bbox_x, bbox_y, bbox_w, bbox_h, label"
)


def faces(warehouse) -> list[tuple]:
    return duckdb.execute(
        f"select {FACE_COLUMNS}, round(score, 5) from read_parquet($glob) order by all",
        {"glob": str(warehouse / "faces" / "**" / "*.parquet")},
    ).fetchall()


def videos(warehouse) -> list[tuple]:
    return duckdb.execute(
        "select video_key, status, frames_sampled, faces_detected, tracks "
        "from read_parquet($glob) order by all",
        {"glob": str(warehouse / "videos" / "**" / "*.parquet")},
    ).fetchall()


def test_two_workers_give_the_same_rows_as_one(tmp_path, videos_dir, model_cache_dir) -> None:
    clips = ["pyfeat_single_face.mp4", "carphone_pristine.mp4", "pyfeat_no_face.mp4"]
    video_list = tmp_path / "videos.txt"
    video_list.write_text("".join(f"{videos_dir / clip}\n" for clip in clips))
    common = [
        str(video_list),
        "--cohort",
        "a",
        "--allow-local",
        "--cache-dir",
        str(model_cache_dir),
    ]
    one = run([*common, "--warehouse", str(tmp_path / "one"), "--workers", "1"])
    two = run([*common, "--warehouse", str(tmp_path / "two"), "--workers", "2"])
    assert one.videos_total == two.videos_total == 3
    assert faces(tmp_path / "one") == faces(tmp_path / "two")
    assert faces(tmp_path / "one")
    assert videos(tmp_path / "one") == videos(tmp_path / "two")
