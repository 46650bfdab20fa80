"""The unit writer's buffer: one bundle's videos collected by key, written only whole.

See `transforms.units` (the graph side: `CommitUnits`, one `CollectFn` per route) for
when a video is whole, what happens to one that is not, and when a unit closes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from enum import StrEnum
from typing import Any

from affectflow.models.smoothing import smooth_track
from affectflow.schemas.records import (
    ErrorRecord,
    FaceCrop,
    RunInfo,
    Stage,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)
from affectflow.schemas.rows import (
    Row,
    error_row,
    failed_video_row,
    skipped_video_row,
    summary_video_row,
)
from affectflow.schemas.settings import UnitSettings
from affectflow.transforms import unit_clock
from affectflow.transforms.metrics import counter
from affectflow.transforms.progress_journal import report_video
from affectflow.warehouse.units import new_unit_id, write_unit

LOG = logging.getLogger(__name__)
MAX_UNIT_ROWS = 10_000  # rows of instant outcomes (skipped, bad rows) in one unit


class Role(StrEnum):
    """What a route brings to the video it belongs to."""

    FACE_SENT = "face_sent"  # FaceCrop: one more face the video waits for
    FACE = "face"  # a faces row
    FACE_FAILED = "face_failed"  # ErrorRecord of one face (stage infer)
    ANALYSED = "analysed"  # VideoSummary: the video's own row
    VIDEO_FAILED = "video_failed"  # ErrorRecord of a video (download, frames, faces)
    SKIPPED = "skipped"  # VideoRequest done by an earlier run
    ROW_FAILED = "row_failed"  # ErrorRecord of a bad list row: an error and a failed video
    SOURCE_FAILED = "source_failed"  # ErrorRecord of a source: an errors row only


INSTANT = (Role.SKIPPED, Role.ROW_FAILED, Role.SOURCE_FAILED)


@dataclasses.dataclass
class _Video:
    """The rows of one input row collected so far."""

    rows: dict[str, list[Row]] = dataclasses.field(
        default_factory=lambda: {"videos": [], "faces": [], "errors": []}
    )
    sent: int = 0
    back: int = 0
    expected: int = 0  # faces its summary says it detected
    infer_failed: bool = False
    origin: VideoRequest | ErrorRecord | None = None  # what ended it (its row's source)

    @property
    def done(self) -> bool:
        return self.origin is not None

    @property
    def waited_for(self) -> int:
        return max(self.sent, self.expected)

    @property
    def finished(self) -> bool:
        return self.done and self.back >= self.waited_for


class UnitBuffer:
    """The finished and unfinished videos of the bundle running on this thread.

    `add` and `finish` run on the bundle's thread; `tick` and `flush` on the clock's or
    the interrupt handler's: a lock keeps them apart.
    """

    def __init__(self, settings: UnitSettings, run: RunInfo) -> None:
        self._settings, self._run = settings, run
        self._counters = {status: counter(f"videos_{status}") for status in VideoStatus}
        self._units = counter("units_committed")
        self._orphaned = counter("faces_orphaned")
        self._lock = threading.RLock()
        self._ready: list[_Video] = []
        self._weight, self._rows, self._since = 0, 0, 0.0
        self._reset()
        unit_clock.register(self)

    def _reset(self) -> None:
        self._open: dict[str, _Video] = {}
        self._active, self._processing = 0, False

    def start(self) -> None:
        with self._lock:
            if self._processing:  # the last bundle on this thread failed before its end:
                self._write()  # its finished videos are kept, its unfinished ones redone
                self._reset()
            self._active += 1

    def finish(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active <= 0:
                for key, video in list(self._open.items()):
                    self._close_incomplete(key, video)
                self._open.clear()
                self._write()
                self._processing = False

    def tick(self) -> None:
        """Write the ready videos once the oldest has waited `max_seconds` (the clock)."""
        with self._lock:
            if self._ready and time.monotonic() - self._since >= self._settings.max_seconds:
                self._write()

    def flush(self, timeout_s: float) -> None:
        """Write the ready videos now (an interrupt), waiting at most `timeout_s` for the
        bundle's thread."""
        if self._lock.acquire(timeout=timeout_s):
            try:
                self._write()
            finally:
                self._lock.release()

    def add(self, role: Role, element: Any) -> None:
        with self._lock:
            self._processing = True
            if role in INSTANT:
                video = _Video()
                self._take(video, role, element)
                self._finish(None, video)
            else:
                key = element["video_key"] if isinstance(element, dict) else _key(element)
                video = self._open.setdefault(key, _Video())
                self._take(video, role, element)
                if video.finished:
                    self._finish(key, self._open.pop(key))
            if self._ready and (
                self._weight >= self._settings.max_videos
                or self._rows >= MAX_UNIT_ROWS
                or time.monotonic() - self._since >= self._settings.max_seconds
            ):
                self._write()

    def _take(self, video: _Video, role: Role, element: Any) -> None:
        run, rows = self._run, video.rows
        if role is Role.FACE_SENT:
            video.sent += 1
        elif role is Role.FACE:
            video.back += 1
            rows["faces"].append(element)
        elif role is Role.FACE_FAILED:
            video.back += 1
            video.infer_failed = True
            rows["errors"].append(error_row(element, run))
        elif role is Role.ANALYSED:
            video.origin, video.expected = element.video.request, element.faces_detected
            rows["videos"].append(summary_video_row(element, run))
        elif role is Role.SKIPPED:
            rows["videos"].append(skipped_video_row(element, run))
        else:  # a failure: of a video, of a list row, of a source (no videos row)
            video.origin = element
            rows["errors"].append(error_row(element, run))
            if role is not Role.SOURCE_FAILED:
                rows["videos"].append(failed_video_row(element, run))

    def _close_incomplete(self, key: str, video: _Video) -> None:
        """At the end of a bundle: a video missing pieces fails with stage commit (none of
        its faces written); pieces without their video are dropped (counted)."""
        if not video.done:
            self._orphaned.inc(len(video.rows["faces"]))
            LOG.warning(
                "%s: %d faces rows reached the writer without their video: dropped (the "
                "bundle holding its row fails it)", key, len(video.rows["faces"]),
            )  # fmt: skip
            return
        message = (
            f"{video.back} of {video.waited_for} faces reached the writer with the video's "
            "row (the runner split its steps across bundles): not written, run again"
        )
        origin = video.origin
        if isinstance(origin, VideoRequest):  # analysed: its row becomes the failure
            error = ErrorRecord.for_request(
                origin, Stage.COMMIT, message, retryable=True, error_class="IncompleteVideo"
            )
            video.rows["videos"] = [failed_video_row(error, self._run)]
            video.infer_failed = False
        else:  # failed already: its row stays, its faces are left out
            error = dataclasses.replace(
                origin, stage=Stage.COMMIT, message=message, retryable=True,
                error_class="IncompleteVideo",
            )  # fmt: skip
        video.rows["faces"] = []
        video.rows["errors"].append(error_row(error, self._run))
        self._finish(key, video)

    def _finish(self, key: str | None, video: _Video) -> None:
        settings = self._settings
        if (settings.smooth_s > 0 or settings.smooth_margin > 0) and video.rows["faces"]:
            video.rows["faces"] = smoothed(
                video.rows["faces"], settings.smooth_s, settings.smooth_margin
            )
        if video.infer_failed:
            failures = [e for e in video.rows["errors"] if e["stage"] == str(Stage.INFER)]
            text = f"{Stage.INFER}: {failures[0]['message']} ({len(failures)} faces)"
            for row in video.rows["videos"]:
                row["status"], row["error"] = str(VideoStatus.FAILED), text
        for row in video.rows["videos"]:
            self._counters[VideoStatus(row["status"])].inc()
            report_video(row, self._settings.journal)
        if not self._ready:
            self._since = time.monotonic()
        self._ready.append(video)
        self._rows += sum(len(rows) for rows in video.rows.values())
        self._weight += 0 if key is None else 1

    def _write(self) -> None:
        """Write the ready videos as one unit. They leave the buffer first: a write cut
        short by an interrupt (whose handler then flushes) is not written twice."""
        if not self._ready:
            return
        ready, weight, rows_in = self._ready, self._weight, self._rows
        self._ready, self._weight, self._rows = [], 0, 0
        unit_id = new_unit_id(self._run.run_id)
        tables: dict[str, list[Row]] = {"videos": [], "faces": [], "errors": []}
        for video in ready:
            for name, rows in video.rows.items():
                tables[name].extend({**row, "unit_id": unit_id} for row in rows)
        try:
            write_unit(self._settings.warehouse, self._run.run_id, unit_id, tables, len(ready))
        except Exception:  # kept for the next try (the bundle's end reports the error)
            self._ready = ready + self._ready
            self._weight, self._rows = self._weight + weight, self._rows + rows_in
            raise
        self._units.inc()


def _key(element: FaceCrop | VideoSummary | ErrorRecord) -> str:
    if isinstance(element, VideoSummary):
        return element.video.request.video_key
    return element.video_key  # type: ignore[return-value]


def smoothed(rows: list[Row], smooth_s: float, margin: float) -> list[Row]:
    """A finished video's faces rows, each track smoothed (`models.smoothing.smooth_track`): the
    video's rows are all here, so no grouping step is needed (it would wait for the job)."""
    tracks: dict[int, list[Row]] = {}
    for row in rows:
        tracks.setdefault(row["track_id"], []).append(row)
    return [row for track in tracks.values() for row in smooth_track(track, smooth_s, margin)]
