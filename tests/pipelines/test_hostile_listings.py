"""A hostile listing source fails alone: the other sources of the refresh are listed.

`refresh` lists each URL source in a watched child process (`ytdlp_list.list_bounded`):
an endless listing page and a 50 MB one are read up to the page cap, a page dripping
one byte a second is stopped at `--download-timeout`; each ends as its own source
failure with a clear message, and the good feed next to them lists its videos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from affectflow.pipelines.options import AnalyzeOptions
from affectflow.pipelines.refresh import gather
from affectflow.pipelines.refresh_config import load_config

pytestmark = pytest.mark.slow  # hostile listings

FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
    "<item><title>a</title><link>{base}/a.mp4</link></item>"
    "<item><title>b</title><link>{base}/b.mp4</link></item></channel></rss>"
)


def _sources(server: Any) -> dict[str, str]:
    page = b"<html><body>" + b"<p>endless listing</p>" * 3000
    return {
        "good": server.add_file("feed.xml", FEED.format(base=server.base_url).encode()),
        "endless": server.route("endless", body=page, content_type="text/html", repeat_for_s=30),
        "huge": server.route(
            "huge", body=page * (50_000_000 // len(page)), content_type="text/html"
        ),
        "drip": server.route(
            "drip", body=FEED.encode(), content_type="application/rss+xml", byte_every_s=1
        ),
    }


def test_each_hostile_listing_fails_alone_and_the_good_feed_is_listed(
    http_server: Any, tmp_path: Path
) -> None:
    sources = _sources(http_server)
    config = tmp_path / "cohorts.toml"
    config.write_text(
        f'warehouse = "wh"\n[analyze]\ncache_dir = "{tmp_path / "cache"}"\n'
        "retries = 0\nsocket-timeout = 5\ndownload-timeout = 15\n"
        + "".join(f'[cohorts.{name}]\nsources = ["{url}"]\n' for name, url in sources.items())
    )
    loaded = load_config(str(config))
    opts = PipelineOptions(list(loaded.analyze_args)).view_as(AnalyzeOptions)

    listed = gather(loaded, opts)

    assert sorted(r.url for r in listed.requests) == [
        http_server.url("a.mp4"),
        http_server.url("b.mp4"),
    ]
    failures = {f.cohort: (f.error_class, f.message) for f in listed.source_failures}
    assert set(failures) == {"endless", "huge", "drip"}, failures
    for name in ("endless", "huge"):
        assert failures[name][0] == "PageTooLarge"
        assert "could not be listed: the page is larger than 8 MiB" in failures[name][1]
    assert failures["drip"][0] == "ListingTimeout"
    assert "could not be listed: listing took over 15 s (--download-timeout)" in failures["drip"][1]
