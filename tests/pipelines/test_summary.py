"""The end-of-run summary names every `videos` status once, from the one enumeration."""

from __future__ import annotations

from affectflow.pipelines.summary import STATUSES, RunSummary
from affectflow.schemas.records import VideoStatus


def test_the_summary_counts_every_status_exactly_once() -> None:
    assert sorted(STATUSES) == sorted(VideoStatus)
    assert len(set(STATUSES)) == len(STATUSES)


def test_the_summary_line_names_each_status_with_its_count() -> None:
    counts = {f"videos_{status}": i + 1 for i, status in enumerate(STATUSES)}
    summary = RunSummary.from_counts({**counts, "frames_sampled": 3}, seconds=1.5)
    assert summary.videos_total == sum(range(1, len(STATUSES) + 1))
    assert summary.line() == (
        "15 videos: 1 ok, 2 no faces, 3 failed, 4 duplicate, 5 skipped; "
        "3 frames sampled, 0 face-frames in 1.5 s"
    )
