"""What an interrupted run's staging folder holds that names videos, and how `forget`
removes a video from it.

`_staging/<run_id>/` keeps, until the run is committed or dropped, the progress journals
of its attempts (`progress-<attempt>.jsonl`: one line per finished video, with its name
and error text) and, for a refresh, its gathered input (`input/listed.jsonl`: every
request and invalid row, URLs included). A journal is read only while its own attempt
runs (a later attempt writes a new one), so `forget`, which holds the warehouse's lock
(no attempt runs), deletes them whole; the input keeps every line but the video's, so a
resumed run still reads the rest.
"""

from __future__ import annotations

import json

from affectflow.warehouse import layout

JOURNAL_PATTERN = "progress-*.jsonl"


def _names_video(line: bytes, video_key: str, urls: frozenset[str]) -> bool:
    """Whether one `listed.jsonl` line is the video's (its key, or a keyless URL of it)."""
    try:
        record = json.loads(line).get("record") or {}
    except (ValueError, AttributeError):
        return False
    key = record.get("video_key")
    return key == video_key or (key is None and record.get("url") in urls)


def _without_video(path: str, video_key: str, urls: frozenset[str]) -> int:
    """Rewrite one `listed.jsonl` without the video's lines; returns how many went."""
    with layout.open_read(path) as handle:
        lines = handle.read().splitlines(keepends=True)
    kept = [line for line in lines if not _names_video(line, video_key, urls)]
    if len(kept) < len(lines):
        with layout.write_atomically(path) as handle:
            handle.write(b"".join(kept))
    return len(lines) - len(kept)


def forget_in_staging(warehouse: str, video_key: str, urls: frozenset[str] = frozenset()) -> int:
    """Delete every staged run's progress journals, and the video's lines (by key, or a
    keyless row's URL in `urls`) from their gathered input; returns the lines removed
    from inputs."""
    staging = layout.join(warehouse, layout.STAGING)
    if not layout.exists(staging):
        return 0
    journals = layout.files(layout.join(staging, "*", JOURNAL_PATTERN))
    if journals:
        layout.delete(journals)
    inputs = layout.files(layout.join(staging, "*", "input", "listed.jsonl"))
    return sum(_without_video(path, video_key, urls) for path in inputs)
