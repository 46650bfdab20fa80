"""Download stage: VideoRequest -> VideoFile (validated, cached) or ErrorRecord.

yt-dlp writes into a temporary folder inside the cache; the file is validated by
decoding near its end (`probe.validate_video`), then moved to
`<cache_dir>/videos/<video_key>.<ext>`, and only then is the ledger
`<cache_dir>/videos/<video_key>.json` written. A request whose ledger and file exist
is served from the cache without any network access. Local files (`is_local`) are
validated in place, never copied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import apache_beam as beam

from affectflow.media.probe import InvalidVideoError, VideoProbe, validate_video
from affectflow.schemas.records import ErrorRecord, Stage, VideoFile, VideoRequest
from affectflow.schemas.settings import DownloadSettings
from affectflow.sources.ytdlp_fetch import FetchError, fetch, ytdlp_options
from affectflow.transforms.dead_letters import DeadLetterToError
from affectflow.transforms.metrics import counter, distribution

FAILED = "failed"
LEDGER_VERSION = 1


def channel_hash(channel_id: str | None, salt: str | None) -> str | None:
    """HMAC-SHA256 of a channel id keyed by `salt`; None without either (never the raw id)."""
    if not channel_id or not salt:
        return None
    return hmac.new(salt.encode(), channel_id.encode(), hashlib.sha256).hexdigest()


def _salt_id(salt: str | None) -> str | None:
    """Identifies the salt a ledger's hash was made with, without revealing it."""
    return channel_hash("affectflow-salt-id", salt)


def local_path(url: str) -> str:
    """The filesystem path of a local request (a path or a file:// URL)."""
    return unquote(urlsplit(url).path) if url.lower().startswith("file:") else url


