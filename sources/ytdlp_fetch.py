"""yt-dlp as a library: options and one fetch with retries.

Traps handled here (see the project's yt-dlp notes): a single video-only or muxed
format (no ffmpeg merge that would leave two files and a missing `filepath`); skips
by `max_filesize` or the duration filter return normally with no file, which is
detected and reported. Errors are classified by `fetch_errors.classify`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from yt_dlp.utils import YoutubeDLError

from affectflow.schemas.redact import redact_text
from affectflow.sources.fetch_errors import FetchError, classify, clean_message
from affectflow.sources.page_cap import PageCappedYoutubeDL

LOG = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT = "bv[height<=?{h}][ext=mp4]/bv[height<=?{h}]/b[height<=?{h}]/wv/w"
# Failures worth trying again later (another run, `refresh`) but not at once: the
# attempt already used the whole time budget.
NOT_AT_ONCE = frozenset({"DownloadTimeout", "ListingTimeout", "DownloadTooSlow"})


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """The file yt-dlp wrote and its JSON-safe metadata."""

    path: Path
    info: dict[str, Any]


class QuietLogger:
    """Routes yt-dlp's output to `logging`; keeps what explains a skip."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, msg: str) -> None:
        self.messages.append(msg)
        LOG.debug("%s", msg)

    info = debug

    def warning(self, msg: str) -> None:
        LOG.info("%s", redact_text(msg))

    def error(self, msg: str) -> None:
        LOG.debug("%s", msg)


def base_options(
    *, socket_timeout_s: float = 20.0, allowed_extractors: Sequence[str] | None = None
) -> dict[str, Any]:
    """What every `yt_dlp.YoutubeDL` of affectflow shares: quiet, bounded, no retries of its own."""
    options: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "socket_timeout": socket_timeout_s,
        "retries": 0,
        "extractor_retries": 0,
        "cachedir": False,
        "color": {"stdout": "never", "stderr": "never"},
    }
    if allowed_extractors is not None:
        options["allowed_extractors"] = list(allowed_extractors)
    return options


def ytdlp_options(
    outtmpl: str,
    *,
    max_height: int = 480,
    socket_timeout_s: float = 20.0,
    max_filesize_bytes: int | None = None,
    allowed_extractors: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Options for one download: a single file of at most `max_height`, never a playlist."""
    options = base_options(socket_timeout_s=socket_timeout_s, allowed_extractors=allowed_extractors)
    options |= {
        "no_warnings": False,
        "format": FORMAT.format(h=int(max_height)),
        "outtmpl": {"default": outtmpl},
        "noplaylist": True,
        "overwrites": True,
    }
    if max_filesize_bytes is not None:
        options["max_filesize"] = int(max_filesize_bytes)
    return options


def _downloaded_path(info: dict[str, Any] | None) -> Path | None:
    downloads = (info or {}).get("requested_downloads") or []
    path = downloads[0].get("filepath") if downloads else None
    return Path(path) if path and Path(path).is_file() else None


class _Filter:
    """yt-dlp `match_filter`: rejects long videos and playlist entries, remembering why."""

    def __init__(self, max_duration_s: float | None) -> None:
        self.max_duration_s = max_duration_s
        self.rejected: list[FetchError] = []

    def __call__(self, info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        duration, limit = info.get("duration"), self.max_duration_s
        if info.get("playlist_index") is not None:
            count = info.get("n_entries") or info.get("playlist_count") or "several"
            message = f"the URL holds {count} videos (a playlist or page): list each video's URL"
            return self._reject(message, "PlaylistURL")
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            return self._reject("a live stream: only finished videos can be analysed", "LiveStream")
        if limit is not None and duration is not None and duration > limit:
            message = f"video is {duration:.1f} s long, over max_duration {limit:g} s"
            return self._reject(message, "MaxDurationExceeded")
        return None

    def _reject(self, message: str, error_class: str) -> str:
        self.rejected.append(FetchError(message, retryable=False, error_class=error_class))
        return message


def _skip_error(rejected: list[FetchError], logger: QuietLogger) -> FetchError:
    """Why yt-dlp returned without a file (a filter or max_filesize skip)."""
    if rejected:
        return rejected[0]
    for message in logger.messages:
        if "max-filesize" in message:
            text = clean_message(message).replace(" Aborting.", "").replace("File is", "file is")
            return FetchError(text, retryable=False, error_class="MaxFilesizeExceeded")
    return FetchError(
        "yt-dlp finished without writing a file", retryable=False, error_class="NoFileWritten"
    )


def fetch_once(
    url: str,
    options: dict[str, Any],
    *,
    max_duration_s: float | None = None,
    extractors: Sequence[Any] = (),
) -> FetchResult:
    """One yt-dlp run; raises FetchError (classified) when it fails or writes no file.

    `extractors` are extra InfoExtractor classes (tests register stand-ins this way).
    """
    logger, match_filter = QuietLogger(), _Filter(max_duration_s)
    params = {**options, "logger": logger, "match_filter": match_filter}
    try:
        with PageCappedYoutubeDL(params) as ydl:
            for extractor in extractors:
                # An instance: yt-dlp would build the stock class for a bare class's key.
                ydl.add_info_extractor(extractor() if isinstance(extractor, type) else extractor)
            info = ydl.sanitize_info(ydl.extract_info(url, download=True))
    except YoutubeDLError as error:
        raise classify(error, url) from error
    path = _downloaded_path(info)
    if path is None:
        raise _skip_error(match_filter.rejected, logger)
    return FetchResult(path=path, info=info)


def with_retries(
    attempt_once: Callable[[], T],
    *,
    what: str,
    retries: int = 3,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Call `attempt_once` until it succeeds, with exponential back-off on retryable errors.

    Returns (result, attempts). A permanent FetchError raises at once; a retryable one
    after `retries` more attempts, with "(after N attempts)" appended to its message.
    """
    for attempt in range(retries + 1):
        try:
            return attempt_once(), attempt + 1
        except FetchError as error:
            if not error.retryable or error.error_class in NOT_AT_ONCE:
                raise
            if attempt == retries:
                tries = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
                error.message = f"{error.message} (after {tries})"
                error.args = (error.message,)
                raise
            delay = backoff_s * (2**attempt)
            LOG.info(
                "retrying %s in %.1f s: %s", redact_text(what), delay, redact_text(error.message)
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def fetch(
    url: str,
    options: dict[str, Any],
    *,
    retries: int = 3,
    backoff_s: float = 2.0,
    max_duration_s: float | None = None,
    extractors: Sequence[Any] = (),
    sleep: Callable[[float], None] = time.sleep,
    once: Callable[..., FetchResult] = fetch_once,
) -> tuple[FetchResult, int]:
    """`once` (`fetch_once`, or `bounded_fetch.fetch_bounded` with its limits bound)
    with `with_retries`; returns (result, attempts)."""
    return with_retries(
        lambda: once(url, options, max_duration_s=max_duration_s, extractors=extractors),
        what=url,
        retries=retries,
        backoff_s=backoff_s,
        sleep=sleep,
    )
