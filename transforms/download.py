"""Download stage: VideoRequest -> VideoFile (validated, cached) or ErrorRecord.

yt-dlp writes into a temporary folder inside the cache; the file is validated by
reading its frames' timestamps to the end (`probe.validate_video`: not truncated, and
not over `max_duration_s` by its header nor by its frames), then moved to
`<cache_dir>/videos/<video_key>.<ext>`, and only then is the ledger
`<cache_dir>/videos/<video_key>.json` written. A request whose ledger and file exist
is served from the cache without any network access. Local files (`is_local`) are
validated in place, never copied.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from concurrent import futures
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from affectflow.media.probe import (
    FrameTooLargeError,
    InvalidVideoError,
    VideoProbe,
    validate_video,
)
from affectflow.models.cache import resolve_cache_dir
from affectflow.schemas.records import FAILED, ErrorRecord, Stage, VideoFile, VideoRequest
from affectflow.schemas.settings import DownloadSettings
from affectflow.sources.bounded_child import FetchLimits
from affectflow.sources.bounded_fetch import fetch_bounded
from affectflow.sources.cache_ledger import (
    read_ledger,
    source_metadata,
    video_file,
    write_ledger,
)
from affectflow.sources.fetch_errors import FetchError
from affectflow.sources.workdirs import environment_error, sweep_stale_workdirs, workdir
from affectflow.sources.ytdlp_fetch import fetch, ytdlp_options
from affectflow.transforms.metrics import counter, distribution
from affectflow.warehouse.layout import local_path


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """What one request came to, and what to count for it (counted in the DoFn's thread)."""

    output: VideoFile | ErrorRecord
    counts: tuple[str, ...] = ()
    attempts: int = 0
    downloaded_bytes: int | None = None


class DownloadVideoFn(beam.DoFn):
    """Fetch, validate and cache videos, several at a time; failures go to `failed`.

    Up to `concurrent_downloads` requests of a bundle are fetched at once by a thread
    pool (fetching is waiting on the network, and each fetch runs in its own bounded
    child process, `sources.bounded_fetch`), so one slow host does not idle the others.
    Outputs come out as fetches finish, each in its own element's window: `process`
    waits for the first to finish when the pool is full, and at the end of the bundle
    `finish_bundle` hands each on as it finishes (never waiting for all), so the
    steps after it (detect, infer, commit: fused into this one) run meanwhile.
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
        root = resolve_cache_dir(self._cache_dir or None)  # "": this worker's default
        self._videos = root / "videos"
        self._tmp = root / "tmp"
        self._videos.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        sweep_stale_workdirs(self._tmp)
        self._counters = {
            name: counter(name)
            for name in (
                "videos_downloaded",
                "videos_from_cache",
                "videos_local",
                "download_failures",
                "download_attempts",
            )
        }
        self._bytes = distribution("download_bytes")
        self._pool = ThreadPoolExecutor(self._settings.concurrent_downloads, "download")
        self._pending: list[tuple[Future, Any, Any]] = []

    def teardown(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def process(
        self,
        request: VideoRequest,
        window: Any = beam.DoFn.WindowParam,
        timestamp: Any = beam.DoFn.TimestampParam,
    ) -> Iterator[Any]:
        self._pending.append((self._pool.submit(self._outcome, request), window, timestamp))
        full = len(self._pending) >= self._settings.concurrent_downloads
        yield from self._harvest(wait=FIRST_COMPLETED if full else None)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:  # each as it finishes: a slow one holds back only itself
            yield from self._harvest(wait=FIRST_COMPLETED)

    def _harvest(self, wait: str | None) -> Iterator[Any]:
        """Emit the finished outcomes; first wait for one to finish (FIRST_COMPLETED)."""
        if wait is not None and self._pending:
            futures.wait([future for future, _, _ in self._pending], return_when=wait)
        still = []
        for future, window, timestamp in self._pending:
            if not future.done():
                still.append((future, window, timestamp))
                continue
            outcome = future.result()
            for name in outcome.counts:
                self._counters[name].inc()
            self._counters["download_attempts"].inc(outcome.attempts)
            if outcome.downloaded_bytes is not None:
                self._bytes.update(outcome.downloaded_bytes)
            value = WindowedValue(outcome.output, timestamp, [window])
            failed = isinstance(outcome.output, ErrorRecord)
            yield beam.pvalue.TaggedOutput(FAILED, value) if failed else value
        self._pending = still

    def _outcome(self, request: VideoRequest) -> _Outcome:
        """One request's outcome, in a pool thread: never raises."""
        try:
            return self._video_for(request)
        except FetchError as error:
            output = self._error(request, error)
        except Exception as error:  # a bug, or the machine: one row, not a lost bundle
            fault = environment_error(error, str(self._videos.parent))
            if fault is not None:  # the cache's disk is full or read-only: retry later
                output = self._error(request, fault)
            else:
                message = f"unexpected error: {type(error).__name__}: {error}"[:2000]
                output = ErrorRecord.for_request(
                    request, Stage.DOWNLOAD, message, error_class=type(error).__name__
                )
        return _Outcome(output, ("download_failures",))

    def _error(self, request: VideoRequest, error: FetchError) -> ErrorRecord:
        return ErrorRecord.for_request(
            request,
            Stage.DOWNLOAD,
            error.message,
            retryable=error.retryable,
            error_class=error.error_class,
        )

    def _video_for(self, request: VideoRequest) -> _Outcome:
        if request.is_local:
            return _Outcome(self._from_local(request), ("videos_local",))
        cached = self._from_cache(request)
        if cached is not None:
            return _Outcome(cached, ("videos_from_cache",))
        return self._download(request)

    def _check_duration(self, probe: VideoProbe) -> None:
        limit = self._settings.limits.max_duration_s
        if limit is None or probe.duration_s <= limit:
            return
        header_s = probe.header_duration_s
        if header_s is not None and header_s <= limit:
            message = (
                f"video's frames run past {probe.duration_s:.1f} s although its header says "
                f"{header_s:.1f} s, over max_duration {limit:g} s"
            )
        else:
            message = f"video is {probe.duration_s:.1f} s long, over max_duration {limit:g} s"
        raise FetchError(message, retryable=False, error_class="MaxDurationExceeded")

    def _validate(self, path: Path | str, what: str, expected_s: float | None) -> VideoProbe:
        limit = self._settings.limits.max_duration_s
        try:
            probe = validate_video(
                str(path),
                expected_s,
                max_duration_s=limit,
                max_pixels=self._settings.limits.max_pixels,
                still=self._settings.still_images,
            )
        except FrameTooLargeError as error:
            raise FetchError(
                f"{what}: {error.reason}", retryable=False, error_class="MaxPixelsExceeded"
            ) from error
        except InvalidVideoError as error:
            raise FetchError(
                f"{what} is not a valid video: {error.reason}",
                retryable=False,
                error_class="InvalidVideoError",
            ) from error
        self._check_duration(probe)
        return probe

    def _from_local(self, request: VideoRequest) -> VideoFile:
        path = local_path(request.url)
        probe = self._validate(path, f"local file {path}", None)
        return video_file(request, path, probe, {})

    def _from_cache(self, request: VideoRequest) -> VideoFile | None:
        cached = read_ledger(self._videos, request, self._settings)
        if cached is None:
            return None
        path, probe, meta = cached
        self._check_duration(probe)
        return video_file(request, str(path), probe, meta, from_cache=True)

    def _attempt(self, deadline: float) -> Any:
        """One bounded fetch, given at most the time left before `deadline` (monotonic)."""
        settings = self._settings

        def once(url: str, options: dict, **kwargs: Any) -> Any:
            left = deadline - time.monotonic()
            total = (
                f"download took over {settings.download_deadline_s:g} s in all, retries "
                "included (--download-deadline)"
            )
            if left <= 0:
                raise FetchError(total, retryable=True, error_class="DownloadTimeout")
            limits = FetchLimits(
                timeout_s=min(settings.download_timeout_s, left),
                min_rate=settings.min_rate_bytes,
                max_bytes=settings.max_filesize_bytes,
                allow_private=settings.allow_private_addresses,
            )
            try:
                return fetch_bounded(url, options, limits=limits, **kwargs)
            except FetchError as error:
                if error.error_class == "DownloadTimeout" and left < settings.download_timeout_s:
                    raise FetchError(total, retryable=True, error_class="DownloadTimeout") from None
                raise

        return once

    def _download(self, request: VideoRequest) -> _Outcome:
        settings = self._settings
        deadline = time.monotonic() + settings.download_deadline_s
        with workdir(self._tmp, request.video_key) as folder:
            options = ytdlp_options(
                str(folder / "media.%(ext)s"),
                max_height=settings.max_height,
                socket_timeout_s=settings.socket_timeout_s,
                max_filesize_bytes=settings.max_filesize_bytes,
                allowed_extractors=settings.allowed_extractors,
            )
            result, attempts = fetch(
                request.url,
                options,
                retries=settings.retries,
                backoff_s=settings.backoff_s,
                max_duration_s=settings.limits.max_duration_s,
                extractors=self._extractors,
                once=self._attempt(deadline),
                sleep=lambda s: time.sleep(max(0.0, min(s, deadline - time.monotonic()))),
            )
            probe = self._validate(result.path, "the downloaded file", result.info.get("duration"))
            final = self._videos / f"{request.video_key}{result.path.suffix}"
            os.replace(result.path, final)
            meta = source_metadata(result.info, settings)
            write_ledger(self._videos, request, final, probe, meta)
            video = video_file(request, str(final), probe, meta)
            return _Outcome(video, ("videos_downloaded",), attempts, final.stat().st_size)


class DownloadVideos(beam.PTransform):
    """PCollection[VideoRequest] -> `(videos, failed)`: VideoFile and ErrorRecord."""

    def __init__(
        self,
        settings: DownloadSettings,
        extractors: Sequence[type] = (),
        *,
        split_failures: bool = False,
    ) -> None:
        """`split_failures`: `failed` as a tuple of PCollections, not flattened into one."""
        super().__init__()
        self._fn = DownloadVideoFn(settings, extractors)
        self._split_failures = split_failures

    def expand(self, requests: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        # No with_exception_handling: its wrapper hides the window and timestamp parameters
        # the DoFn needs, and the DoFn turns every failure of a request into its own row.
        download = beam.ParDo(self._fn).with_output_types(VideoFile, failed=ErrorRecord)
        outputs = requests | "Download" >> download.with_outputs(FAILED, main="videos")
        return outputs["videos"], outputs[FAILED]
