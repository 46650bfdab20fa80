"""yt-dlp's exceptions mapped to a FetchError: a readable message, retryable or not.

Retryable: network faults, HTTP 408/425/429/5xx, cut transfers, rate limiting and
faults of this machine (disk full, read-only file system, I/O error), which another
run may not meet. Permanent: 404/410, unsupported or unavailable videos, refusals
(`Refused`, `RefusedConnection`) raised inside yt-dlp by affectflow's own guards.
"""

from __future__ import annotations

import errno
import http
import re
from collections.abc import Iterator

from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    NoSupportingHandlers,
    RequestError,
    TransportError,
)
from yt_dlp.utils import DownloadCancelled, ExtractorError, UnsupportedError

RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
# Messages without a typed cause: cut transfers, rate limiting.
RETRYABLE_TEXT = re.compile(
    r"giving up after \d+ retries|bytes read, \d+ more expected|timed out|"
    r"sign in to confirm|captcha|try again later|too many requests|connection (reset|refused)|"
    r"no space left on device|disk quota exceeded|read-only file system|input/output error",
    re.IGNORECASE,
)
NETWORK_SUMMARIES = (
    ("refused", "connection refused"),
    ("reset by peer", "connection reset"),
    ("timed out", "timed out"),
    ("name or service not known", "DNS lookup failed"),
    ("name resolution", "DNS lookup failed"),
    ("nodename nor servname", "DNS lookup failed"),
)
# Faults of this machine that yt-dlp reports as text ("unable to write data: [Errno 28]
# No space left on device"): retryable, their errno's name is the error class.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
_ERRNO = re.compile(r"\[Errno (\d+)\]")
# "ERROR: [youtube] <id>: " or "[download] " before the message itself.
_PREFIX = re.compile(r"^(?:ERROR:\s*)?(?:\[[^\]]+\]\s*(?:[\w-]+:\s+(?=[A-Z]))?)?")


class FetchError(Exception):
    """A fetch that failed; `retryable` says whether trying again could help."""

    def __init__(self, message: str, *, retryable: bool, error_class: str) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.error_class = error_class


class Refused(DownloadCancelled):
    """Raised inside yt-dlp (a hook, a guarded request) to stop a fetch for a stated
    reason; yt-dlp lets a DownloadCancelled through unwrapped."""

    def __init__(self, message: str, error_class: str) -> None:
        super().__init__(message)
        self.msg = message
        self.error_class = error_class


class RefusedConnection(RequestError):
    """Raised by a connection guard inside yt-dlp's networking: a RequestError is the
    one kind yt-dlp's request director passes on instead of trying another handler."""

    def __init__(self, message: str, error_class: str) -> None:
        super().__init__(message)
        self.msg = message
        self.error_class = error_class


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, outermost first (yt-dlp nests them several ways)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1:
            todo.append(exc_info[1])
        cause = getattr(current, "cause", None)
        todo.append(cause if isinstance(cause, BaseException) else None)
        todo.append(current.__cause__)


def clean_message(message: str) -> str:
    """yt-dlp's message without its prefixes, carriage returns and '(caused by ...)'."""
    message = message.replace("\r", "").strip()
    message = re.sub(r"\s*\(caused by .*\)\s*$", "", message, flags=re.DOTALL)
    message = message.split("; please report this issue")[0]
    message = _PREFIX.sub("", message).strip()
    if message.startswith("Got error: "):
        message = "download cut short: " + message.removeprefix("Got error: ")
    return message


def _http_message(error: HTTPError, url: str) -> str:
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = error.reason or ""
    return f"HTTP {error.status} {phrase}: {getattr(error.response, 'url', None) or url}"


def _network_message(error: TransportError, url: str) -> str:
    text = clean_message(str(error))
    lowered = text.lower()
    for needle, summary in NETWORK_SUMMARIES:
        if needle in lowered:
            return f"{summary}: {url}"
    return f"network error: {text} ({url})"


def classify(error: BaseException, url: str) -> FetchError:
    """Map a yt-dlp exception to a FetchError with a readable message."""
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, Refused | RefusedConnection):
            return FetchError(cause.msg, retryable=False, error_class=cause.error_class)
        if isinstance(cause, HTTPError):
            retryable = cause.status in RETRYABLE_HTTP
            return FetchError(
                _http_message(cause, url), retryable=retryable, error_class="HTTPError"
            )
    for cause in causes:
        if isinstance(cause, CertificateVerifyError):
            return FetchError(
                f"TLS certificate rejected: {url}",
                retryable=False,
                error_class="CertificateVerifyError",
            )
        if isinstance(cause, TransportError):
            return FetchError(
                _network_message(cause, url), retryable=True, error_class=type(cause).__name__
            )
        if isinstance(cause, NoSupportingHandlers):
            return FetchError(
                f"unsupported URL scheme: {url}",
                retryable=False,
                error_class="NoSupportingHandlers",
            )
        if isinstance(cause, UnsupportedError):
            return FetchError(
                f"no video found at {url} (not a page yt-dlp can read)",
                retryable=False,
                error_class="UnsupportedError",
            )
    text = clean_message(str(error))
    retryable = bool(RETRYABLE_TEXT.search(text))
    extractor_error = next((c for c in causes if isinstance(c, ExtractorError)), None)
    if extractor_error is not None:
        text = clean_message(extractor_error.orig_msg)
        retryable = bool(RETRYABLE_TEXT.search(text))
    if "No suitable extractor" in text:
        text = f"no allowed extractor for {url}"
    elif "Did not get any data blocks" in text:
        text = f"the server sent an empty file (0 bytes): {url}"
    error_class = type(extractor_error or causes[-1]).__name__
    if (found := _ERRNO.search(text)) and int(found.group(1)) in MACHINE_ERRNOS:
        error_class, retryable = errno.errorcode[int(found.group(1))], True
    return FetchError(text or type(error).__name__, retryable=retryable, error_class=error_class)
