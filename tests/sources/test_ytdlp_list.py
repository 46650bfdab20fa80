"""Flat listing with real yt-dlp against an RSS feed on a local HTTP server."""

from __future__ import annotations

import pytest

from affectflow.sources.fetch_errors import FetchError
from affectflow.sources.ytdlp_list import list_videos, listing_options

ITEMS = ("a.mp4", "b.mp4", "a.mp4", "c.mp4")


def _feed(base: str, names: tuple[str, ...] = ITEMS) -> bytes:
    items = "".join(f"<item><title>{n}</title><link>{base}/{n}</link></item>" for n in names)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


def test_a_feed_lists_its_videos_once_each_in_order(http_server) -> None:
    feed = http_server.add_file("feed.xml", _feed(http_server.base_url))
    urls = list_videos(feed, listing_options(socket_timeout_s=5), retries=0)
    assert urls == [http_server.url(n) for n in ("a.mp4", "b.mp4", "c.mp4")]
    assert http_server.requests("/a.mp4") == 0  # flat: the videos themselves are not fetched


def test_max_entries_keeps_the_first_entries(http_server) -> None:
    feed = http_server.add_file("feed.xml", _feed(http_server.base_url))
    urls = list_videos(feed, listing_options(), max_entries=2, retries=0)
    assert urls == [http_server.url("a.mp4"), http_server.url("b.mp4")]


def test_a_listing_over_the_entries_cap_fails_unless_a_number_is_asked_for(http_server) -> None:
    feed = http_server.add_file("feed.xml", _feed(http_server.base_url, ("a", "b", "c")))
    with pytest.raises(FetchError) as error:
        list_videos(feed, listing_options(), entries_cap=2, retries=0)
    assert error.value.error_class == "TooManyEntries" and not error.value.retryable
    assert "lists over 2 videos: give it a max_videos" in error.value.message
    assert len(list_videos(feed, listing_options(), max_entries=3, entries_cap=2, retries=0)) == 3
    assert len(list_videos(feed, listing_options(), entries_cap=3, retries=0)) == 3


def test_a_missing_listing_is_a_permanent_error(http_server) -> None:
    with pytest.raises(FetchError) as error:
        list_videos(http_server.url("gone.xml"), listing_options(), retries=2, backoff_s=0)
    assert not error.value.retryable and "HTTP 404" in error.value.message
    assert http_server.requests("/gone.xml") >= 1


def test_a_rate_limited_listing_is_retried_then_fails(http_server) -> None:
    url = http_server.route("busy.xml", status=503, body=b"busy")
    with pytest.raises(FetchError) as error:
        list_videos(url, listing_options(), retries=2, backoff_s=0, sleep=lambda s: None)
    assert error.value.retryable and "(after 3 attempts)" in error.value.message
