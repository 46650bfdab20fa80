"""What a command prints when a whole job fails: one line saying what to fix.

A failed video is data (a row); a job that cannot go on (a read-only or full disk, a
bug) exits 2 with this line, never with a traceback (the log keeps it at debug level).
"""

from __future__ import annotations

import errno
import logging
import re
import sys

from affectflow.schemas.records import PREFLIGHT

LOG = logging.getLogger(__name__)


def job_failure(error: BaseException) -> str:
    """One line saying what stopped a job and what to do about it."""
    text = str(error)
    if PREFLIGHT in text:  # a worker's own line, however the runner wrapped it
        line = text.split(PREFLIGHT, 1)[1].splitlines()[0]
        return PREFLIGHT + re.sub(r" \[while running '[^']*'\]$", "", line)[:500]
    cause = next((e for e in _chain(error) if isinstance(e, OSError)), None)
    if cause is None:
        text = str(error).strip().splitlines()
        return f"the job failed: {type(error).__name__}: {text[-1] if text else ''}"[:500]
    where = f" {cause.filename}" if cause.filename else ""
    hints = {
        errno.ENOSPC: "free disk space, or choose another --warehouse / --cache-dir",
        errno.EDQUOT: "free disk space, or choose another --warehouse / --cache-dir",
        errno.EROFS: "choose a writable --warehouse / --cache-dir",
        errno.EACCES: "make it writable, or choose another --warehouse / --cache-dir",
        errno.EPERM: "make it writable, or choose another --warehouse / --cache-dir",
    }
    hint = hints.get(cause.errno or 0, "check the path and try again")
    return f"cannot write{where}: {cause.strerror or cause}: {hint}"


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def failed_exit(command: str, error: Exception) -> int:
    """Print why a job `command` stopped (one line) and return its exit status: 75
    (EX_TEMPFAIL) when another job holds the warehouse's lock, else 2."""
    from affectflow.schemas.printable import printable
    from affectflow.warehouse.lock import EX_TEMPFAIL, WarehouseBusy

    if isinstance(error, WarehouseBusy):
        print(printable(f"affectflow {command}: {error}"), file=sys.stderr)
        return EX_TEMPFAIL
    LOG.debug("the %s job failed", command, exc_info=error)
    print(printable(f"affectflow {command}: {job_failure(error)}"), file=sys.stderr)
    return 2
