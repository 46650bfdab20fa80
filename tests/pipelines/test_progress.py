"""Progress: the launcher's per-video lines from the workers' journal, and its status line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from affectflow.pipelines.progress import Progress


def _append(journal: Path, **record: object) -> None:
    with journal.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def test_lines_count_from_the_committed_videos_and_skip_the_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="affectflow.progress")
    journal = tmp_path / "progress-2.jsonl"
    _append(journal, status="ok", name="from an earlier attempt")  # not this attempt's
    progress = Progress(5, journal=str(journal), warehouse=str(tmp_path), run_id="r", done_before=2)
    with progress:
        _append(journal, status="ok", name="talk.mp4", frames=312, faces=290, tracks=2, seconds=8.1)
        _append(journal, status="skipped", name="done before")
        _append(journal, status="failed", name="gone.mp4", error="download: HTTP Error 404")
    lines = [r.getMessage() for r in caplog.records if r.name == "affectflow.progress"]
    assert lines == [
        "3/5 ok talk.mp4 312 frames, 290 faces, 2 tracks, 8.1 s",
        "5/5 failed gone.mp4: download: HTTP Error 404",
    ]
    status = progress.status()
    assert status.startswith("status: 5/5 videos (1 failed, 1 ok, 1 skipped), ")
    assert "videos/min, ETA 0m00s" in status
