"""Rows gathered in the driver travel to the pipeline as a file and come back unchanged."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest
from affectflow.transforms.listed import ListedVideos, ReadListedVideos, write_listed

LISTED = ListedVideos(
    requests=(
        VideoRequest("youtube-abcdefghijk", "https://youtu.be/abcdefghijk", "a", 1, {"n": "1"}),
        VideoRequest("local-0123", "/data/x.mp4", "b", 2, {}, is_local=True),
    ),
    row_failures=(
        ErrorRecord(Stage.INGEST, "InvalidRow", "row 3: no url", False, "{}", row_number=3),
    ),
    source_failures=(
        ErrorRecord(Stage.INGEST, "HTTPError", "HTTP 404", False, "source 1", cohort="a"),
    ),
)


def test_listed_rows_round_trip_through_a_pipeline(tmp_path: Path) -> None:
    path = str(tmp_path / "input" / "listed.jsonl")
    write_listed(LISTED, path)
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        requests, rows, sources = pipeline | ReadListedVideos(path)
        assert_that(requests, equal_to(list(LISTED.requests)), label="requests")
        assert_that(rows, equal_to(list(LISTED.row_failures)), label="rows")
        assert_that(sources, equal_to(list(LISTED.source_failures)), label="sources")
    assert len(LISTED) == 4
