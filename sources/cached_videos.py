"""The video cache's files, without Beam: a video's cached media and ledger by key,
its unfinished downloads, and eviction to a size cap (`transforms.video_cache` releases
videos in the graph; `affectflow forget` deletes one).

    <cache_dir>/videos/<video_key>.<ext>    the media, <video_key>.json its ledger
    <cache_dir>/tmp/<video_key>-<random>/   one download's work folder
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

VIDEO_KEY = re.compile(r"^(?:youtube|url|local)-[A-Za-z0-9_-]{1,64}$")
LEDGER_SUFFIX = ".json"


def check_video_key(video_key: str) -> str:
    """`video_key` if it is a key affectflow makes (path-safe); ValueError otherwise."""
    if not VIDEO_KEY.match(video_key):
        raise ValueError(
            f"{video_key[:80]!r} is not a video key (youtube-<id>, url-<hash> or local-<hash>)"
        )
    return video_key


def cached_files(videos_dir: Path, video_key: str) -> list[Path]:
    """The cached media file(s) and ledger of one video, media first."""
    names = [p for p in videos_dir.glob(f"{check_video_key(video_key)}.*") if p.is_file()]
    return sorted(names, key=lambda p: (p.suffix == LEDGER_SUFFIX, p.name))


def delete_cached_video(videos_dir: Path, video_key: str, *, partials: bool = False) -> list[Path]:
    """Delete a video's cached file and ledger, and with `partials` its unfinished
    downloads in `<cache_dir>/tmp/` too (`forget`); returns what was deleted."""
    deleted = []
    for path in cached_files(videos_dir, video_key):
        path.unlink(missing_ok=True)
        deleted.append(path)
    if partials:
        deleted += delete_partials(videos_dir.parent / "tmp", video_key)
    return deleted


def _media(videos_dir: Path) -> list[tuple[float, int, Path]]:
    found = []
    for path in videos_dir.glob("*.*"):
        if path.suffix in (LEDGER_SUFFIX, ".partial") or not VIDEO_KEY.match(path.stem):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((stat.st_mtime, stat.st_size, path))
    return sorted(found)


def evict_to_cap(videos_dir: Path, max_bytes: int) -> list[str]:
    """Delete the oldest cached videos until the cache holds at most `max_bytes`."""
    media = _media(videos_dir)
    total = sum(size for _, size, _ in media)
    evicted = []
    for _, size, path in media:
        if total <= max_bytes:
            break
        delete_cached_video(videos_dir, path.stem)
        total -= size
        evicted.append(path.stem)
    return evicted


def delete_partials(tmp: Path, video_key: str) -> list[Path]:
    """Delete every work folder of `video_key` (a validated key); returns them."""
    folders = [p for p in tmp.glob(f"{video_key}-*") if p.is_dir()] if tmp.is_dir() else []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return folders
