"""The ledger of a cached video: `<cache_dir>/videos/<video_key>.json` beside its file.

Written last, after the validated file is in place, so a ledger always names a whole
file; read back, it serves the video with no network access. It holds what the
container and yt-dlp said (duration, size, source ids), never a raw channel id: the
channel is an HMAC keyed by `--channel-salt` (`channel_hash`), and the salt itself is
recorded only as a hash (`salt_id`) so that a ledger made with another salt is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from affectflow.schemas.records import VideoFile, VideoProbe, VideoRequest
from affectflow.schemas.redact import redact_url
from affectflow.schemas.settings import DownloadSettings

LEDGER_VERSION = 1
# What a server may put in a text field of the `videos` row: YouTube titles are at most
# 100 characters; a page's <title> of megabytes is cut here, in every row it would fill.
TEXT_MAX_CHARS = 1000


def channel_hash(channel_id: str | None, salt: str | None) -> str | None:
    """HMAC-SHA256 of a channel id keyed by `salt`; None without either (never the raw id)."""
    if not channel_id or not salt:
        return None
    return hmac.new(salt.encode(), channel_id.encode(), hashlib.sha256).hexdigest()


def salt_id(salt: str | None) -> str | None:
    """Identifies the salt a ledger's hash was made with, without revealing it."""
    return channel_hash("affectflow-salt-id", salt)


def ledger_path(videos: Path, request: VideoRequest) -> Path:
    return videos / f"{request.video_key}.json"


def source_metadata(info: dict[str, Any], settings: DownloadSettings) -> dict[str, Any]:
    """What the ledger and the `videos` row keep of yt-dlp's info dict."""
    channel = info.get("channel_id") or info.get("uploader_id")
    return {
        "extractor": _bounded(info.get("extractor") or info.get("extractor_key")),
        "source_id": _bounded(info.get("id")),
        "upload_date": _bounded(info.get("upload_date")),
        "channel_hash": channel_hash(channel, settings.channel_salt),
        "salt_id": salt_id(settings.channel_salt),
        "title": _bounded(info.get("title")) if settings.keep_title else None,
    }


def _bounded(value: object) -> str | None:
    """A server's text as at most TEXT_MAX_CHARS characters (None stays None)."""
    return None if value is None else str(value)[:TEXT_MAX_CHARS]


def write_ledger(
    videos: Path, request: VideoRequest, path: Path, probe: VideoProbe, meta: dict[str, Any]
) -> None:
    """Write the ledger of `path` atomically (a partial file, then a rename)."""
    ledger = {
        "version": LEDGER_VERSION,
        "video_key": request.video_key,
        "url": redact_url(request.url),
        "file": path.name,
        "bytes": path.stat().st_size,
        "duration_s": probe.duration_s,
        "fps": probe.fps,
        "width": probe.width,
        "height": probe.height,
        "frames": probe.frame_count,
        **meta,
    }
    target = ledger_path(videos, request)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    os.replace(partial, target)


def read_ledger(
    videos: Path, request: VideoRequest, settings: DownloadSettings
) -> tuple[Path, VideoProbe, dict[str, Any]] | None:
    """The cached file, its probe and metadata; None when the ledger or file is unusable."""
    try:
        ledger = json.loads(ledger_path(videos, request).read_text())
        path = videos / ledger["file"]
        probe = VideoProbe(
            ledger["duration_s"], ledger["fps"], ledger["width"], ledger["height"], ledger["frames"]
        )
        if path.stat().st_size != ledger["bytes"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no usable ledger or file: fetch again
    meta = {
        **ledger,
        "title": ledger.get("title") if settings.keep_title else None,
        "channel_hash": ledger.get("channel_hash")
        if ledger.get("salt_id") == salt_id(settings.channel_salt)
        else None,
    }
    return path, probe, meta


def video_file(
    request: VideoRequest,
    path: str,
    probe: VideoProbe,
    meta: dict[str, Any],
    *,
    from_cache: bool = False,
) -> VideoFile:
    """The stage's output for a validated file."""
    return VideoFile(
        request=request,
        path=path,
        duration_s=probe.duration_s,
        fps=probe.fps,
        width=probe.width,
        height=probe.height,
        extractor=meta.get("extractor"),
        source_id=meta.get("source_id"),
        upload_date=meta.get("upload_date"),
        channel_hash=meta.get("channel_hash"),
        title=meta.get("title"),
        from_cache=from_cache,
    )
