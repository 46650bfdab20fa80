"""One yt-dlp fetch bounded while it streams: time, rate, bytes, memory and hosts.

yt-dlp checks `max_filesize` only against a declared size and its socket timeout only
per read, so a server can stream forever, inflate a gzip bomb, drip one byte a second
or feed an endless page into memory. Each fetch therefore runs in a child process
(forked: the extractors and options of the parent need no pickling) that the parent
watches and kills:

- wall time: `timeout_s` for the whole fetch (extraction and download);
- rate: under `min_rate` bytes/s once `rate_grace_s` has passed;
- bytes: a progress hook stops the download once it wrote more than `max_bytes`
  (bytes as written, after any Content-Encoding was decoded);
- memory: the child's address space may grow by `memory_bytes` only (a huge page);
- hosts: connections to loopback, private or link-local addresses are refused unless
  the original URL is one of the same kind (`guard_connections`).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yt_dlp.extractor import gen_extractor_classes

from affectflow.sources.fetch_errors import FetchError, Refused, RefusedConnection
from affectflow.sources.ytdlp_fetch import FetchResult, fetch_once

_POLL_S = 0.2
# yt-dlp's read size, fixed (`buffersize`, `noresizebuffer`): the byte cap's precision.
BLOCK_BYTES = 64 * 1024
_MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class FetchLimits:
    """What one fetch may cost before it is stopped (see the module doc)."""

    timeout_s: float = 300.0
    min_rate: float = 0.0
    rate_grace_s: float = 30.0
    max_bytes: int | None = None
    memory_bytes: int = 1024 * _MIB
    allow_private: bool = False


def address_kind(host: str | None) -> str | None:
    """'loopback', 'link-local' or 'private' for a host that resolves to such an
    address (any of its addresses), else None."""
    if not host:
        return None
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return None  # yt-dlp reports the lookup failure itself
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    for kind, test in (
        ("loopback", lambda a: a.is_loopback),
        ("link-local", lambda a: a.is_link_local),
        ("private", lambda a: a.is_private or a.is_reserved or a.is_unspecified),
    ):
        if any(test(address) for address in addresses):
            return kind
    return None


def guard_connections(origin: str, allow_private: bool) -> None:
    """Refuse, for the rest of this process, connections to loopback, private or
    link-local addresses unless `origin`'s host is of the same kind.

    An audit hook on `socket.connect` sees the address really connected to, after DNS
    and for every request (pages, media, redirects, `og:video` links), before any byte is
    sent. Installed only in the fetch's own child process, which it outlives with.
    """
    if allow_private:
        return
    origin_kind = address_kind(urlsplit(origin).hostname)

    def hook(event: str, args: tuple) -> None:
        if event != "socket.connect" or not isinstance(args[1], tuple):
            return
        host = str(args[1][0])
        kind = address_kind(host)
        if kind is not None and kind != origin_kind:
            raise RefusedConnection(
                f"refused to connect to {host}, a {kind} address, while fetching {origin} "
                "(--allow-private-addresses allows it)",
                "PrivateAddressRefused",
            )

    sys.addaudithook(hook)


class _ByteCap:
    """yt-dlp progress hook: publishes the bytes written and when writing began; stops
    the download past `max_bytes`."""

    def __init__(self, progress: Any, max_bytes: int | None) -> None:
        self._progress, self._max_bytes = progress, max_bytes

    def __call__(self, status: dict[str, Any]) -> None:
        done = int(status.get("downloaded_bytes") or 0)
        if not self._progress[1]:
            self._progress[1] = time.monotonic() - (status.get("elapsed") or 0.0)
        self._progress[0] = done
        # One block early: the file on disk never grows past the cap.
        if self._max_bytes is not None and done > self._max_bytes - BLOCK_BYTES:
            raise Refused(
                f"file is larger than max-filesize {self._max_bytes} bytes "
                f"(stopped at {done} bytes, no size declared)",
                "MaxFilesizeExceeded",
            )


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
        pass  # no /proc or no rlimits: time and bytes still bound the fetch


def _child(
    sender: Any, progress: Any, url: str, options: dict, limits: FetchLimits, kwargs: dict
) -> None:
    """The child's whole life: one fetch, its outcome sent to the parent."""
    signal.alarm(int(limits.timeout_s) + 30)  # never outlive a parent killed by SIGKILL
    _limit_memory(limits.memory_bytes)
    guard_connections(url, limits.allow_private)
    hooks = [_ByteCap(progress, limits.max_bytes)]
    options = {
        **options,
        "progress_hooks": hooks,
        "buffersize": BLOCK_BYTES,
        "noresizebuffer": True,
    }
    try:
        result = fetch_once(url, options, **kwargs)
        outcome: tuple = ("ok", str(result.path), result.info)
    except FetchError as error:
        outcome = ("error", error.message, error.retryable, error.error_class)
    except MemoryError:
        mib = limits.memory_bytes // _MIB
        message = f"the fetch needed over {mib} MiB of memory (an endless or huge page?)"
        outcome = ("error", message, False, "MemoryLimitExceeded")
    sender.send(outcome)


@functools.cache
def warm_up() -> None:
    """Compile every extractor's URL pattern once in this process (about 1 s), so each
    forked child inherits them instead of compiling them again (seconds of CPU each)."""
    for extractor in gen_extractor_classes():
        extractor.suitable("https://warm-up.invalid/")


def fetch_bounded(
    url: str,
    options: dict[str, Any],
    *,
    limits: FetchLimits,
    max_duration_s: float | None = None,
    extractors: Sequence[Any] = (),
) -> FetchResult:
    """`fetch_once` in a watched child process; raises FetchError (see the module doc)."""
    warm_up()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    progress = context.RawArray("d", 2)  # bytes written, monotonic time writing began
    kwargs = {"max_duration_s": max_duration_s, "extractors": tuple(extractors)}
    child = context.Process(
        target=_child, args=(sender, progress, url, options, limits, kwargs), daemon=True
    )
    started = time.monotonic()
    child.start()
    sender.close()
    try:
        outcome = _watch(receiver, progress, limits, started)
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receiver.close()
    if outcome is None:
        raise FetchError(
            f"the fetch process died (exit code {child.exitcode})",
            retryable=False,
            error_class="FetchProcessDied",
        )
    if outcome[0] == "ok":
        return FetchResult(Path(outcome[1]), outcome[2])
    _, message, retryable, error_class = outcome
    raise FetchError(message, retryable=retryable, error_class=error_class)


def _watch(receiver: Any, progress: Any, limits: FetchLimits, started: float) -> tuple | None:
    """Wait for the child's outcome; raise FetchError when time or rate run out.

    The rate counts from the first bytes written (extraction before it is bounded by
    the wall time only), once `rate_grace_s` (at most a quarter of the time) passed.
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
                f"download took over {limits.timeout_s:g} s (--download-timeout)",
                retryable=True,
                error_class="DownloadTimeout",
            )
        written, began = progress[0], progress[1]
        if limits.min_rate and began and now - began > grace_s:
            rate = written / (now - began)
            if rate < limits.min_rate:
                raise FetchError(
                    f"download too slow: {rate:.0f} bytes/s over {now - began:.0f} s, "
                    f"under --min-rate {limits.min_rate:g}",
                    retryable=True,
                    error_class="DownloadTooSlow",
                )
