"""Hostile servers cannot stop, flood or fool a download job.

One real Beam job over a local server (127.0.0.1) that streams forever, inflates a gzip
bomb, drips one byte a second from the first byte (cut by --min-rate, counted as bytes
arrive), feeds an endless page and a 50 MB page, redirects to the cloud metadata address
(plain and IPv4-mapped IPv6), serves a live HLS playlist and a decoder bomb (a 0.6 MB file
of 4000x4000 frames, refused by --max-pixels from its header), next to a good clip: each
hostile URL ends as one failed row with a clear error, the good clip downloads, the job
ends within its time bound, and no download in the cache ever passes the size cap (sampled).
A page is read up to its cap only: the memory a fetch of a 50 MB or an endless page
allocates (traced) stays within twice the cap.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from affectflow.schemas.records import VideoRequest
from affectflow.schemas.settings import DownloadSettings
from affectflow.transforms.download import DownloadVideos

pytestmark = pytest.mark.slow  # hostile servers stream for seconds

CAP = 1_000_000
TIMEOUT_S = 10.0


def _gzip_bomb(inflated_mib: int) -> bytes:
    """gzip of `inflated_mib` MiB of zeros (about 1/1000 of that)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(inflated_mib)) + packer.flush()


def _live_playlist() -> bytes:
    segments = b"".join(b"#EXTINF:2.0,\nseg%d.ts\n" % i for i in range(3))
    return b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n" + segments  # no ENDLIST


