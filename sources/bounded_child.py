"""Work run in a child process that the parent watches and kills: time, rate and memory.

yt-dlp checks its socket timeout only per read and keeps a page it reads in memory, so
a server can drip one byte a second or feed an endless page. A fetch or a listing
therefore runs in a child process (forked: the extractors, options and callables of
the parent need no pickling) that the parent watches and kills:

- wall time: `timeout_s` for the whole work (extraction and download);
- rate: under `min_rate` bytes/s once `rate_grace_s` has passed since the first byte
  arrived. The child counts bytes as they arrive, on every read of a socket
  (`count_socket_reads`), not as yt-dlp reports written blocks: a server that sends one
  byte a second never completes a block, so it would never be measured;
- memory: the child's address space may grow by `memory_bytes` only.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from affectflow.sources.fetch_errors import FetchError

T = TypeVar("T")
_POLL_S = 0.2
_MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class FetchLimits:
    """What one fetch or listing may cost before it is stopped (see the module doc;
    `max_bytes` and `allow_private` are `bounded_fetch`'s)."""

    timeout_s: float = 300.0
    min_rate: float = 0.0
    rate_grace_s: float = 30.0
    max_bytes: int | None = None
    memory_bytes: int = 1024 * _MIB
    allow_private: bool = False


def _limit_memory(extra_bytes: int) -> None:
    """Let this process's address space grow by `extra_bytes` at most (Linux)."""
    try:
        import resource

        with open("/proc/self/statm") as handle:
            size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            size + extra_bytes if hard == resource.RLIM_INFINITY else min(hard, size + extra_bytes)
        )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError, ImportError):
        pass  # no /proc or no rlimits: time and bytes still bound the work


def count_socket_reads(progress: Any) -> None:
    """In this (child) process, add the bytes of every socket read to `progress[0]`, and
    note when the first arrived in `progress[1]` (monotonic seconds).

    Every HTTP response (http.client's and urllib3's, TLS included: yt-dlp's handlers)
    reads its socket through `socket.SocketIO.readinto`, one receive at a time.
    """
    original = socket.SocketIO.readinto

    def readinto(self: socket.SocketIO, buffer: Any) -> int | None:
        count = original(self, buffer)
        if count:
            if not progress[1]:
                progress[1] = time.monotonic()
            progress[0] += count
        return count

    socket.SocketIO.readinto = readinto  # type: ignore[method-assign]


def _child(sender: Any, progress: Any, work: Callable[[Any], Any], limits: FetchLimits) -> None:
    """The child's whole life: the work, its outcome sent to the parent."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # not the launcher's interrupt handler
        signal.signal(sig, signal.SIG_DFL)
    signal.alarm(int(limits.timeout_s) + 30)  # never outlive a parent killed by SIGKILL
    _limit_memory(limits.memory_bytes)
    count_socket_reads(progress)
    try:
        outcome: tuple = ("ok", work(progress))
    except FetchError as error:
        outcome = ("error", error.message, error.retryable, error.error_class)
    except MemoryError:
        mib = limits.memory_bytes // _MIB
        message = f"the fetch needed over {mib} MiB of memory (an endless or huge page?)"
        outcome = ("error", message, False, "MemoryLimitExceeded")
    sender.send(outcome)


def run_bounded(work: Callable[[Any], T], limits: FetchLimits, *, what: str = "download") -> T:
    """`work(progress)` in a watched child process: its value, or the FetchError it
    raised or that the limits raise (`what` names the work in the timeout's message).

    `progress` is a shared array: [bytes received, monotonic time the first arrived].
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    progress = context.RawArray("d", 2)
    child = context.Process(target=_child, args=(sender, progress, work, limits), daemon=True)
    started = time.monotonic()
    child.start()
    sender.close()
    try:
        outcome = _watch(receiver, progress, limits, started, what)
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receiver.close()
    if outcome is None:
        raise FetchError(
            f"the {what} process died (exit code {child.exitcode})",
            retryable=False,
            error_class="FetchProcessDied",
        )
    if outcome[0] == "ok":
        return outcome[1]
    _, message, retryable, error_class = outcome
    raise FetchError(message, retryable=retryable, error_class=error_class)


def _watch(
    receiver: Any, progress: Any, limits: FetchLimits, started: float, what: str
) -> tuple | None:
    """Wait for the child's outcome; raise FetchError when time or rate run out.

    The rate counts from the first byte received (connecting and waiting for the
    first byte are bounded by the wall time and the socket timeout), once
    `rate_grace_s` (at most a quarter of the time) passed.
    """
    grace_s = min(limits.rate_grace_s, limits.timeout_s / 4)
    while True:
        try:
            if receiver.poll(_POLL_S):
                return receiver.recv()
        except EOFError:
            return None  # died without a word (killed by the memory limit, a signal)
        now = time.monotonic()
        if now - started > limits.timeout_s:
            raise FetchError(
                f"{what} took over {limits.timeout_s:g} s (--download-timeout)",
                retryable=True,
                error_class=f"{what.capitalize()}Timeout",
            )
        received, began = progress[0], progress[1]
        if limits.min_rate and began and now - began > grace_s:
            rate = received / (now - began)
            if rate < limits.min_rate:
                raise FetchError(
                    f"{what} too slow: {rate:.0f} bytes/s over {now - began:.0f} s, "
                    f"under --min-rate {limits.min_rate:g}",
                    retryable=True,
                    error_class="DownloadTooSlow",
                )
