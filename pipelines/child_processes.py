"""The launcher's child processes (local workers, their downloads), found and stopped.

`--workers N` starts N worker processes (`local_workers`, each under a `/bin/sh -c`), and
every download runs in a child process of its own. A launcher that ends on a signal
must not leave them behind: left alone, a worker notices only seconds later that its
runner is gone and prints pages of gRPC tracebacks on the terminal. The tree is read
from /proc (Linux); where there is none, nothing is found and the workers end by
themselves once their runner's connection closes.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process /proc shows (empty without /proc)."""
    parents = {}
    try:
        entries = [entry for entry in os.listdir(PROC) if entry.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        try:
            stat = (PROC / entry / "stat").read_text()
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return parents


def descendants(pid: int | None = None) -> set[int]:
    """The pids of the children of `pid` (default: this process), theirs, and so on."""
    parents = _parents()
    found: set[int] = set()
    frontier = {os.getpid() if pid is None else pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_ended(pids: set[int], timeout_s: float) -> bool:
    """Wait until every pid has ended (gone, or a zombie), at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(_ended(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _ended(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def stop_descendants(sig: int = signal.SIGTERM) -> set[int]:
    """Send `sig` to every descendant of this process (a worker's default action on
    SIGTERM ends it at once, without output); returns the pids signalled."""
    signalled = set()
    for pid in descendants():
        try:
            os.kill(pid, sig)
            signalled.add(pid)
        except OSError:
            continue  # ended meanwhile
    return signalled
