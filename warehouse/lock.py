"""One writer per warehouse: an advisory file lock held while a job changes it.

`analyze`, `refresh` and `forget` take the lock, so two jobs (a cron refresh that
overran into the next one, an analyst's manual run) never discard each other's staged
rows. It is a `flock` on a local file: the kernel drops it when the holder dies, even
by SIGKILL, so a killed job never leaves a stale lock behind. For a local warehouse
the file is `<warehouse>/.lock`; for a remote one (gs://, s3://) it lives in the local
cache, which serialises the jobs of one machine (separate machines need a scheduler
that runs one refresh at a time). The holder deletes the file before it lets go, so a
finished warehouse holds no lock file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from affectflow.warehouse.layout import is_remote, local_path

LOCK_NAME = ".lock"
EX_TEMPFAIL = 75  # sysexits.h "try again later": the exit status of a job that found the lock taken
_POLL_S = 0.5
_held: dict[str, int] = {}  # lock path -> nesting depth in this process


class WarehouseBusy(RuntimeError):
    """Another job holds the warehouse's lock."""


def lock_path(warehouse: str, cache_dir: str) -> Path:
    """The lock file of a warehouse: inside it when local, else in the local cache."""
    if not is_remote(warehouse):
        folder = Path(local_path(warehouse)).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / LOCK_NAME
    digest = hashlib.sha256(warehouse.rstrip("/").encode()).hexdigest()[:16]
    folder = Path(cache_dir).expanduser() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"warehouse-{digest}.lock"


def _holder(handle: int) -> str:
    """Who holds the lock, as its holder wrote it into the file."""
    try:
        raw = os.pread(handle, 4096, 0).decode("utf-8", errors="replace")
        info = json.loads(raw)
        return f"pid {info['pid']} on {info['host']} ({info['command']}) since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def warehouse_lock(
    warehouse: str, cache_dir: str, *, command: str, wait_s: float = 0.0
) -> Iterator[Path]:
    """Hold the warehouse's lock; raise WarehouseBusy if it is still taken after `wait_s`.

    Re-entrant within one process (refresh holds it while it runs analyze).
    """
    path = lock_path(warehouse, cache_dir)
    key = str(path.resolve())
    if _held.get(key):
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    handle = _acquire(path, warehouse, wait_s)
    try:
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        os.pwrite(handle, json.dumps({**info, "since": since}).encode(), 0)
        _held[key] = 1
        try:
            yield path
        finally:
            _held.pop(key, None)
            path.unlink(missing_ok=True)  # still held: no stub is left in the warehouse
    finally:
        os.close(handle)  # closing the descriptor releases the flock


def _acquire(path: Path, warehouse: str, wait_s: float) -> int:
    """An open descriptor of `path` holding its flock. The file is deleted by its holder on
    release, so a lock taken on a file already unlinked is dropped and taken again."""
    deadline = time.monotonic() + wait_s
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            os.close(handle)
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse {warehouse!r} is in use by {holder}; "
                    f"try again when it has finished (lock file {path})"
                ) from None
            time.sleep(_POLL_S)
            continue
        try:
            current = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if current:
            os.ftruncate(handle, 0)
            return handle
        os.close(handle)  # the previous holder deleted it: take the new file's lock
