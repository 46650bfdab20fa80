"""Work run in a child process that the parent watches and kills: time, rate and memory.

yt-dlp checks its socket timeout only per read and keeps a page it reads in memory, so
a server can drip one byte a second or feed an endless page. A fetch or a listing
therefore runs in a child process that the parent watches and kills:

- wall time: `timeout_s` for the whole work (extraction and download);
- rate: under `min_rate` bytes/s waited on the socket, once `rate_grace_s` of waiting
  passed. The child counts bytes as they arrive, on every read of a socket
  (`count_socket_reads`), not as yt-dlp reports written blocks: a server that sends one
  byte a second never completes a block, so it would never be measured;
- memory: the child's address space may grow by `memory_bytes` only.

Each child is a fresh interpreter (`python -m affectflow.sources.bounded_child`), never
a fork of the job's process: a fork of a process with other threads (Beam's, ONNX
Runtime's, the unit clock) inherits the locks those threads held at the fork, and such
a child was seen to wait on one forever. The work is pickled to the child with the
parent's `sys.path` (so `work` is a module-level function or a `functools.partial` of
one, with plain arguments); its outcome comes back on a pipe, its progress through a
small shared file. A child costs about half a second of CPU (Python and yt-dlp start).
It ignores the terminal's Ctrl-C (the job handles it and kills the child), exits when
its parent dies, and writes its stderr to a file that never reaches the terminal.
"""

from __future__ import annotations

import dataclasses
import logging
import mmap
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

from affectflow.sources.fetch_errors import FetchError

