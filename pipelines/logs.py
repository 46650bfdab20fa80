"""The one logging set-up of affectflow's processes: the CLI and its local worker processes.

Warnings and errors go to stderr as `time LEVEL logger: message`; affectflow's own INFO
lines only with `verbose`; each video's progress line (`affectflow.progress`) as
`[affectflow] ...` (with `verbose`, or `progress`). Beam's INFO chatter, a few warnings
that say nothing about the job (`BEAM_NOISE`), the runner's copies of what worker
processes log and the tracebacks of Beam's error lines are dropped. Every line is
`printable` (`PrintableFormatter`): a value from a list or a server (a note, a page's
error text) cannot send escape sequences or bidi controls to the terminal.
"""

from __future__ import annotations

import logging
import sys

from affectflow.schemas.printable import printable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PROGRESS_FORMAT = "[affectflow] %(message)s"
PROGRESS_LOGGER = "affectflow.progress"

# Warnings Beam logs on every local run, or every worker start, that say nothing about the job.
BEAM_NOISE = (
    "apitools not found",
    "Resource module is not available",
    "No semi_persistent_directory found",
    "If direct_num_workers is not equal to 1",
)
# Beam's runner logs again what its worker processes log ("Worker: ..."); the
# workers print it themselves (`local_workers`), once.
FORWARDED_LOGGER = "apache_beam.runners.portability.local_job_service"
FORWARDED_PREFIX = "Worker: "


class PrintableFormatter(logging.Formatter):
    """A formatter whose lines are `printable` (newlines and tabs of a traceback kept)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), newlines=True)


def shown(record: logging.LogRecord) -> bool:
    """Whether a record reaches stderr: no Beam noise, no forwarded worker copies. Beam's
    errors lose their traceback (a step that failed: the job's last line says what)."""
    message = str(record.msg)
    if record.name == FORWARDED_LOGGER and message.startswith(FORWARDED_PREFIX):
        return False
    if record.name.startswith("apache_beam") and record.exc_info:
        record.exc_info, record.exc_text = None, None
    return not message.startswith(BEAM_NOISE)


def _warning_or_affectflow(record: logging.LogRecord) -> bool:
    """Below WARNING only affectflow's own records (Beam's workers log at INFO)."""
    return record.levelno >= logging.WARNING or record.name.startswith("affectflow")


class _ProgressHandler(logging.StreamHandler):
    """Prints `affectflow.progress` records as `[affectflow] ...` to the current stderr."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(PrintableFormatter(PROGRESS_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the current one (a test's capture, a redirected stderr)
        super().emit(record)


def setup_logging(verbose: bool, progress: bool | None = None) -> None:
    """Configure this process's logging; a second call replaces what the first added.

    `verbose`: affectflow's INFO lines too; `progress`: the per-video lines (default:
    as `verbose`). A root handler already there (pytest's) is kept, and filtered.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PrintableFormatter(FORMAT))
        handler.addFilter(_warning_or_affectflow)
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    for handler in root.handlers:
        if shown not in handler.filters:
            handler.addFilter(shown)
    logging.getLogger("affectflow").setLevel(logging.INFO if verbose else logging.WARNING)
    lines = logging.getLogger(PROGRESS_LOGGER)
    lines.setLevel(logging.INFO if (verbose if progress is None else progress) else logging.WARNING)
    lines.propagate = False
    for handler in [h for h in lines.handlers if isinstance(h, _ProgressHandler)]:
        lines.removeHandler(handler)
    lines.addHandler(_ProgressHandler())


def phase(text: str) -> None:
    """Say what a job is doing while no video has finished yet (loading, listing, ...):
    an `[affectflow] ...` line (with the per-video lines; not with `--quiet`)."""
    logging.getLogger(PROGRESS_LOGGER).info("%s", text)
