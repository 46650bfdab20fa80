"""One progress record per finished video: to the driver's journal, else a log line.

Workers append one JSON line per finished video to the run's journal (a local file);
the launcher tails it (`pipelines.progress`) and prints `progress_text` of each.
"""

from __future__ import annotations

import json
import logging
import os

from affectflow.schemas.rows import Row
from affectflow.schemas.words import plural

PROGRESS = logging.getLogger("affectflow.progress")


def _name(row: Row) -> str:
    """How a progress line names a video: its note, else the tail of its URL."""
    note = (row.get("attributes") or {}).get("note")
    if note:
        return str(note)[:60]
    url = str(row.get("url") or row.get("video_key") or "?")
    return url.rstrip("/").rsplit("/", 1)[-1][:60]


def report_video(row: Row, journal: str | None) -> None:
    """One progress record of a finished video's `videos` row: a line of `journal`
    when there is one, else a log line."""
    record = {
        "status": row["status"],
        "name": _name(row),
        "frames": row.get("frames_sampled"),
        "faces": row.get("faces_detected"),
        "tracks": row.get("tracks"),
        "seconds": row.get("seconds"),
        "error": row.get("error"),
    }
    if journal is None:
        PROGRESS.info("%s", progress_text(record))
        return
    handle = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:  # one write of one short line: appends of several workers never interleave
        os.write(handle, (json.dumps(record) + "\n").encode())
    finally:
        os.close(handle)


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
