"""A duplicate list row and the video it repeats stay two inputs, whatever order the
workers committed them in: the duplicate is refused at ingest by list order, carries no
video key, and so never replaces the video's own row when a run's units are compacted."""

from __future__ import annotations

import pytest

from affectflow.schemas.records import ErrorRecord, RunInfo, VideoRequest
from affectflow.schemas.rows import error_row, failed_video_row, skipped_video_row
from affectflow.sources.video_list import parse_video_list
from affectflow.warehouse.commit import commit_run, ensure_tables
from affectflow.warehouse.sql import connect
from affectflow.warehouse.units import new_unit_id, write_unit

RUN = RunInfo("20250102T030405Z-bbbbbb", "m", "s" * 64, "a")
LIST = "url,cohort\nhttps://example.org/v.mp4,a\nhttps://EXAMPLE.org/v.mp4#t=3,a\n"


def _unit(warehouse: str, videos: list[dict], errors: list[dict]) -> None:
    unit_id = new_unit_id(RUN.run_id)
    rows = {
        "videos": [{**row, "unit_id": unit_id} for row in videos],
        "errors": [{**row, "unit_id": unit_id} for row in errors],
    }
    write_unit(warehouse, RUN.run_id, unit_id, rows, len(videos))


@pytest.mark.parametrize("duplicate_first", [True, False])
def test_the_duplicate_and_its_video_survive_compaction_in_either_order(
    tmp_path, duplicate_first: bool
) -> None:
    first, duplicate = parse_video_list(LIST, "csv")
    assert isinstance(first, VideoRequest) and isinstance(duplicate, ErrorRecord)
    assert duplicate.video_key is None and "duplicate of row 1" in duplicate.message
    ok = {**skipped_video_row(first, RUN), "status": "ok"}
    units = [([ok], []), ([failed_video_row(duplicate, RUN)], [error_row(duplicate, RUN)])]
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    for videos, errors in units[::-1] if duplicate_first else units:
        _unit(warehouse, videos, errors)
    counts = commit_run(warehouse, RUN.run_id, {"run_id": RUN.run_id})
    assert (counts["videos_ok"], counts["videos_duplicate"], counts["videos_total"]) == (1, 1, 2)
    con = connect(warehouse)
    rows = con.execute("select row_number, status from internal.video_rows order by 1").fetchall()
    assert rows == [(1, "ok"), (2, "duplicate")]
    errors = con.execute("select row_number, error_class from errors").fetchall()
    assert errors == [(2, "DuplicateRow")]


def test_each_duplicate_row_is_one_input_of_the_errors_report(tmp_path) -> None:
    from affectflow.queries.runner import connect as report_connect
    from affectflow.queries.runner import run_report

    first, *duplicates = parse_video_list(LIST + "https://example.org/v.mp4,a\n", "csv")
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    videos = [{**skipped_video_row(first, RUN), "status": "ok"}]
    videos += [failed_video_row(d, RUN) for d in duplicates]
    _unit(warehouse, videos, [error_row(d, RUN) for d in duplicates])
    commit_run(warehouse, RUN.run_id, {"run_id": RUN.run_id})
    report = run_report(report_connect(warehouse), "errors", {"min_videos": 1})
    (row,) = report.records()
    assert (row["error_class"], row["inputs"], row["errors"]) == ("DuplicateRow", 2, 2)
    assert row["still_failing"] == 0  # a duplicate is not a failure
