"""Stage 6, units: each finished video's rows committed to the warehouse as the job goes.

`CommitUnits` applies one small `CollectFn` to every route that ends a video (its faces
rows, its summary, its failure, ...), each fused into the step that produces it: no
Flatten or GroupByKey, which batch runners (FnApiRunner, Dataflow) run only after
everything upstream has finished. The CollectFns of one bundle share a `UnitBuffer`
(per thread: a bundle runs on one thread). A video is finished when its summary or
failure arrived and every face it sent to inference came back (a faces row or an infer
error); finished videos are written as one unit (`warehouse.units.write_unit`) when
`max_videos` are ready or the oldest has waited `max_seconds`, and the rest at the end
of the bundle. A kill loses the videos in flight and the unit being filled, no more.

Each finished video's faces are smoothed along their tracks here (`smooth_s`), where all
its rows are at hand. A video with faces that failed inference is `failed` (its `errors`
rows, stage infer, say why; its classified faces are kept, as for a video whose decoding
broke off).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import apache_beam as beam

from affectflow.models.smoothing import smooth_track
from affectflow.schemas.records import (
    ErrorRecord,
    FaceCrop,
    RunInfo,
    Stage,
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
from affectflow.schemas.words import plural
from affectflow.transforms.metrics import counter
from affectflow.warehouse.units import new_unit_id, write_unit

PROGRESS = logging.getLogger("affectflow.progress")
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
    infer_failed: bool = False
    done: bool = False

    @property
    def finished(self) -> bool:
        return self.done and self.back >= self.sent


def _name(row: Row) -> str:
    """How a progress line names a video: its note, else the tail of its URL."""
    note = (row.get("attributes") or {}).get("note")
    if note:
        return str(note)[:60]
    url = str(row.get("url") or row.get("video_key") or "?")
    return url.rstrip("/").rsplit("/", 1)[-1][:60]


class UnitBuffer:
    """The finished and unfinished videos of the bundle running on this thread."""

    def __init__(self, settings: UnitSettings, run: RunInfo, smooth_s: float = 0.0) -> None:
        self._settings, self._run, self._smooth_s = settings, run, smooth_s
        self._counters = {status: counter(f"videos_{status}") for status in VideoStatus}
        self._units = counter("units_committed")
        self._reset()

    def _reset(self) -> None:
        self._open: dict[str, _Video] = {}
        self._ready: list[_Video] = []
        self._weight, self._rows, self._since = 0, 0, 0.0
        self._active, self._processing = 0, False

    def start(self) -> None:
        if self._processing:  # the last bundle on this thread failed: its rows are gone
            self._reset()
        self._active += 1

    def finish(self) -> None:
        self._active -= 1
        if self._active <= 0:
            for key, video in list(self._open.items()):
                logging.getLogger(__name__).warning("%s ended unfinished: written as is", key)
                self._finish(key, video)
            self._write()
            self._processing = False

    def add(self, role: Role, element: Any) -> None:
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
            video.done = True
            rows["videos"].append(summary_video_row(element, run))
        elif role is Role.SKIPPED:
            rows["videos"].append(skipped_video_row(element, run))
        else:  # a failure: of a video, of a list row, of a source (no videos row)
            video.done = True
            rows["errors"].append(error_row(element, run))
            if role is not Role.SOURCE_FAILED:
                rows["videos"].append(failed_video_row(element, run))

    def _finish(self, key: str | None, video: _Video) -> None:
        if self._smooth_s > 0 and video.rows["faces"]:
            video.rows["faces"] = smoothed(video.rows["faces"], self._smooth_s)
        if video.infer_failed:
            failures = [e for e in video.rows["errors"] if e["stage"] == str(Stage.INFER)]
            text = f"{Stage.INFER}: {failures[0]['message']} ({len(failures)} faces)"
            for row in video.rows["videos"]:
                row["status"], row["error"] = str(VideoStatus.FAILED), text
        for row in video.rows["videos"]:
            self._counters[VideoStatus(row["status"])].inc()
            self._report(row)
        if not self._ready:
            self._since = time.monotonic()
        self._ready.append(video)
        self._rows += sum(len(rows) for rows in video.rows.values())
        self._weight += 0 if key is None else 1

    def _report(self, row: Row) -> None:
        """One progress record: to the driver's journal when there is one, else a log line."""
        record = {
            "status": row["status"],
            "name": _name(row),
            "frames": row.get("frames_sampled"),
            "faces": row.get("faces_detected"),
            "tracks": row.get("tracks"),
            "seconds": row.get("seconds"),
            "error": row.get("error"),
        }
        journal = self._settings.journal
        if journal is None:
            PROGRESS.info("%s", progress_text(record))
            return
        handle = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:  # one write of one short line: appends of several workers never interleave
            os.write(handle, (json.dumps(record) + "\n").encode())
        finally:
            os.close(handle)

    def _write(self) -> None:
        if not self._ready:
            return
        unit_id = new_unit_id(self._run.run_id)
        tables: dict[str, list[Row]] = {"videos": [], "faces": [], "errors": []}
        for video in self._ready:
            for name, rows in video.rows.items():
                tables[name].extend({**row, "unit_id": unit_id} for row in rows)
        write_unit(self._settings.warehouse, self._run.run_id, unit_id, tables, len(self._ready))
        self._units.inc()
        self._ready, self._weight, self._rows = [], 0, 0


