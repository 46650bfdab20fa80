"""SplitDone and ToVideoRows: where each input ends, in a real Beam pipeline."""

from __future__ import annotations

import logging

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from affectflow.schemas.records import (
    ErrorRecord,
    RunInfo,
    Stage,
    VideoFile,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)
from affectflow.schemas.rows import failed_video_row, skipped_video_row, summary_video_row
from affectflow.transforms.outcomes import CountStatusFn, SplitDone, ToVideoRows

RUN = RunInfo(run_id="20250102T030405Z-r", model_id="m", weights_sha256="s" * 64, analysis_id="a")


def request(key: str, row: int, cohort: str = "a") -> VideoRequest:
    return VideoRequest(key, f"https://example.org/{key}.mp4", cohort, row, {"note": key})


def summary(key: str, row: int, faces: int) -> VideoSummary:
    video = VideoFile(request(key, row), f"/cache/{key}.mp4", 2.4, 25.0, 640, 360)
    tracks = 1 if faces else 0
    return VideoSummary(video, 12, faces, tracks, decoded_s=2.4, seconds=1.5)


REQUESTS = [request(k, i) for i, k in enumerate(["new-1", "done-1", "gone-1", "both-1", "new-2"])]
DONE = frozenset({"done-1", "both-1", "not-in-the-list"})
FORGOTTEN = frozenset({"gone-1", "both-1"})  # forgotten wins over done

FAILED = [
    ErrorRecord.for_request(request("broken", 7, "b"), Stage.DOWNLOAD, "HTTP 404"),
    # a bad row of the list: no video key, no url, only the row as text
    ErrorRecord(Stage.INGEST, "BadRow", "no url", False, input="row 9: ,b,", cohort="b"),
]


def counter(result: PipelineResult, name: str) -> int:
    query = result.metrics().query(MetricsFilter().with_namespace("affectflow").with_name(name))
    return sum(c.committed for c in query["counters"])


@pytest.fixture(scope="module")
def pipeline_result() -> PipelineResult:
    """One FnApiRunner job: SplitDone feeds ToVideoRows, as in the analyze graph."""
    pipeline = TestPipeline(runner="FnApiRunner")
    todo, done = pipeline | "Requests" >> beam.Create(REQUESTS) | SplitDone(DONE, FORGOTTEN)
    assert_that(
        todo | "TodoKeys" >> beam.Map(lambda r: r.video_key),
        equal_to(["new-1", "new-2"]),
        label="CheckTodo",
    )
    assert_that(
        done | "DoneKeys" >> beam.Map(lambda r: r.video_key),
        equal_to(["done-1"]),
        label="CheckDone",
    )
    summaries = pipeline | "Summaries" >> beam.Create(
        [summary("new-1", 0, faces=3), summary("new-2", 4, faces=0)]
    )
    failed = pipeline | "Failed" >> beam.Create(FAILED)
    rows = (summaries, done, failed) | ToVideoRows(RUN)
    assert_that(
        rows
        | "RowKeys" >> beam.Map(lambda r: (r["status"], r["video_key"], r["url"], r["cohort"])),
        equal_to(
            [
                ("ok", "new-1", "https://example.org/new-1.mp4", "a"),
                ("no_faces", "new-2", "https://example.org/new-2.mp4", "a"),
                ("skipped", "done-1", "https://example.org/done-1.mp4", "a"),
                ("failed", "broken", "https://example.org/broken.mp4", "b"),
                ("failed", None, "row 9: ,b,", "b"),
            ]
        ),
        label="CheckRows",
    )
    assert_that(
        rows | "Stamps" >> beam.Map(lambda r: (r["run_id"], r["model_id"], r["analysis_id"])),
        equal_to([(RUN.run_id, RUN.model_id, RUN.analysis_id)] * 5),
        label="CheckStamps",
    )
    assert_that(
        rows
        | "Full" >> beam.Filter(lambda r: r["status"] == "ok")
        | "Counts" >> beam.Map(lambda r: (r["frames_sampled"], r["faces_detected"], r["fps"])),
        equal_to([(12, 3, 25.0)]),
        label="CheckOkRow",
    )
    result = pipeline.run()
    result.wait_until_finish()
    return result


def test_split_done_counts(pipeline_result: PipelineResult) -> None:
    assert counter(pipeline_result, "videos_to_do") == 2
    assert counter(pipeline_result, "videos_already_done") == 1
    assert counter(pipeline_result, "videos_forgotten") == 2


def test_video_rows_count_each_status(pipeline_result: PipelineResult) -> None:
    counts = {status: counter(pipeline_result, f"videos_{status}") for status in VideoStatus}
    assert counts == {
        VideoStatus.OK: 1,
        VideoStatus.NO_FACES: 1,
        VideoStatus.SKIPPED: 1,
        VideoStatus.FAILED: 2,
    }


def test_count_status_logs_one_progress_line_per_row(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="affectflow.progress")
    fn = CountStatusFn()
    fn.setup()
    rows = [
        summary_video_row(summary("new-1", 0, faces=3), RUN),
        summary_video_row(summary("new-2", 4, faces=0), RUN),
        skipped_video_row(request("done-1", 1), RUN),
        failed_video_row(FAILED[0], RUN),
        failed_video_row(FAILED[1], RUN),
    ]
    out = [row for r in rows for row in fn.process(r)]
    assert out == rows  # passed through unchanged
    lines = [r.getMessage() for r in caplog.records if r.name == "affectflow.progress"]
    assert lines == [
        "ok new-1: 12 frames, 3 faces, 1 tracks, 1.5 s",
        "no_faces new-2: 12 frames, 0 faces, 0 tracks, 1.5 s",
        "skipped done-1",
        lines[3],
        lines[4],
    ]
    # A failed video's line names it and says `stage: message` (the errors row's text).
    assert lines[3].startswith("failed broken") and "download: HTTP 404" in lines[3]
    assert "row 9: ,b," in lines[4] and "ingest: no url" in lines[4]  # no key: its input
    assert {r.levelno for r in caplog.records if r.name == "affectflow.progress"} == {logging.INFO}


def test_count_status_refuses_an_unknown_status() -> None:
    fn = CountStatusFn()
    fn.setup()
    row = {**skipped_video_row(request("x", 0), RUN), "status": "pending"}
    with pytest.raises(ValueError, match="pending"):
        list(fn.process(row))
