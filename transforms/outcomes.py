"""Where each input row ends: skipped (already done) or one `videos` row with its status.

`SplitDone` is the "already processed?" step of the graph; `ToVideoRows` turns every
route (analysed, skipped, failed) into the one `videos` row of that input, counts the
statuses and logs a progress line per finished video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import apache_beam as beam

from affectflow.schemas.records import ErrorRecord, RunInfo, VideoRequest, VideoStatus, VideoSummary
from affectflow.schemas.rows import (
    Row,
    failed_video_row,
    skipped_video_row,
    summary_video_row,
)
from affectflow.transforms.metrics import counter

PROGRESS = logging.getLogger("affectflow.progress")


class SplitDoneFn(beam.DoFn):
    """Requests to do (main output) and requests already done ("done").

    Forgotten videos (`affectflow forget`) are dropped: no row may name them again.
    """

    def __init__(self, done_keys: frozenset[str], forgotten: frozenset[str] = frozenset()) -> None:
        self._done_keys = done_keys
        self._forgotten_keys = forgotten

    def setup(self) -> None:
        self._found = counter("videos_already_done")
        self._new = counter("videos_to_do")
        self._forgotten = counter("videos_forgotten")

    def process(self, request: VideoRequest) -> Iterator:
        if request.video_key in self._forgotten_keys:
            self._forgotten.inc()
        elif request.video_key in self._done_keys:
            self._found.inc()
            yield beam.pvalue.TaggedOutput("done", request)
        else:
            self._new.inc()
            yield request


class SplitDone(beam.PTransform):
    """PCollection[VideoRequest] -> (to do, already done); forgotten videos are dropped."""

    def __init__(self, done_keys: frozenset[str], forgotten: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self._done_keys = done_keys
        self._forgotten = forgotten

    def expand(self, requests: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        split = requests | beam.ParDo(SplitDoneFn(self._done_keys, self._forgotten)).with_outputs(
            "done", main="todo"
        )
        return split.todo, split.done


class CountStatusFn(beam.DoFn):
    """Counts each `videos` row by status and logs one progress line for it."""

    def setup(self) -> None:
        self._counters = {status: counter(f"videos_{status}") for status in VideoStatus}

    def process(self, row: Row) -> Iterator[Row]:
        self._counters[VideoStatus(row["status"])].inc()
        detail = f": {row['error']}" if row.get("error") else ""
        if row.get("frames_sampled") is not None:
            detail = (
                f": {row['frames_sampled']} frames, {row['faces_detected']} faces, "
                f"{row.get('tracks') or 0} tracks, {row.get('seconds') or 0:.1f} s"
            )
        PROGRESS.info("%s %s%s", row["status"], row["video_key"] or row["url"], detail)
        yield row


class ToVideoRows(beam.PTransform):
    """(summaries, skipped requests, failures) -> one `videos` row per input row."""

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self._run = run

    def expand(self, routes: tuple[beam.PCollection, ...]) -> beam.PCollection:
        summaries, skipped, failed = routes
        return (
            (
                summaries | "Analysed" >> beam.Map(_summary_row, run=self._run),
                skipped | "Skipped" >> beam.Map(_skipped_row, run=self._run),
                failed | "Failed" >> beam.Map(_failed_row, run=self._run),
            )
            | "Flatten" >> beam.Flatten()
            | "CountStatus" >> beam.ParDo(CountStatusFn())
        )


def _summary_row(summary: VideoSummary, run: RunInfo) -> Row:
    return summary_video_row(summary, run)


def _skipped_row(request: VideoRequest, run: RunInfo) -> Row:
    return skipped_video_row(request, run)


def _failed_row(error: ErrorRecord, run: RunInfo) -> Row:
    return failed_video_row(error, run)