def progress_text(record: dict) -> str:
    """`ok <name> 312 frames, 290 face-frames, 2 persons, 8.1 s` (the part after `k/N`;
    a face-frame is one face in one sampled frame, a person one face track); a failed
    video's line ends with `: stage: message`, the text of its `errors` row."""
    text = f"{record['status']} {record['name']}"
    if record.get("frames") is not None:
        text += (
            f" {plural(record['frames'], 'frame')}, "
            f"{plural(record.get('faces') or 0, 'face-frame')}, "
            f"{plural(record.get('tracks') or 0, 'person')}, {record.get('seconds') or 0:.1f} s"
        )
    if record.get("error"):
        text += f": {record['error']}"
    return text


def _key(element: FaceCrop | VideoSummary | ErrorRecord) -> str:
    if isinstance(element, VideoSummary):
        return element.video.request.video_key
    return element.video_key  # type: ignore[return-value]


def smoothed(rows: list[Row], smooth_s: float) -> list[Row]:
    """A finished video's faces rows, each track smoothed (`models.smoothing.smooth_track`): the
    video's rows are all here, so no grouping step is needed (it would wait for the job)."""
    tracks: dict[int, list[Row]] = {}
    for row in rows:
        tracks.setdefault(row["track_id"], []).append(row)
    return [row for track in tracks.values() for row in smooth_track(track, smooth_s)]


_local = threading.local()


def buffer_for(settings: UnitSettings, run: RunInfo, smooth_s: float = 0.0) -> UnitBuffer:
    """This thread's buffer for `run` (the CollectFns of one bundle share it)."""
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (settings.warehouse, run.run_id)
    if key not in buffers:
        buffers[key] = UnitBuffer(settings, run, smooth_s)
    return buffers[key]


class CollectFn(beam.DoFn):
    """Hands each element of one route to this thread's `UnitBuffer`."""

    def __init__(self, role: Role, settings: UnitSettings, run: RunInfo, smooth_s: float) -> None:
        self._role, self._settings, self._run, self._smooth_s = role, settings, run, smooth_s

    def start_bundle(self) -> None:
        self._buffer = buffer_for(self._settings, self._run, self._smooth_s)
        self._buffer.start()

    def process(self, element: Any) -> Iterator[None]:
        self._buffer.add(self._role, element)
        return iter(())

    def finish_bundle(self) -> None:
        self._buffer.finish()


class CommitUnits(beam.PTransform):
    """{Role: PCollection or tuple of PCollections} -> rows committed in units; faces
    smoothed along their tracks over `smooth_s` seconds (0: not smoothed)."""

    def __init__(self, settings: UnitSettings, run: RunInfo, smooth_s: float = 0.0) -> None:
        super().__init__()
        self._settings, self._run, self._smooth_s = settings, run, smooth_s

    def expand(self, routes: dict) -> beam.pvalue.PDone:
        pipeline = None
        for role, pcolls in routes.items():
            for index, pcoll in enumerate(pcolls if isinstance(pcolls, tuple) else (pcolls,)):
                pipeline = pcoll.pipeline
                _ = pcoll | f"Collect_{role}_{index}" >> beam.ParDo(
                    CollectFn(Role(role), self._settings, self._run, self._smooth_s)
                )
        return beam.pvalue.PDone(pipeline)
