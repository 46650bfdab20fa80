"""yt-dlp's flat extraction: the video URLs of a playlist, channel or feed, no downloads.

A refresh lists each playlist or channel source this way before the pipeline runs.
Flat extraction reads only the listing pages: one request per page of entries, not one
per video. A URL that is a single video lists as itself. YouTube channel URLs list
their tabs (Videos, Shorts, Live), which are listed in turn, one level deep.

A hostile listing is bounded like a download (`list_bounded`): it runs in a watched
child process (wall time, memory; `bounded_child`), its pages are read up to
`page_cap.PAGE_MAX_BYTES`, its connections are guarded (`bounded_fetch`), and it holds
at most `max_entries` videos, or fails past `MAX_ENTRIES` when no number was asked for.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from yt_dlp.utils import YoutubeDLError

from affectflow.sources.address_guard import guard_connections
from affectflow.sources.bounded_child import FetchLimits, run_bounded
from affectflow.sources.bounded_fetch import warm_up
from affectflow.sources.fetch_errors import FetchError, classify
from affectflow.sources.page_cap import PageCappedYoutubeDL
from affectflow.sources.ytdlp_fetch import QuietLogger, base_options, with_retries

_TAB_EXTRACTORS = frozenset({"YoutubeTab"})
_MAX_DEPTH = 2
# The most videos one source may list when its config gives no `max_videos`.
MAX_ENTRIES = 10_000


def listing_options(
    *, socket_timeout_s: float = 20.0, allowed_extractors: Sequence[str] | None = None
) -> dict[str, Any]:
    """Options for a `yt_dlp.YoutubeDL` that lists entries and downloads nothing."""
    options = base_options(socket_timeout_s=socket_timeout_s, allowed_extractors=allowed_extractors)
    return options | {"extract_flat": "in_playlist", "skip_download": True}


def _entry_url(entry: dict[str, Any]) -> str | None:
    url = entry.get("url") or entry.get("webpage_url")
    if not url and entry.get("ie_key") == "Youtube" and entry.get("id"):
        url = f"https://www.youtube.com/watch?v={entry['id']}"
    return url


def _walk(
    info: dict[str, Any], extract: Callable[[str], dict[str, Any]], depth: int = 0
) -> Iterator[str]:
    """The video URLs of an extracted result, descending into nested playlists and tabs."""
    if info.get("_type") not in ("playlist", "multi_video"):
        url = info.get("webpage_url") or info.get("original_url") or _entry_url(info)
        if url:
            yield url
        return
    for entry in info.get("entries") or ():
        if not entry:
            continue
        if entry.get("_type") in ("playlist", "multi_video") and depth < _MAX_DEPTH:
            yield from _walk(entry, extract, depth + 1)
        elif entry.get("ie_key") in _TAB_EXTRACTORS and depth < _MAX_DEPTH:
            yield from _walk(extract(_entry_url(entry) or ""), extract, depth + 1)
        elif url := _entry_url(entry):
            yield url


def _extract_once(url: str, options: dict[str, Any], extractors: Sequence[Any]) -> dict:
    params = {**options, "logger": QuietLogger()}
    try:
        with PageCappedYoutubeDL(params) as ydl:
            for extractor in extractors:
                ydl.add_info_extractor(extractor() if isinstance(extractor, type) else extractor)
            return ydl.sanitize_info(ydl.extract_info(url, download=False)) or {}
    except YoutubeDLError as error:
        raise classify(error, url) from error


def _first_unique(urls: Iterator[str], limit: int) -> list[str]:
    """The first `limit` distinct URLs, in order; reads no further (no more tabs listed)."""
    unique: dict[str, None] = {}
    for url in urls:
        unique.setdefault(url)
        if len(unique) >= limit:
            break
    return list(unique)


def list_videos(
    url: str,
    options: dict[str, Any],
    *,
    max_entries: int | None = None,
    entries_cap: int = MAX_ENTRIES,
    retries: int = 3,
    backoff_s: float = 2.0,
    extractors: Sequence[Any] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """The video URLs behind `url`, in listing order, without duplicates: the first
    `max_entries`, or all of them up to `entries_cap` when None.

    Raises FetchError (classified, retried with back-off when retryable) when the
    listing cannot be read or, without `max_entries`, holds over `entries_cap` videos.
    """
    limit = entries_cap + 1 if max_entries is None else max_entries
    options = {**options, "playlistend": limit}  # yt-dlp reads no page past the limit

    def extract(target: str) -> dict[str, Any]:
        result, _ = with_retries(
            lambda: _extract_once(target, options, extractors),
            what=target,
            retries=retries,
            backoff_s=backoff_s,
            sleep=sleep,
        )
        return result

    urls = _first_unique(_walk(extract(url), extract), limit)
    if max_entries is None and len(urls) > entries_cap:
        raise FetchError(
            f"the source lists over {entries_cap} videos: give it a max_videos",
            retryable=False,
            error_class="TooManyEntries",
        )
    return urls


def list_bounded(
    url: str, options: dict[str, Any], *, limits: FetchLimits, **kwargs: Any
) -> list[str]:
    """`list_videos` (`kwargs` are its own) in a watched child process whose
    connections are guarded; raises FetchError (see the module doc)."""
    work = functools.partial(_list_in_child, url=url, options=options, limits=limits, kwargs=kwargs)
    return run_bounded(work, limits, what="listing", prepare=warm_up)


def _list_in_child(
    _progress: Any, url: str, options: dict[str, Any], limits: FetchLimits, kwargs: dict
) -> list[str]:
    """The child's listing, its connections guarded."""
    guard_connections(url, limits.allow_private)
    return list_videos(url, options, **kwargs)
