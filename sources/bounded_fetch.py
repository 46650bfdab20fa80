"""One yt-dlp fetch bounded while it streams: time, rate, bytes, memory, pages and hosts.

yt-dlp checks `max_filesize` only against a declared size, so a server can stream
forever or inflate a gzip bomb. Each fetch runs in a watched child process
(`bounded_child`: wall time, rate, memory) and inside it:

- bytes: a progress hook stops the download once it wrote more than `max_bytes`
  (bytes as written, after any Content-Encoding was decoded);
- pages: a page is read up to `page_cap.PAGE_MAX_BYTES` (an endless or huge page);
- hosts: connections to loopback, link-local, private and other non-global addresses are
  refused unless the original URL is one of the same kind (`address_guard`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from typing import Any

from yt_dlp.extractor import gen_extractor_classes

from affectflow.sources.address_guard import guard_connections
from affectflow.sources.bounded_child import FetchLimits, run_bounded
from affectflow.sources.fetch_errors import Refused
from affectflow.sources.ytdlp_fetch import FetchResult, fetch_once

# yt-dlp's read size, fixed (`buffersize`, `noresizebuffer`): the byte cap's precision.
BLOCK_BYTES = 64 * 1024


class _ByteCap:
    """yt-dlp progress hook: stops the download past `max_bytes` (bytes written)."""

    def __init__(self, max_bytes: int | None) -> None:
        self._max_bytes = max_bytes

    def __call__(self, status: dict[str, Any]) -> None:
        done = int(status.get("downloaded_bytes") or 0)
        # One block early: the file on disk never grows past the cap.
        if self._max_bytes is not None and done > self._max_bytes - BLOCK_BYTES:
            raise Refused(
                f"file is larger than max-filesize {self._max_bytes} bytes "
                f"(stopped at {done} bytes, no size declared)",
                "MaxFilesizeExceeded",
            )


def _fetch_in_child(
    progress: Any, url: str, options: dict, limits: FetchLimits, kwargs: dict
) -> FetchResult:
    """The child's fetch: hosts guarded, bytes capped (`progress` is the watcher's)."""
    guard_connections(url, limits.allow_private)
    options = {
        **options,
        "progress_hooks": [_ByteCap(limits.max_bytes)],
        "buffersize": BLOCK_BYTES,
        "noresizebuffer": True,
    }
    return fetch_once(url, options, **kwargs)


@functools.cache
def warm_up() -> None:
    """Compile every extractor's URL pattern once in this process and import the modules
    a fetch loads lazily (the generic extractor, the HTTP downloader): a bounded child does
    it before its clock starts (about half a second of CPU, more on a busy machine)."""
    for extractor in gen_extractor_classes():
        extractor.suitable("https://warm-up.invalid/")
    for module in ("yt_dlp.extractor.generic", "yt_dlp.downloader.http"):
        importlib.import_module(module)


def fetch_bounded(
    url: str,
    options: dict[str, Any],
    *,
    limits: FetchLimits,
    max_duration_s: float | None = None,
    extractors: Sequence[Any] = (),
) -> FetchResult:
    """`fetch_once` in a watched child process; raises FetchError (see the module doc)."""
    kwargs = {"max_duration_s": max_duration_s, "extractors": tuple(extractors)}
    return run_bounded(
        functools.partial(_fetch_in_child, url=url, options=options, limits=limits, kwargs=kwargs),
        limits,
        prepare=warm_up,
    )
