"""ReadSettled, SplitDone and DropSettled: "already done?" read from a real warehouse."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.runner import PipelineResult
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from affectflow.pipelines.summary import counter_values
from affectflow.schemas.records import ErrorRecord, RunInfo, Stage, VideoRequest
from affectflow.schemas.rows import error_row, failed_video_row, skipped_video_row
from affectflow.transforms.outcomes import DropSettled, ReadSettled, SplitDone
from affectflow.warehouse.commit import commit_run, ensure_tables
from affectflow.warehouse.layout import forgotten_file
from affectflow.warehouse.units import new_unit_id, write_unit

EARLIER = RunInfo("20250101T000000Z-aaaaaa", "m", "s" * 64, "a")
RUN = RunInfo("20250102T030405Z-bbbbbb", "m", "s" * 64, "a")


def request(key: str, row: int, cohort: str = "a") -> VideoRequest:
    return VideoRequest(key, f"https://example.org/{key}.mp4", cohort, row, {"note": key})


REQUESTS = [
    request(k, i) for i, k in enumerate(["new-1", "done-1", "gone-1", "both-1", "resumed-1"])
]
BAD_ROWS = [
    ErrorRecord(Stage.INGEST, "BadRow", "no url", False, input="row 9: ,b,", cohort="b"),
    ErrorRecord(Stage.INGEST, "BadRow", "no url", False, input="row 10: ,b,", cohort="b"),
]


def _unit(warehouse: str, run: RunInfo, videos: list[dict], errors: list[dict]) -> None:
    unit_id = new_unit_id(run.run_id)
    rows = {
        "videos": [{**row, "unit_id": unit_id} for row in videos],
        "errors": [{**row, "unit_id": unit_id} for row in errors],
    }
    write_unit(warehouse, run.run_id, unit_id, rows, len(videos))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """done-1 and both-1 analysed by a committed run (another analysis: other-1); gone-1 and
    both-1 forgotten; resumed-1 and the first bad row in a committed unit of RUN itself."""
    root = str(tmp_path_factory.mktemp("settled"))
    ensure_tables(root)
    done = [
        {**skipped_video_row(request(k, 0), EARLIER), "status": "ok"} for k in ("done-1", "both-1")
    ]
    other = {**skipped_video_row(request("new-1", 0), EARLIER), "status": "ok", "analysis_id": "b"}
    _unit(root, EARLIER, [*done, other], [])
    commit_run(root, EARLIER.run_id, {"run_id": EARLIER.run_id})
    Path(forgotten_file(root)).parent.mkdir(parents=True)
    Path(forgotten_file(root)).write_text("gone-1\nboth-1\n")
    resumed = {**skipped_video_row(request("resumed-1", 4), RUN), "status": "ok"}
    bad = BAD_ROWS[0]
    _unit(root, RUN, [resumed, failed_video_row(bad, RUN)], [error_row(bad, RUN)])
    return root


def _run(warehouse: str, force: bool) -> PipelineResult:
    pipeline = TestPipeline(runner="FnApiRunner")
    settled = pipeline | ReadSettled(warehouse, RUN, force=force)
    todo, done = pipeline | "Requests" >> beam.Create(REQUESTS) | SplitDone(settled)
    rows = pipeline | "BadRows" >> beam.Create(BAD_ROWS) | DropSettled(settled)
    expected_todo = ["new-1", "done-1"] if force else ["new-1"]
    keys = beam.Map(lambda r: r.video_key)
    assert_that(todo | "TodoKeys" >> keys, equal_to(expected_todo), label="CheckTodo")
    expected_done = [] if force else ["done-1"]
    assert_that(done | "DoneKeys" >> keys, equal_to(expected_done), label="CheckDone")
    inputs = rows | "Inputs" >> beam.Map(lambda e: e.input)
    assert_that(inputs, equal_to(["row 10: ,b,"]), label="CheckRowsLeft")
    result = pipeline.run()
    result.wait_until_finish()
    return result


def test_split_done_reads_the_warehouse_when_the_job_runs(warehouse: str) -> None:
    result = _run(warehouse, force=False)
    assert counter_values(result).get("videos_to_do", 0) == 1  # new-1: done in another analysis
    assert counter_values(result).get("videos_already_done", 0) == 1  # done-1
    assert counter_values(result).get("videos_forgotten", 0) == 2  # gone-1, both-1 (forgotten wins)
    assert counter_values(result).get("videos_resumed", 0) == 1  # resumed-1: this run committed it


@pytest.mark.slow
def test_force_does_again_what_was_done_but_not_what_this_run_committed(warehouse: str) -> None:
    result = _run(warehouse, force=True)
    assert counter_values(result).get("videos_to_do", 0) == 2
    assert counter_values(result).get("videos_resumed", 0) == 1
