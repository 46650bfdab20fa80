"""Progress: the launcher's per-video lines from the workers' journal, and its status line."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import select
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from affectflow.pipelines.logs import setup_logging
from affectflow.pipelines.progress import WAITING, Progress


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
        "3/5 ok talk.mp4 312 frames, 290 face-frames, 2 persons, 8.1 s",
        "5/5 failed gone.mp4: download: HTTP Error 404",
    ]
    status = progress.status()
    assert status.startswith("status: 5/5 videos (1 failed, 1 ok, 1 skipped), ")
    assert "videos/min, ETA 0m00s" in status


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.5)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode()


def test_on_a_terminal_a_bar_shows_below_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr a pseudo-terminal: the per-video lines as in a log, above a tqdm bar with
    k/N, the rate and the ETA."""
    controller, terminal_fd = os.openpty()
    fcntl.ioctl(terminal_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 cols
    terminal = os.fdopen(terminal_fd, "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", terminal)
    setup_logging(verbose=False, progress=True)  # as the CLI does, on this stderr
    journal = tmp_path / "progress-1.jsonl"
    with Progress(3, journal=str(journal), warehouse=str(tmp_path), run_id="r"):
        _append(journal, status="ok", name="talk.mp4", frames=312, faces=290, tracks=2, seconds=8.1)
        _append(journal, status="no_faces", name="empty.mp4", frames=20, seconds=0.4)
        time.sleep(0.5)  # read while the bar is shown
    terminal.flush()
    shown = _read_all(controller)
    terminal.close()
    os.close(controller)
    assert "[affectflow] 1/3 ok talk.mp4 312 frames, 290 face-frames, 2 persons, 8.1 s" in shown
    assert "[affectflow] 2/3 no_faces empty.mp4 20 frames, 0 face-frames, 0 persons, 0.4 s" in shown
    bars = re.findall(r"\| (\d)/3 \[\d\d:\d\d<[\d:?]+, +[\d.?]+ ?(?:video/s|s/video)\]", shown)
    assert bars and bars[-1] == "2", shown
    assert shown.index("1/3 ok talk.mp4") < shown.rindex("| 2/3 [")  # lines above the bar
    # until the first video is done, the line and the bar say what the job is doing
    assert f"[affectflow] {WAITING} ..." in shown and f"{WAITING}:" in shown
    assert shown.index(WAITING) < shown.index("1/3 ok talk.mp4")
