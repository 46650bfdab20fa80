"""Download stage: real yt-dlp against a local HTTP server, real clips, real Beam."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.utils import DownloadError, ExtractorError

from affectflow.schemas.records import ErrorRecord, Stage, VideoFile, VideoRequest
from affectflow.schemas.settings import DownloadSettings, MediaLimits
from affectflow.sources.cache_ledger import TEXT_MAX_CHARS
from affectflow.sources.fetch_errors import FetchError, classify
from affectflow.sources.ytdlp_fetch import fetch, ytdlp_options
from affectflow.transforms.download import DownloadVideoFn, DownloadVideos

PEXELS = "pyfeat_WolfgangLanger_Pexels.mp4"
CRAFTED = Path(__file__).resolve().parents[1] / "data" / "crafted"  # make_crafted_videos.py
SALT = "test-salt"


def _request(url: str, *, is_local: bool = False, row: int = 1) -> VideoRequest:
    key = "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    return VideoRequest(video_key=key, url=url, cohort="c", row_number=row, is_local=is_local)


def _fn(cache: Path, **kwargs: Any) -> DownloadVideoFn:
    extractors = kwargs.pop("extractors", ())
    if "max_duration_s" in kwargs:  # the limit the face stage shares (`MediaLimits`)
        kwargs["limits"] = MediaLimits(max_duration_s=kwargs.pop("max_duration_s"))
    options = {"retries": 2, "backoff_s": 0.001, "socket_timeout_s": 5, **kwargs}
    fn = DownloadVideoFn(DownloadSettings(cache_dir=str(cache), **options), extractors)
    fn.setup()
    return fn


def _run(fn: DownloadVideoFn, request: VideoRequest) -> VideoFile | ErrorRecord:
    """One request through the DoFn as a bundle of one: process, then finish_bundle."""
    (output,) = [*fn.process(request, GlobalWindow(), MIN_TIMESTAMP), *fn.finish_bundle()]
    output = output.value if isinstance(output, beam.pvalue.TaggedOutput) else output
    return output.value if isinstance(output, WindowedValue) else output


def _fail(fn: DownloadVideoFn, request: VideoRequest) -> ErrorRecord:
    error = _run(fn, request)
    assert isinstance(error, ErrorRecord), error
    assert error.stage == Stage.DOWNLOAD and error.video_key == request.video_key
    return error


def test_clip_downloads_validates_and_is_then_served_from_cache(
    http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    url = http_server.add_file("media/clip.mp4", videos_dir / PEXELS)
    request = _request(url)
    video = _run(_fn(tmp_path), request)
    assert isinstance(video, VideoFile) and not video.from_cache
    assert video.path == str(tmp_path / "videos" / f"{request.video_key}.mp4")
    assert Path(video.path).read_bytes() == (videos_dir / PEXELS).read_bytes()
    assert (video.width, video.height) == (640, 360)
    assert video.fps == pytest.approx(23.976, abs=1e-3)
    assert video.duration_s == pytest.approx(19.69, abs=0.01)
    assert (video.extractor, video.source_id) == ("generic", "clip")
    assert video.title is None and video.channel_hash is None
    ledger = json.loads((tmp_path / "videos" / f"{request.video_key}.json").read_text())
    assert ledger["file"] == f"{request.video_key}.mp4" and ledger["frames"] == 472
    assert list((tmp_path / "tmp").iterdir()) == []

    served = http_server.requests()
    again = _run(_fn(tmp_path), request)
    assert isinstance(again, VideoFile) and again.from_cache
    assert (again.path, again.duration_s, again.fps) == (video.path, video.duration_s, video.fps)
    assert http_server.requests() == served


def test_not_found_fails_at_once(http_server: Any, tmp_path: Path) -> None:
    error = _fail(_fn(tmp_path), _request(http_server.url("gone.mp4")))
    assert not error.retryable and error.error_class == "HTTPError"
    assert error.message.startswith("HTTP 404 Not Found: http://127.0.0.1:")
    assert http_server.requests("gone.mp4") == 1
    assert list((tmp_path / "videos").iterdir()) == []


def test_server_errors_are_retried_with_backoff(http_server: Any, tmp_path: Path) -> None:
    url = http_server.route("busy.mp4", status=503, body=b"busy")
    error = _fail(_fn(tmp_path, retries=2), _request(url))
    assert error.retryable and "HTTP 503 Service Unavailable" in error.message
    assert "(after 3 attempts)" in error.message
    assert http_server.requests("busy.mp4") == 3


def test_backoff_doubles_between_attempts(http_server: Any, tmp_path: Path) -> None:
    url = http_server.route("busy.mp4", status=429, body=b"slow down")
    delays: list[float] = []
    options = ytdlp_options(str(tmp_path / "m.%(ext)s"))
    with pytest.raises(FetchError) as caught:
        fetch(url, options, retries=3, backoff_s=0.5, sleep=delays.append)
    assert delays == [0.5, 1.0, 2.0] and caught.value.retryable
    assert caught.value.message == f"HTTP 429 Too Many Requests: {url} (after 4 attempts)"
    assert http_server.requests("busy.mp4") == 4


def test_timeout_is_retryable(http_server: Any, tmp_path: Path) -> None:
    url = http_server.route("slow.mp4", body=b"late", delay_s=2.0)
    error = _fail(_fn(tmp_path, socket_timeout_s=0.2, retries=0), _request(url))
    assert error.retryable and error.message == f"timed out: {url} (after 1 attempt)"


def test_refused_connection_is_retryable(refused_url: str, tmp_path: Path) -> None:
    error = _fail(_fn(tmp_path, retries=1), _request(refused_url))
    assert error.retryable and error.error_class == "TransportError"
    assert error.message == f"connection refused: {refused_url} (after 2 attempts)"


def test_transfer_cut_short_is_retryable(
    http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    data = (videos_dir / PEXELS).read_bytes()
    url = http_server.route(
        "cut.mp4", body=data[:300_000], content_type="video/mp4", declared_length=len(data)
    )
    error = _fail(_fn(tmp_path, retries=0), _request(url))
    assert error.retryable and "cut short" in error.message and "more expected" in error.message


@pytest.mark.parametrize(
    ("fraction", "message"), [(0.5, "truncated or corrupt"), (None, "OpenCV can open")]
)
def test_broken_files_that_download_fine_are_rejected(
    fraction: float | None, message: str, http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    data = (videos_dir / PEXELS).read_bytes()
    body = data[: int(len(data) * fraction)] if fraction else bytes(range(256)) * 2000
    url = http_server.route("broken.mp4", body=body, content_type="video/mp4")
    error = _fail(_fn(tmp_path), _request(url))
    assert error.error_class == "InvalidVideoError" and not error.retryable
    assert error.message.startswith("the downloaded file is not a valid video: ")
    assert message in error.message
    assert list((tmp_path / "videos").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_page_without_video_fails(http_server: Any, tmp_path: Path) -> None:
    url = http_server.add_file("page.html", b"<html><body><p>no video</p></body></html>")
    error = _fail(_fn(tmp_path), _request(url))
    assert not error.retryable and error.error_class == "UnsupportedError"
    assert error.message == f"no video found at {url} (not a page yt-dlp can read)"


def test_page_with_video_tag_downloads(http_server: Any, videos_dir: Path, tmp_path: Path) -> None:
    http_server.add_file("v/clip.mp4", videos_dir / "pyfeat_single_face.mp4")
    url = http_server.add_file("v/page.html", b'<html><video src="clip.mp4"></video></html>')
    video = _run(_fn(tmp_path), _request(url))
    assert isinstance(video, VideoFile) and video.width == 640


def test_a_page_title_of_megabytes_is_kept_cut(
    http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    """--keep-title stores a page's <title>, at most TEXT_MAX_CHARS of it (not 2 MB a row)."""
    http_server.add_file("t/clip.mp4", videos_dir / "pyfeat_single_face.mp4")
    title = "=T\x1b[2J" + "t" * 2_000_000
    page = f'<html><head><title>{title}</title></head><video src="clip.mp4"></video></html>'
    url = http_server.add_file("t/page.html", page.encode())
    video = _run(_fn(tmp_path, keep_title=True), _request(url))
    assert isinstance(video, VideoFile)
    assert video.title == title[:TEXT_MAX_CHARS]