class DownloadVideoFn(beam.DoFn):
    """Fetch, validate and cache one video; failures go to the `failed` output.

    `extractors` are extra yt-dlp InfoExtractor classes registered on every fetch
    (a class whose `ie_key()` is an existing one, e.g. "Youtube", replaces it).
    """

    def __init__(self, settings: DownloadSettings, extractors: Sequence[type] = ()) -> None:
        if "://" in settings.cache_dir and not settings.cache_dir.startswith("file://"):
            raise ValueError(f"cache_dir must be a local folder, got {settings.cache_dir!r}")
        self._settings = settings
        self._cache_dir = local_path(settings.cache_dir)
        self._extractors = tuple(extractors)

    def setup(self) -> None:
        self._videos = Path(self._cache_dir) / "videos"
        self._tmp = Path(self._cache_dir) / "tmp"
        self._videos.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._downloaded = counter("videos_downloaded")
        self._cached = counter("videos_from_cache")
        self._local = counter("videos_local")
        self._failed = counter("download_failures")
        self._attempts = counter("download_attempts")
        self._bytes = distribution("download_bytes")

    def process(self, request: VideoRequest) -> Iterator[Any]:
        try:
            yield self._video_for(request)
        except FetchError as error:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILED, self._error(request, error))

    def _error(self, request: VideoRequest, error: FetchError) -> ErrorRecord:
        return ErrorRecord.for_request(
            request,
            Stage.DOWNLOAD,
            error.message,
            retryable=error.retryable,
            error_class=error.error_class,
        )

    def _video_for(self, request: VideoRequest) -> VideoFile:
        if request.is_local:
            video = self._from_local(request)
            self._local.inc()
            return video
        cached = self._from_cache(request)
        if cached is not None:
            self._cached.inc()
            return cached
        video = self._download(request)
        self._downloaded.inc()
        return video

    def _check_duration(self, duration_s: float | None) -> None:
        limit = self._settings.max_duration_s
        if limit is not None and duration_s is not None and duration_s > limit:
            raise FetchError(
                f"video is {duration_s:.1f} s long, over max_duration {limit:g} s",
                retryable=False,
                error_class="MaxDurationExceeded",
            )

    def _validate(self, path: Path | str, what: str, expected_s: float | None) -> VideoProbe:
        try:
            probe = validate_video(str(path), expected_duration_s=expected_s)
        except InvalidVideoError as error:
            raise FetchError(
                f"{what} is not a valid video: {error.reason}",
                retryable=False,
                error_class="InvalidVideoError",
            ) from error
        self._check_duration(probe.duration_s)
        return probe

    def _from_local(self, request: VideoRequest) -> VideoFile:
        path = local_path(request.url)
        probe = self._validate(path, f"local file {path}", None)
        return _video_file(request, path, probe, {})

    def _ledger_path(self, request: VideoRequest) -> Path:
        return self._videos / f"{request.video_key}.json"

    def _from_cache(self, request: VideoRequest) -> VideoFile | None:
        try:
            ledger = json.loads(self._ledger_path(request).read_text())
            path = self._videos / ledger["file"]
            probe = VideoProbe(
                ledger["duration_s"],
                ledger["fps"],
                ledger["width"],
                ledger["height"],
                ledger["frames"],
            )
            if path.stat().st_size != ledger["bytes"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no usable ledger or file: fetch again
        self._check_duration(probe.duration_s)
        meta = {
            **ledger,
            "title": ledger.get("title") if self._settings.keep_title else None,
            "channel_hash": ledger.get("channel_hash")
            if ledger.get("salt_id") == _salt_id(self._settings.channel_salt)
            else None,
        }
        return _video_file(request, str(path), probe, meta, from_cache=True)

    def _download(self, request: VideoRequest) -> VideoFile:
        workdir = Path(tempfile.mkdtemp(prefix=f"{request.video_key}-", dir=self._tmp))
        try:
            options = ytdlp_options(
                str(workdir / "media.%(ext)s"),
                max_height=self._settings.max_height,
                socket_timeout_s=self._settings.socket_timeout_s,
                max_filesize_bytes=self._settings.max_filesize_bytes,
                allowed_extractors=self._settings.allowed_extractors,
            )
            result, attempts = fetch(
                request.url,
                options,
                retries=self._settings.retries,
                backoff_s=self._settings.backoff_s,
                max_duration_s=self._settings.max_duration_s,
                extractors=self._extractors,
            )
            self._attempts.inc(attempts)
            probe = self._validate(result.path, "the downloaded file", result.info.get("duration"))
            final = self._videos / f"{request.video_key}{result.path.suffix}"
            os.replace(result.path, final)
            meta = self._metadata(result.info)
            self._write_ledger(request, final, probe, meta)
            self._bytes.update(final.stat().st_size)
            return _video_file(request, str(final), probe, meta)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _metadata(self, info: dict[str, Any]) -> dict[str, Any]:
        channel = info.get("channel_id") or info.get("uploader_id")
        return {
            "extractor": info.get("extractor") or info.get("extractor_key"),
            "source_id": info.get("id"),
            "upload_date": info.get("upload_date"),
            "channel_hash": channel_hash(channel, self._settings.channel_salt),
            "salt_id": _salt_id(self._settings.channel_salt),
            "title": info.get("title") if self._settings.keep_title else None,
        }

    def _write_ledger(
        self, request: VideoRequest, path: Path, probe: VideoProbe, meta: dict[str, Any]
    ) -> None:
        ledger = {
            "version": LEDGER_VERSION,
            "video_key": request.video_key,
            "url": request.url,
            "file": path.name,
            "bytes": path.stat().st_size,
            "duration_s": probe.duration_s,
            "fps": probe.fps,
            "width": probe.width,
            "height": probe.height,
            "frames": probe.frame_count,
            **meta,
        }
        target = self._ledger_path(request)
        partial = target.with_suffix(".json.partial")
        partial.write_text(json.dumps(ledger, indent=1, sort_keys=True))
        os.replace(partial, target)


def _video_file(
    request: VideoRequest,
    path: str,
    probe: VideoProbe,
    meta: dict[str, Any],
    *,
    from_cache: bool = False,
) -> VideoFile:
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


class DownloadVideos(beam.PTransform):
    """PCollection[VideoRequest] -> `(videos, failed)`: VideoFile and ErrorRecord."""

    def __init__(self, settings: DownloadSettings, extractors: Sequence[type] = ()) -> None:
        super().__init__()
        self._fn = DownloadVideoFn(settings, extractors)

    def expand(self, requests: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        # Typed tags: Beam warns about undeclared tags under with_exception_handling.
        download = beam.ParDo(self._fn).with_output_types(VideoFile, failed=ErrorRecord)
        outputs = (
            requests
            | "Download" >> download.with_outputs(FAILED, main="videos").with_exception_handling()
        )
        unexpected = outputs["bad"] | "UnexpectedErrors" >> DeadLetterToError(Stage.DOWNLOAD)
        failed = (outputs[FAILED], unexpected) | "AllFailed" >> beam.Flatten()
        return outputs["videos"], failed
