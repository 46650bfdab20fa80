"""The key of a video: stable, path-safe, one per video however its URL is spelt.

`youtube-<id>` for a YouTube URL (watch, shorts, embed, live, youtu.be), `url-<hash>` for
any other URL (of its one spelling, `normalise_url`), `local-<hash>` for a local file
(its real path). The key names the cached file and joins the tables.
"""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_URL = re.compile(
    r"^(?:https?://)?(?:www\.|m\.|music\.)?(?:youtube\.com/(?:watch\?(?:.*&)?v=|shorts/|embed/|live/|v/)"
    r"|youtu\.be/)([A-Za-z0-9_-]{11})(?:[?&#/].*)?$"
)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def youtube_id(url: str) -> str | None:
    """The video id of a YouTube watch/shorts/embed/youtu.be URL, else None."""
    match = _YOUTUBE_URL.match(url.strip())
    return match.group(1) if match else None


_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _percent(text: str) -> str:
    """Percent-escapes with upper-case hex, unreserved characters decoded (RFC 3986 6.2.2)."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(one, text)


def _without_dot_segments(path: str) -> str:
    """`path` with `.` and `..` segments resolved (RFC 3986 5.2.4)."""
    if "." not in path:
        return path
    segments = path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                kept.append("")
        elif segment == "..":
            if len(kept) > 1:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    if path.startswith("/") and (not kept or kept[0] != ""):
        kept.insert(0, "")
    return "/".join(kept)


def _netloc(parts: SplitResult) -> str:
    """Lower-case user and host; the port without leading zeros, none when the default."""
    netloc = parts.netloc.lower()
    userinfo, _, hostport = netloc.rpartition("@")
    host, colon, port = hostport.rpartition(":") if not hostport.endswith("]") else ("", "", "")
    if not colon or not (port.isdigit() or port == ""):
        return netloc
    number = int(port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0))
    port = "" if number in (0, _DEFAULT_PORTS.get(parts.scheme.lower())) else f":{number}"
    return (f"{userinfo}@" if userinfo else "") + host + port


def normalise_url(url: str) -> str:
    """One spelling of a URL, so that spellings of one video get one key: scheme and host
    lower-cased, the default or a zero-padded port written as the server sees it, dot
    segments resolved, percent-escapes in upper case and unreserved ones decoded, the
    fragment dropped. A URL already in this form is returned unchanged (its key too)."""
    parts = urlsplit(url.strip())
    path = _without_dot_segments(_percent(parts.path))
    return urlunsplit((parts.scheme.lower(), _netloc(parts), path, _percent(parts.query), ""))


def video_key_for(url: str, is_local: bool = False) -> str:
    """A stable, path-safe key for a video: `youtube-<id>`, `url-<hash>` or `local-<hash>`."""
    if is_local:
        return f"local-{_short_hash(os.path.realpath(url))}"
    video_id = youtube_id(url)
    if video_id:
        return f"youtube-{video_id}"
    return f"url-{_short_hash(normalise_url(url))}"
