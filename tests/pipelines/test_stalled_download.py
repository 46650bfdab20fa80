"""One stalled download holds back only itself: finished videos are committed meanwhile.

The issue's 7-row job: two good clips, a good clip whose cohort is
`__HIVE_DEFAULT_PARTITION__`, an endless body, a gzip bomb, an endless HTML page and a
drip, listed first so that it holds a download slot throughout. The drip sends its first
byte and then one byte a second until the test has seen the three good clips committed
(states, not times: a watcher reads the committed units while the job runs); only then
does it end (a cut-short file: a failed row). Before, the download step handed on its
outcomes only as new requests arrived or all at once at the end of its bundle, and units
closed on age only when a video finished: the good clips waited for the drip.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from affectflow.pipelines.analyze import run
from affectflow.warehouse.sql import connect

GOOD = ("good-a", "good-b", "__HIVE_DEFAULT_PARTITION__")
HANG_GUARD_S = 180.0  # only keeps a broken job from hanging the test


class _Watcher:
    """Polls the warehouse's committed units until the good clips are there; then notes
    whether the drip's row was committed yet, and lets the drip end."""

    def __init__(self, warehouse: Path, release: threading.Event) -> None:
        self.warehouse, self.release = warehouse, release
        self.good_before_drip: bool | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _committed(self) -> dict[str, str]:
        try:
            with connect(str(self.warehouse)) as con:
                rows = con.execute("select cohort, status from internal.video_rows").fetchall()
        except Exception:  # the warehouse is not made yet
            return {}
        return dict(rows)

    def _run(self) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            committed = self._committed()
            if all(committed.get(cohort) == "ok" for cohort in GOOD):
                self.good_before_drip = "drip" not in committed
                break
            time.sleep(0.1)
        self.release.set()

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self._thread.join()


def _list(server: Any, videos_dir: Path, folder: Path, release: threading.Event) -> Path:
    clip = (videos_dir / "pyfeat_single_face.mp4").read_bytes()
    page = b"<html><body>" + b"<p>endless</p>" * 5000
    bomb = __import__("zlib").compressobj(9, 8, 31)
    gzip_bomb = b"".join(bomb.compress(bytes(1 << 20)) for _ in range(64)) + bomb.flush()
    rows = {
        "drip": server.route(
            "stall/drip.mp4", body=clip, content_type="video/mp4", byte_every_s=1, stop=release
        ),
        "endless": server.route("stall/endless.mp4", body=bytes(65536), repeat_for_s=30),
        "gzip": server.route(
            "stall/bomb.mp4", body=gzip_bomb, headers=(("Content-Encoding", "gzip"),)
        ),
        "page": server.route(
            "stall/page.html", body=page, content_type="text/html", repeat_for_s=30
        ),
        **{cohort: server.add_file(f"stall/{i}.mp4", clip) for i, cohort in enumerate(GOOD)},
    }
    video_list = folder / "videos.csv"
    video_list.write_text("url,cohort\n" + "".join(f"{u},{c}\n" for c, u in rows.items()))
    return video_list


def test_a_drip_holds_back_only_itself_and_finished_videos_are_committed(
    tmp_path: Path, http_server: Any, videos_dir: Path, model_cache_dir: Path, fer_weights
) -> None:
    release = threading.Event()
    video_list = _list(http_server, videos_dir, tmp_path, release)
    warehouse = tmp_path / "out"
    args = [
        str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(model_cache_dir),
        "--fps", "1", "--retries", "0", "--max-filesize", "1000000", "--min-rate", "0",
        "--unit-videos", "20", "--unit-seconds", "1",
    ]  # fmt: skip
    with _Watcher(warehouse, release) as watcher:
        summary = run(args)
    assert watcher.good_before_drip is True  # committed while the drip still streamed
    assert summary.videos_total == 7 and summary.videos_ok == 3
    with connect(str(warehouse)) as con:
        rows = con.execute("select cohort, status from internal.video_rows order by all").fetchall()
    assert len(rows) == 7
    assert {cohort for cohort, status in rows if status == "ok"} == set(GOOD)
