"""The key of a video: stable, path-safe, one per video however its URL is spelt.

`youtube-<id>` for a YouTube URL (watch, shorts, embed, live, youtu.be), `url-<hash>` for
any other URL (scheme and host lower-cased, fragment dropped), `local-<hash>` for a local
file (its real path). The key names the cached file and joins the tables.
"""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import urlsplit, urlunsplit

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


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment: two spellings, one key."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def video_key_for(url: str, is_local: bool = False) -> str:
    """A stable, path-safe key for a video: `youtube-<id>`, `url-<hash>` or `local-<hash>`."""
    if is_local:
        return f"local-{_short_hash(os.path.realpath(url))}"
    video_id = youtube_id(url)
    if video_id:
        return f"youtube-{video_id}"
    return f"url-{_short_hash(normalise_url(url))}"