def test_page_with_several_videos_is_refused_without_downloading(
    http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    http_server.add_file("v/a.mp4", videos_dir / "pyfeat_single_face.mp4")
    http_server.add_file("v/b.mp4", videos_dir / "carphone_pristine.mp4")
    page = b'<html><video src="a.mp4"></video><video src="b.mp4"></video></html>'
    url = http_server.add_file("v/two.html", page)
    error = _fail(_fn(tmp_path), _request(url))
    assert error.error_class == "PlaylistURL" and "holds 2 videos" in error.message
    assert http_server.requests("v/a.mp4") == http_server.requests("v/b.mp4") == 0


def test_limits_on_duration_and_size(http_server: Any, videos_dir: Path, tmp_path: Path) -> None:
    url = http_server.add_file("long.mp4", videos_dir / PEXELS)
    # A direct file has no duration in its metadata: the limit applies after probing.
    error = _fail(_fn(tmp_path, max_duration_s=10), _request(url))
    assert error.error_class == "MaxDurationExceeded" and not error.retryable
    assert error.message == "video is 19.7 s long, over max_duration 10 s"
    error = _fail(_fn(tmp_path, max_filesize_bytes=100_000), _request(url))
    assert error.error_class == "MaxFilesizeExceeded" and "100000 bytes" in error.message
    assert list((tmp_path / "videos").iterdir()) == []


def test_variable_frame_rate_files_pass(http_server: Any, tmp_path: Path) -> None:
    fn = _fn(tmp_path)
    url = http_server.add_file("vfr/clip.webm", CRAFTED / "vfr_vp8.webm")
    paths = [url, *(str(CRAFTED / name) for name in ("vfr_vp9.webm", "vfr_h264.mkv"))]
    for path in paths:
        video = _run(fn, _request(path, is_local=path != url))
        assert isinstance(video, VideoFile), video
        assert video.duration_s == pytest.approx(3.93, abs=0.05)


def test_a_header_that_understates_the_duration_is_seen_through(
    http_server: Any, tmp_path: Path
) -> None:
    # 20 s of frames, a Matroska header that says 2 s
    url = http_server.add_file("lie.mkv", CRAFTED / "lying_duration.mkv")
    error = _fail(_fn(tmp_path / "strict", max_duration_s=10), _request(url))
    assert error.error_class == "MaxDurationExceeded" and not error.retryable
    # the frames were read up to the first one past the limit (decoding order), no further
    assert re.fullmatch(
        r"video's frames run past 1[01]\.\d s although its header says 2\.0 s, "
        r"over max_duration 10 s",
        error.message,
    ), error.message
    assert list((tmp_path / "strict" / "videos").iterdir()) == []
    video = _run(_fn(tmp_path / "lax", max_duration_s=30), _request(url))
    assert isinstance(video, VideoFile) and video.duration_s == 19.75  # not 2.0
    ledger = json.loads(Path(video.path).with_suffix(".json").read_text())
    assert (ledger["duration_s"], ledger["frames"]) == (19.75, 80)


def test_restricted_extractors_refuse_other_sites(
    http_server: Any, videos_dir: Path, tmp_path: Path
) -> None:
    url = http_server.add_file("clip.mp4", videos_dir / PEXELS)
    error = _fail(_fn(tmp_path, allowed_extractors=("youtube",)), _request(url))
    assert error.message == f"no allowed extractor for {url}" and not error.retryable
    assert http_server.requests() == 0


def test_local_files_are_validated_in_place(videos_dir: Path, tmp_path: Path) -> None:
    fn = _fn(tmp_path / "cache")
    path = videos_dir / "carphone_pristine.mp4"
    for url in (str(path), path.as_uri()):
        video = _run(fn, _request(url, is_local=True))
        assert isinstance(video, VideoFile) and video.path == str(path)
        assert (video.width, video.height, video.duration_s) == (
            176,
            144,
            pytest.approx(4.0, abs=0.01),
        )
    assert list((tmp_path / "cache" / "videos").iterdir()) == []
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(path.read_bytes()[:1000])
    error = _fail(fn, _request(str(broken), is_local=True))
    assert error.message.startswith(f"local file {broken} is not a valid video")


@pytest.mark.parametrize(
    ("error", "retryable", "message"),
    [
        (ExtractorError("Sign in to confirm you're not a bot", expected=True), True, "Sign in"),
        (ExtractorError("Private video", expected=True), False, "Private video"),
        (
            DownloadError("ERROR: [generic] x: Read timed out.", (None, TransportError(), None)),
            True,
            "network error",
        ),
        (DownloadError("ERROR: Giving up after 3 retries"), True, "Giving up after 3 retries"),
    ],
)
def test_classify_messages(error: Exception, retryable: bool, message: str) -> None:
    fetch_error = classify(error, "https://example.org/v")
    assert fetch_error.retryable is retryable and message in fetch_error.message


def test_a_full_disk_under_a_download_is_retryable_and_named() -> None:
    error = DownloadError("ERROR: unable to write data: [Errno 28] No space left on device")
    fetch_error = classify(error, "https://example.org/v")
    assert fetch_error.retryable and fetch_error.error_class == "ENOSPC"
    assert fetch_error.message == "unable to write data: [Errno 28] No space left on device"


class YoutubeStandInIE(InfoExtractor):
    """Test-only stand-in for yt-dlp's YouTube extractor: ids -> files on the local server.

    An instance (its catalog of videos travels with it to the download child)."""

    IE_NAME = "youtube"
    _VALID_URL = r"https?://(?:www\.)?youtube\.com/watch\?v=(?P<id>[\w-]{11})"

    def __init__(self, videos: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.videos = videos

    @classmethod
    def ie_key(cls) -> str:
        return "Youtube"

    def _real_extract(self, url: str) -> dict[str, Any]:
        video_id = self._match_id(url)
        video = self.videos.get(video_id)
        if video is None:
            raise ExtractorError("Video unavailable", expected=True, video_id=video_id)
        fmt = {"format_id": "134", "url": video["url"], "ext": "mp4", "height": 360}
        return {
            "id": video_id,
            "title": "A title",
            "channel_id": "UCchannel",
            "upload_date": "20230115",
            "duration": video["duration"],
            "formats": [{**fmt, "width": 640, "fps": 24, "vcodec": "avc1", "acodec": "none"}],
        }


@pytest.fixture
def youtube(http_server: Any, videos_dir: Path) -> YoutubeStandInIE:
    """The stand-in, its one video served by `http_server`."""
    url = http_server.add_file("yt/media.mp4", videos_dir / PEXELS)
    return YoutubeStandInIE({"aaaaaaaaaaa": {"url": url, "duration": 20}})


# The stand-in's media live on 127.0.0.1, a page link from a public URL: allowed only so.
LOCAL_MEDIA = {"allow_private_addresses": True}


def _watch(video_id: str) -> VideoRequest:
    url = f"https://www.youtube.com/watch?v={video_id}"
    return VideoRequest(video_key=f"youtube-{video_id}", url=url, cohort="c", row_number=1)


def test_youtube_metadata_is_pseudonymised(youtube: Any, tmp_path: Path) -> None:
    kwargs = {"extractors": (youtube,), "channel_salt": SALT, **LOCAL_MEDIA}
    video = _run(_fn(tmp_path, **kwargs), _watch("aaaaaaaaaaa"))
    assert isinstance(video, VideoFile) and (video.extractor, video.source_id) == (
        "youtube",
        "aaaaaaaaaaa",
    )
    expected = hmac.new(SALT.encode(), b"UCchannel", hashlib.sha256).hexdigest()
    assert video.channel_hash == expected and video.title is None
    assert video.upload_date == "20230115"
    ledger = (tmp_path / "videos" / "youtube-aaaaaaaaaaa.json").read_text()
    assert "UCchannel" not in ledger and "A title" not in ledger
    cached = _run(_fn(tmp_path, **kwargs, keep_title=True), _watch("aaaaaaaaaaa"))
    assert cached.from_cache and cached.channel_hash == expected
    other_salt = _run(_fn(tmp_path, extractors=(youtube,), **LOCAL_MEDIA), _watch("aaaaaaaaaaa"))
    assert other_salt.from_cache and other_salt.channel_hash is None


def test_youtube_title_kept_when_asked(youtube: Any, tmp_path: Path) -> None:
    fn = _fn(tmp_path, extractors=(youtube,), keep_title=True, **LOCAL_MEDIA)
    assert _run(fn, _watch("aaaaaaaaaaa")).title == "A title"


def test_youtube_unavailable_and_too_long(youtube: Any, http_server: Any, tmp_path: Path) -> None:
    fn = _fn(tmp_path, extractors=(youtube,), max_duration_s=15, **LOCAL_MEDIA)
    error = _fail(fn, _watch("bbbbbbbbbbb"))
    assert (error.message, error.retryable, error.error_class) == (
        "Video unavailable",
        False,
        "ExtractorError",
    )
    error = _fail(fn, _watch("aaaaaaaaaaa"))
    assert error.message == "video is 20.0 s long, over max_duration 15 s"
    assert http_server.requests("yt/media.mp4") == 0  # skipped before any media byte


@pytest.mark.slow
def test_pipeline_keeps_good_videos_and_routes_failures(
    http_server: Any, videos_dir: Path, tmp_path: Path, refused_url: str
) -> None:
    good = _request(http_server.add_file("good.mp4", videos_dir / "pyfeat_single_face.mp4"))
    junk = _request(http_server.route("junk.mp4", body=b"\0" * 5000, content_type="video/mp4"))
    missing = _request(http_server.url("missing.mp4"))
    refused = _request(refused_url)
    # Unexpected: the ledger's name is taken by a folder -> a dead letter, still an error row.
    blocked = _request(http_server.add_file("blocked.mp4", videos_dir / "pyfeat_single_face.mp4"))
    (tmp_path / "videos" / f"{blocked.video_key}.json").mkdir(parents=True)
    stage = DownloadVideos(DownloadSettings(cache_dir=str(tmp_path), retries=1, backoff_s=0.001))
    with TestPipeline(runner="FnApiRunner") as pipeline:
        requests = pipeline | beam.Create([good, junk, missing, refused, blocked])
        videos, failed = requests | stage
        keys = videos | beam.Map(lambda video: (video.request.video_key, video.width))
        assert_that(keys, equal_to([(good.video_key, 640)]), label="Videos")
        failures = failed | beam.Map(lambda e: (e.video_key, e.retryable, e.error_class))
        assert_that(
            failures,
            equal_to(
                [
                    (junk.video_key, False, "InvalidVideoError"),
                    (missing.video_key, False, "HTTPError"),
                    (refused.video_key, True, "TransportError"),
                    (blocked.video_key, False, "IsADirectoryError"),
                ]
            ),
            label="Failed",
        )


def test_the_download_deadline_bounds_all_attempts_together(
    http_server: Any, tmp_path: Path
) -> None:
    """A server that answers 503 after 1 s, retried 20 times with 1 s back-off: without
    a total deadline about 20 attempts and 2 hours of back-off; with --download-deadline
    3 s, the attempts that fit in 3 s and one clear error."""
    url = http_server.route("busy.mp4", status=503, body=b"busy", delay_s=1.0)
    # --min-rate off: its check starts after a quarter of the time left (0.75 s here), and
    # 4 bytes after 1 s of waiting would read as a too-slow download, depending on when the
    # watcher looks (seen once on a loaded machine); this test is about the deadline alone.
    fn = _fn(tmp_path, retries=20, backoff_s=1.0, download_deadline_s=3.0, min_rate_bytes=0.0)
    error = _fail(fn, _request(url))
    assert (error.error_class, error.retryable) == ("DownloadTimeout", True)
    assert error.message == (
        "download took over 3 s in all, retries included (--download-deadline)"
    )
    assert 1 <= http_server.requests("busy.mp4") <= 3
