"""The downloaded-video cache: delete a video after analysis, forget one, cap the size.

`DownloadVideoFn(cache_dir)` keeps `<cache_dir>/videos/<video_key>.<ext>` and its
ledger `<video_key>.json`. A video whose file or ledger is gone is simply downloaded
again. Local files (`--allow-local`) never live in the cache and are never touched:
only names built from a validated video key inside the cache folder are deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam

from affectflow.models.cache import resolve_cache_dir
from affectflow.schemas.records import ErrorRecord, VideoSummary
from affectflow.schemas.settings import DownloadSettings
from affectflow.transforms.metrics import counter
from affectflow.transforms.workdirs import delete_partials
from affectflow.warehouse.layout import local_path

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


class ReleaseVideoFn(beam.DoFn):
    """After a video's faces were detected: delete its download, or enforce the size cap."""

    def __init__(self, settings: DownloadSettings) -> None:
        self._cache_dir = settings.cache_dir
        self._keep_videos = settings.keep_videos
        self._max_bytes = settings.cache_max_bytes

    def setup(self) -> None:
        self._videos = resolve_cache_dir(local_path(self._cache_dir) or None) / "videos"
        self._deleted = counter("videos_deleted")
        self._evicted = counter("videos_evicted")
        if self._max_bytes is not None and self._videos.is_dir():
            self._evicted.inc(len(evict_to_cap(self._videos, self._max_bytes)))

    def process(self, done: VideoSummary | ErrorRecord) -> Iterator[str]:
        if isinstance(done, VideoSummary):
            key, local = done.video.request.video_key, done.video.request.is_local
        else:
            key, local = done.video_key, False
        if local or not key or not VIDEO_KEY.match(key) or key.startswith("local-"):
            return
        if not self._keep_videos:
            if delete_cached_video(self._videos, key):
                self._deleted.inc()
                yield key
        elif self._max_bytes is not None:
            self._evicted.inc(len(evict_to_cap(self._videos, self._max_bytes)))


class ReleaseVideos(beam.PTransform):
    """(summaries, detect failures) -> `(released,)`: keys of the downloads deleted."""

    def __init__(self, settings: DownloadSettings) -> None:
        super().__init__()
        self._fn = ReleaseVideoFn(settings)

    def expand(self, routes: tuple[beam.PCollection, ...]) -> tuple[beam.PCollection]:
        # One ParDo per route, fused into the step that finishes the video: a video is
        # released as it finishes (a Flatten first would wait for the whole stage).
        released = [
            route | f"Release{index}" >> beam.ParDo(self._fn) for index, route in enumerate(routes)
        ]
        return (released | "Released" >> beam.Flatten(),)