def _page_routes(server: Any) -> dict[str, str]:
    """An endless HTML page (no length, 30 s of it) and a 50 MB one (with its length)."""
    page = b"<html><body>" + b"<p>endless</p>" * 5000
    huge = b"<html><body>" + b"<p>a huge page</p>" * (50_000_000 // 18)
    return {
        "endless_html": server.route(
            "h/page.html", body=page, content_type="text/html", repeat_for_s=30
        ),
        "huge_html": server.route("h/huge.html", body=huge, content_type="text/html"),
    }


def _hostile_routes(server: Any, clip: bytes, bomb: bytes) -> dict[str, str]:
    return {
        **_page_routes(server),
        "endless": server.route("h/endless.mp4", body=bytes(65536), repeat_for_s=30),
        "gzip_bomb": server.route(
            "h/bomb.mp4", body=_gzip_bomb(64), headers=(("Content-Encoding", "gzip"),)
        ),
        "drip": server.route("h/drip.mp4", body=clip, content_type="video/mp4", byte_every_s=1),
        "metadata_redirect": server.route(
            "h/redirect.mp4", status=302, headers=(("Location", "http://169.254.169.254/x"),)
        ),
        "mapped_redirect": server.route(
            "h/mapped.mp4", status=302, headers=(("Location", "http://[::ffff:a9fe:a9fe]/x"),)
        ),
        "live_hls": server.route(
            "h/live.m3u8", body=_live_playlist(), content_type="application/vnd.apple.mpegurl"
        ),
        "decoder_bomb": server.route("h/pixels.mp4", body=bomb, content_type="video/mp4"),
    }


EXPECTED = {
    "endless": ("MaxFilesizeExceeded", "larger than max-filesize 1000000 bytes"),
    "gzip_bomb": ("MaxFilesizeExceeded", "larger than max-filesize 1000000 bytes"),
    "drip": ("DownloadTooSlow", "under --min-rate 1024"),
    "decoder_bomb": ("MaxPixelsExceeded", "over --max-pixels 8,294,400"),
    "endless_html": ("PageTooLarge", "larger than 8 MiB"),
    "huge_html": ("PageTooLarge", "larger than 8 MiB"),
    "metadata_redirect": ("PrivateAddressRefused", "refused to connect to 169.254.169.254"),
    "mapped_redirect": ("PrivateAddressRefused", "::ffff:169.254.169.254, a link-local address"),
    "live_hls": ("LiveStream", "a live stream"),
}


class _CacheSampler:
    """Samples, while a job runs, the largest file under the cache folder and the most
    download work folders (`<cache>/tmp/<video_key>-*`) present at once."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.largest, self._stop = folder, 0, threading.Event()
        self.most_at_once = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tmp = self.folder / "tmp"
            at_once = sum(1 for p in tmp.glob("url-*") if p.is_dir()) if tmp.is_dir() else 0
            self.most_at_once = max(self.most_at_once, at_once)
            for path in list(self.folder.rglob("*")):
                try:
                    self.largest = max(self.largest, path.stat().st_size)
                except OSError:
                    continue  # deleted meanwhile
            time.sleep(0.05)

    def __enter__(self) -> _CacheSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_hostile_servers_each_end_as_one_row_and_the_good_clip_finishes(
    http_server: Any, videos_dir: Path, tmp_path: Path, pixel_bomb: Path
) -> None:
    clip = (videos_dir / "pyfeat_single_face.mp4").read_bytes()
    hostile = _hostile_routes(http_server, clip, pixel_bomb.read_bytes())
    urls = {"good": http_server.add_file("good.mp4", clip), **hostile}
    requests = [
        VideoRequest(video_key=f"url-{i:016x}", url=url, cohort=name, row_number=i)
        for i, (name, url) in enumerate(urls.items())
    ]
    settings = DownloadSettings(
        cache_dir=str(tmp_path / "cache"),
        retries=1,
        backoff_s=0.01,
        socket_timeout_s=5,
        max_filesize_bytes=CAP,
        download_timeout_s=TIMEOUT_S,
        concurrent_downloads=len(requests),
    )
    with _CacheSampler(tmp_path / "cache") as sampler, TestPipeline(runner="FnApiRunner") as p:
        videos, failed = p | beam.Create(requests) | DownloadVideos(settings)
        assert_that(videos | "Cohort" >> beam.Map(lambda v: v.request.cohort), equal_to(["good"]))
        errors = failed | "Describe" >> beam.Map(lambda e: (e.cohort, e.error_class, e.message))
        assert_that(errors, _matches(EXPECTED), label="Errors")
    assert sampler.most_at_once >= 2  # downloads overlap: one slow host does not idle the job
    assert 0 < sampler.largest <= CAP


def _matches(expected: dict[str, tuple[str, str]]) -> Any:
    def check(rows: list[tuple[str, str, str]]) -> None:
        got = {cohort: (error_class, message) for cohort, error_class, message in rows}
        assert len(rows) == len(expected) and set(got) == set(expected), rows
        for cohort, (error_class, words) in expected.items():
            assert got[cohort][0] == error_class and words in got[cohort][1], got[cohort]

    return check


@pytest.mark.parametrize("allow", [False, True])
def test_a_public_origin_may_not_reach_loopback_unless_allowed(
    http_server: Any, videos_dir: Path, allow: bool, tmp_path: Path
) -> None:
    """A page on a public host linking to 127.0.0.1 is refused; the option allows it."""
    from affectflow.sources.bounded_child import FetchLimits
    from affectflow.sources.bounded_fetch import fetch_bounded
    from affectflow.sources.fetch_errors import FetchError
    from affectflow.sources.ytdlp_fetch import ytdlp_options

    http_server.add_file("media.mp4", videos_dir / "pyfeat_single_face.mp4")
    origin = "http://localtest.invalid/page"  # never resolved: the guard checks connections
    options = ytdlp_options(str(tmp_path / "m.%(ext)s"), socket_timeout_s=5)
    options["proxy"] = http_server.base_url  # the public origin is reached through it
    limits = FetchLimits(timeout_s=20, allow_private=allow)
    if allow:
        with pytest.raises(FetchError) as error:  # through the proxy: 404, not a refusal
            fetch_bounded(origin, options, limits=limits)
        assert error.value.error_class == "HTTPError"
    else:
        with pytest.raises(FetchError) as error:
            fetch_bounded(origin, options, limits=limits)
        assert error.value.error_class == "PrivateAddressRefused"


@pytest.mark.parametrize("page", ["endless_html", "huge_html"])
def test_a_page_is_read_up_to_its_cap_only(http_server: Any, tmp_path: Path, page: str) -> None:
    """In this process (as a listing reads pages): the fetch fails once the page passed
    the cap, and what it allocated at its peak stays within twice the cap (without the
    cap: over 1 GiB for the 50 MB page, as yt-dlp decodes and searches it whole)."""
    from affectflow.sources.bounded_fetch import warm_up
    from affectflow.sources.fetch_errors import FetchError
    from affectflow.sources.page_cap import PAGE_MAX_BYTES
    from affectflow.sources.ytdlp_fetch import fetch_once, ytdlp_options

    warm_up()  # the extractors' patterns compiled outside the trace
    url = _page_routes(http_server)[page]
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as error:
            fetch_once(url, ytdlp_options(str(tmp_path / "m.%(ext)s"), socket_timeout_s=5))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.value.error_class == "PageTooLarge" and not error.value.retryable
    assert peak < 2 * PAGE_MAX_BYTES
