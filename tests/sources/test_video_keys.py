"""One video, one key: every spelling of a URL normalises to one, and a URL already in
that form keeps the key earlier warehouses hold."""

from __future__ import annotations

import hashlib

import pytest

from affectflow.schemas.records import ErrorRecord, VideoRequest
from affectflow.sources.video_keys import normalise_url, video_key_for
from affectflow.sources.video_list import parse_video_list

SPELLINGS = [
    ("HTTP://h/x.mp4", "http://h/x.mp4"),
    ("http://H.Example.ORG/x.mp4", "http://h.example.org/x.mp4"),
    ("http://h/./x.mp4", "http://h/x.mp4"),
    ("http://h/a/../x.mp4", "http://h/x.mp4"),
    ("http://h/a/b/./../../x.mp4", "http://h/x.mp4"),
    ("http://h/../../x.mp4", "http://h/x.mp4"),
    ("http://h/a/b/..", "http://h/a/"),
    ("http://h:08766/x.mp4", "http://h:8766/x.mp4"),
    ("http://h:80/x.mp4", "http://h/x.mp4"),
    ("http://h:080/x.mp4", "http://h/x.mp4"),
    ("https://h:443/x.mp4", "https://h/x.mp4"),
    ("https://h:80/x.mp4", "https://h:80/x.mp4"),
    ("http://h:/x.mp4", "http://h/x.mp4"),
    ("http://[::1]:0080/x.mp4", "http://[::1]/x.mp4"),
    ("http://u:p@H:0443/x.mp4", "http://u:p@h:443/x.mp4"),
    ("http://h/a%2fb.mp4", "http://h/a%2Fb.mp4"),
    ("http://h/%7Euser/%41.mp4", "http://h/~user/A.mp4"),
    ("http://h/x.mp4?t=%2a&s=%2D", "http://h/x.mp4?t=%2A&s=-"),
    ("http://h/x.mp4#t=3", "http://h/x.mp4"),
]


@pytest.mark.parametrize(("spelling", "normal"), SPELLINGS, ids=[s for s, _ in SPELLINGS])
def test_each_spelling_normalises_to_one(spelling: str, normal: str) -> None:
    assert normalise_url(spelling) == normal
    assert video_key_for(spelling) == video_key_for(normal)


NORMAL = [
    "http://h/x.mp4",
    "https://example.org/videos/clip%20one.mp4?sig=abc&t=1",
    "http://127.0.0.1:8766/a/b.mp4",
    "https://example.org/a..b/.hidden/x.mp4",
    "http://h",
]


@pytest.mark.parametrize("url", NORMAL)
def test_a_url_already_normal_keeps_the_key_warehouses_hold(url: str) -> None:
    """The key earlier versions derived: sha256 of the URL as it was (already normal)."""
    assert normalise_url(url) == url
    assert video_key_for(url) == "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]


def test_a_list_naming_one_video_three_ways_is_one_video_and_duplicates() -> None:
    text = (
        "url,cohort\nHTTP://h/x.mp4,a\nhttp://h/./x.mp4,a\n"
        "http://h:08766/y.mp4,a\nhttp://h:8766/y.mp4,a\n"
    )
    items = list(parse_video_list(text, "csv"))
    assert [type(i) for i in items] == [VideoRequest, ErrorRecord, VideoRequest, ErrorRecord]
    assert "duplicate of row 1" in items[1].message and "duplicate of row 3" in items[3].message
    assert items[0].url == "HTTP://h/x.mp4"  # fetched and stored as given
