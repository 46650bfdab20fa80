"""Live progress of a running job, printed by the launching process, and Ctrl-C.

Workers append one JSON line per finished video to the run's journal
(`transforms.units`, a local file: local runners, `--workers N` included); `Progress`
tails it in a thread and prints `[affectflow] 37/5000 ok <name> 312 frames, ...` per
video and, every `interval_s`, a status line with the counts, videos/min and the ETA.
Without a journal (a remote warehouse: the workers log their own lines) the status line
counts the committed units instead. On a terminal (stderr a TTY, the per-video lines on)
a tqdm bar shows k/N, the rate and the ETA under the lines (printed above it, as every
log line while it is shown) and replaces the status lines; elsewhere (cron logs, pipes)
the plain lines only. `interrupt_on_signals` turns Ctrl-C and SIGTERM into
one line and exit status 130: the committed units stay, the rest is cleaned up by the
next run of the same command, which continues.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from affectflow.pipelines.child_processes import stop_descendants, wait_ended
from affectflow.transforms.progress_journal import progress_text
from affectflow.warehouse.units import committed_videos

PROGRESS = logging.getLogger("affectflow.progress")
# What the bar says until the first video is done: the workers start, each loads the
# models, and the first downloads and detections run.
WAITING = "starting workers, loading models, first downloads"
EXIT_INTERRUPTED = 130
_POLL_S = 0.2
STOP_WAIT_S = 10.0


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m{int(seconds) % 60:02d}s"


class Progress:
    """Prints progress while a job runs (`with Progress(...):`)."""

    def __init__(
        self,
        total: int,
        *,
        journal: str | None,
        warehouse: str,
        run_id: str,
        done_before: int = 0,
        interval_s: float = 30.0,
    ) -> None:
        self._total, self._journal, self._interval = total, journal, interval_s
        self._warehouse, self._run_id = warehouse, run_id
        self._done, self._offset = done_before, 0
        self._analysed = 0
        self._statuses: collections.Counter[str] = collections.Counter()
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="affectflow-progress", daemon=True)
        self._bar: tqdm | None = None
        self._shown = contextlib.ExitStack()

    def __enter__(self) -> Progress:
        if self._journal and os.path.exists(self._journal):
            self._offset = os.path.getsize(self._journal)  # lines of an earlier attempt
        if self._done == 0:
            PROGRESS.info("%s ...", WAITING)
        if self._journal and sys.stderr.isatty() and PROGRESS.isEnabledFor(logging.INFO):
            self._bar = self._shown.enter_context(
                tqdm(total=self._total, initial=self._done, unit="video", file=sys.stderr)
            )
            self._bar.set_description_str(WAITING)
            self._shown.enter_context(logging_redirect_tqdm([logging.getLogger(), PROGRESS]))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read()
        self._shown.close()

    def _loop(self) -> None:
        last_status = time.monotonic()
        while not self._stop.wait(_POLL_S):
            self._read()
            if self._bar is None and time.monotonic() - last_status >= self._interval:
                last_status = time.monotonic()
                PROGRESS.info("%s", self.status())

    def _read(self) -> None:
        if not self._journal or not os.path.exists(self._journal):
            return
        with open(self._journal, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            self._line(json.loads(line))

    def _line(self, record: dict) -> None:
        self._done += 1
        self._statuses[record["status"]] += 1
        if self._bar is not None:
            self._bar.set_description_str("", refresh=False)
            self._bar.update(1)
        if record["status"] != "skipped":  # a rerun of a long list: one status line, not N
            self._analysed += 1
            PROGRESS.info("%d/%d %s", self._done, self._total, progress_text(record))

    def status(self) -> str:
        """`status: 812/5000 videos (790 ok, ...), 3.1 videos/min, ETA 1h10m`."""
        elapsed = time.monotonic() - self._started
        if not self._journal:
            self._done = committed_videos(self._warehouse, self._run_id)
            return f"status: {self._done}/{self._total} videos committed after {_duration(elapsed)}"
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self._statuses.items()))
        rate = self._analysed / elapsed * 60 if elapsed > 0 else 0.0
        left = max(self._total - self._done, 0)
        eta = _duration(left / rate * 60) if rate > 0 else "unknown"
        return (
            f"status: {self._done}/{self._total} videos ({counts or 'none yet'}), "
            f"{rate:.1f} videos/min, ETA {eta}"
        )


@contextlib.contextmanager
def interrupt_on_signals(message: Callable[[], str]) -> Iterator[None]:
    """On SIGINT or SIGTERM: stop the child processes, print `message()` on stderr and
    exit 130 at once.

    The process ends without unwinding Beam's threads (which would print pages of
    tracebacks); the warehouse lock is a flock, released by the kernel. Its workers and
    downloads get SIGTERM first, so a signal sent to the launcher alone leaves none
    behind, and are waited for (up to `STOP_WAIT_S`: a worker commits the videos it
    finished, `pipelines.worker`); what the runner's threads then log or raise about them
    is silenced. `message()` runs last (analyze's commits this process's finished videos
    and counts the committed ones). Only in
    the main thread (signals cannot be handled elsewhere).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        try:  # the exit must happen whatever fails here (a closed stderr: a pipe's reader gone)
            logging.disable(logging.CRITICAL)
            threading.excepthook = lambda args: None
            wait_ended(stop_descendants(), STOP_WAIT_S)  # workers commit what they finished
            try:
                text = message()
            except Exception as error:
                text = f"interrupted ({error}); run the same command again to continue"
            newline = "\n" if sys.stderr.isatty() else ""  # below a progress bar
            sys.stderr.write(f"{newline}affectflow analyze: {text}\n")
            sys.stderr.flush()
        finally:
            os._exit(EXIT_INTERRUPTED)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