T = TypeVar("T")
_POLL_S = 0.2
_MIB = 1 << 20
# Three doubles: bytes received, seconds waited on the socket, 1 once the work started.
_PROGRESS_BYTES = 24
# The most a child may take to start (Python, yt-dlp, the work unpickled) on a busy
# machine; `timeout_s` counts from the start of the work.
START_S = 120.0
log = logging.getLogger(__name__)


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
    the seconds spent waiting in those reads to `progress[1]`.

    Every HTTP response (http.client's and urllib3's, TLS included: yt-dlp's handlers)
    reads its socket through `socket.SocketIO.readinto`, one receive at a time. The rate
    is bytes per second *waited on the socket*: a server that drips waits the reader out,
    while a reader slowed by a busy machine (CPU, not the network) is not held against
    the server.
    """
    original = socket.SocketIO.readinto

    def readinto(self: socket.SocketIO, buffer: Any) -> int | None:
        began = time.monotonic()
        try:
            count = original(self, buffer)
        finally:
            progress[1] += time.monotonic() - began
        if count:
            progress[0] += count
        return count

    socket.SocketIO.readinto = readinto  # type: ignore[method-assign]


def _outcome(
    work: Callable[[Any], Any],
    prepare: Callable[[], None] | None,
    progress: Any,
    limits: FetchLimits,
) -> tuple:
    """The child's work, bounded, as what it sends its parent (`prepare` first, before
    the clock starts)."""
    if prepare is not None:
        prepare()
    signal.alarm(int(limits.timeout_s) + 30)  # never outlive a parent killed by SIGKILL
    _limit_memory(limits.memory_bytes)
    count_socket_reads(progress)
    progress[2] = 1.0
    try:
        return ("ok", work(progress))
    except FetchError as error:
        return ("error", error.message, error.retryable, error.error_class)
    except MemoryError:
        mib = limits.memory_bytes // _MIB
        message = f"the fetch needed over {mib} MiB of memory (an endless or huge page?)"
        return ("error", message, False, "MemoryLimitExceeded")


def _exit_with_parent() -> None:
    """Exit this (child) process as soon as its parent is gone (killed by SIGKILL)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(result_fd: int, progress_fd: int) -> None:
    """The child's whole life: its work read from stdin, the outcome written to
    `result_fd`, its progress counted in the file `progress_fd`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the job handles Ctrl-C
    _exit_with_parent()
    sys.path[:] = pickle.load(sys.stdin.buffer)
    work, prepare, limits = pickle.load(sys.stdin.buffer)
    with mmap.mmap(progress_fd, _PROGRESS_BYTES) as shared:
        progress = memoryview(shared).cast("d")
        outcome = _outcome(work, prepare, progress, limits)
        progress.release()
    with os.fdopen(result_fd, "wb") as sender:
        pickle.dump(outcome, sender)


def run_bounded(
    work: Callable[[Any], T],
    limits: FetchLimits,
    *,
    what: str = "download",
    prepare: Callable[[], None] | None = None,
) -> T:
    """`work(progress)` in a watched child process: its value, or the FetchError it
    raised or that the limits raise (`what` names the work in the timeout's message).

    `work` must pickle (see the module doc). `progress` is a shared array: [bytes
    received, seconds spent waiting on the socket, 1 once the work started]. The child
    may take `START_S` to start, `prepare()` included (it loads what the work needs, so
    that a busy machine's CPU is not held against the server); `limits.timeout_s` counts
    from the start of the work.
    """
    with tempfile.TemporaryFile() as shared_file, tempfile.TemporaryFile() as stderr:
        shared_file.truncate(_PROGRESS_BYTES)
        with mmap.mmap(shared_file.fileno(), _PROGRESS_BYTES) as shared:
            progress = memoryview(shared).cast("d")
            try:
                data, exitcode = _run_child(
                    (work, prepare, limits), what, progress, shared_file, stderr
                )
            finally:
                progress.release()
    if not data:
        raise FetchError(
            f"the {what} process died (exit code {exitcode})",
            retryable=False,
            error_class="FetchProcessDied",
        )
    outcome = pickle.loads(data)
    if outcome[0] == "ok":
        return outcome[1]
    _, message, retryable, error_class = outcome
    raise FetchError(message, retryable=retryable, error_class=error_class)


def _run_child(
    task: tuple[Callable[[Any], Any], Callable[[], None] | None, FetchLimits],
    what: str,
    progress: Any,
    shared_file: IO[bytes],
    stderr: IO[bytes],
) -> tuple[bytes, int | None]:
    """Start the child, hand it the work, watch it: (what it sent, its exit code)."""
    receiver, sender = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", __name__, str(sender), str(shared_file.fileno())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(sender, shared_file.fileno()),
        )
    finally:
        os.close(sender)
    try:
        try:
            assert child.stdin is not None
            pickle.dump(sys.path, child.stdin)
            pickle.dump(task, child.stdin)
            child.stdin.close()
        except BrokenPipeError:
            pass  # it died at once: its exit code says why
        data = _watch(receiver, progress, task[2], what)
    finally:
        os.close(receiver)
        if child.poll() is None:
            child.kill()
        exitcode = child.wait()
    if not data:
        stderr.seek(0, os.SEEK_END)
        stderr.seek(max(0, stderr.tell() - 2000))
        log.debug("the %s process died (%s): %r", what, exitcode, stderr.read())
    return data, exitcode


def _watch(receiver: int, progress: Any, limits: FetchLimits, what: str) -> bytes:
    """Read the child's outcome until it closes the pipe; raise FetchError when time or
    rate run out.

    The rate is the bytes received over the seconds spent waiting for them on the socket
    (a stall with no byte at all is bounded by the socket timeout and the wall time),
    checked once `rate_grace_s` (at most a quarter of the time) of waiting passed.
    """
    grace_s = min(limits.rate_grace_s, limits.timeout_s / 4)
    chunks: list[bytes] = []
    spawned, started = time.monotonic(), None
    while True:
        readable, _, _ = select.select([receiver], [], [], _POLL_S)
        if readable:
            chunk = os.read(receiver, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            continue  # the work is done: its outcome is arriving
        now = time.monotonic()
        if started is None:
            if progress[2]:
                started = now
            elif now - spawned > START_S:
                raise FetchError(
                    f"the {what} process did not start in {START_S:g} s (a busy machine?)",
                    retryable=True,
                    error_class=f"{what.capitalize()}Timeout",
                )
            continue
        if now - started > limits.timeout_s:
            raise FetchError(
                f"{what} took over {limits.timeout_s:g} s (--download-timeout)",
                retryable=True,
                error_class=f"{what.capitalize()}Timeout",
            )
        received, waited = progress[0], progress[1]
        if limits.min_rate and received and waited > grace_s:
            rate = received / waited
            if rate < limits.min_rate:
                raise FetchError(
                    f"{what} too slow: {rate:.0f} bytes/s over {waited:.0f} s on the socket, "
                    f"under --min-rate {limits.min_rate:g}",
                    retryable=True,
                    error_class="DownloadTooSlow",
                )


if __name__ == "__main__":
    _child_main(int(sys.argv[1]), int(sys.argv[2]))
