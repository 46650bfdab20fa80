"""Download work folders in `<cache_dir>/tmp/`: held while in use, swept when abandoned.

yt-dlp writes each download into its own folder `<video_key>-<random>/`. The folder
holds a `.lock` file that its download keeps `flock`ed; the kernel drops the lock when
the process dies, even by SIGKILL, so the next job (`sweep_stale_workdirs`) tells an
abandoned partial download from one in progress in another process and deletes it.
`forget` deletes a video's partials by name (`sources.cached_videos.delete_partials`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from affectflow.sources.fetch_errors import FetchError

LOG = logging.getLogger(__name__)
LOCK_NAME = ".lock"
# A folder without a lock file yet is left alone this long (it is being created).
_UNLOCKED_GRACE_S = 60.0


@contextlib.contextmanager
def workdir(tmp: Path, video_key: str) -> Iterator[Path]:
    """A fresh work folder for one download, locked while the block runs, then deleted."""
    folder = Path(tempfile.mkdtemp(prefix=f"{video_key}-", dir=tmp))
    handle = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(handle)


def _abandoned(folder: Path) -> bool:
    lock = folder / LOCK_NAME
    try:
        handle = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > _UNLOCKED_GRACE_S
        except FileNotFoundError:
            return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False  # a download in progress holds it
    finally:
        os.close(handle)


def sweep_stale_workdirs(tmp: Path) -> list[str]:
    """Delete the work folders no live download holds (partials of killed jobs)."""
    swept = []
    for folder in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder.name)
    if swept:
        LOG.info("deleted %d partial downloads of earlier jobs", len(swept))
    return swept


ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "the disk of {} is full: free space or choose another --cache-dir",
    errno.EDQUOT: "the disk quota of {} is used up",
    errno.EROFS: "{} is read-only: choose another --cache-dir",
    errno.EACCES: "no permission to write {}",
    errno.EIO: "the disk of {} failed to read or write",
}


def environment_error(error: BaseException, cache_dir: str) -> FetchError | None:
    """A fault of the machine, not of the video (disk full, read-only): retryable.
    None for any other error."""
    if not isinstance(error, OSError) or error.errno not in ENVIRONMENT_ERRNOS:
        return None
    hint = ENVIRONMENT_ERRNOS[error.errno].format(cache_dir)
    name = errno.errorcode[error.errno]
    return FetchError(f"{hint} ({error.strerror or error})", retryable=True, error_class=name)
