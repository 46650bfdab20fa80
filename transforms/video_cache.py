"""The downloaded-video cache: delete a video after analysis, forget one, cap the size.

The cache's files (by key, eviction) are `sources.cached_videos`'s.
`DownloadVideoFn(cache_dir)` keeps `<cache_dir>/videos/<video_key>.<ext>` and its
ledger `<video_key>.json`. A video whose file or ledger is gone is simply downloaded
again. Local files (`--allow-local`) never live in the cache and are never touched:
only names built from a validated video key inside the cache folder are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from affectflow.models.cache import resolve_cache_dir
from affectflow.schemas.records import ErrorRecord, VideoSummary
from affectflow.schemas.settings import DownloadSettings
from affectflow.sources.cached_videos import (
    VIDEO_KEY,
    check_video_key,
    delete_cached_video,
    evict_to_cap,
)
from affectflow.transforms.metrics import counter
from affectflow.warehouse.layout import local_path

__all__ = ["VIDEO_KEY", "ReleaseVideoFn", "ReleaseVideos", "check_video_key", "delete_cached_video"]
__all__ += ["evict_to_cap"]


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
