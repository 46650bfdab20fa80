"""The "already done?" step of the graph: which input rows this run still has to do.

`ReadSettled` reads, at run time on a worker, what the warehouse already holds
(`warehouse.commit.settled`): videos analysed under the run's `analysis_id`, videos
forgotten (`affectflow forget`), and the input rows that committed units of this very
run hold (a resumed run). It is one element, used as a side input: the pipeline graph
holds only the warehouse's path, whatever the number of videos done.
`SplitDone` splits the requests into to do and skipped; `DropSettled` drops failures
of list rows and sources that this run already committed.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from affectflow.schemas.records import ErrorRecord, RunInfo, VideoRequest
from affectflow.schemas.rows import item_key
from affectflow.schemas.settings import StageSettings
from affectflow.transforms.metrics import counter
from affectflow.transforms.preflight import preflight
from affectflow.warehouse.commit import Settled, settled


class ReadSettled(beam.PTransform):
    """PBegin -> one `Settled` of the warehouse (nothing done when `force`).

    With `settings`, the worker that reads it runs the workers' `preflight` first.
    """

    def __init__(
        self,
        warehouse: str,
        run: RunInfo,
        force: bool = False,
        settings: StageSettings | None = None,
    ) -> None:
        super().__init__()
        self._warehouse, self._run, self._force = warehouse, run, force
        self._settings = settings

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            begin
            | "Warehouse" >> beam.Create([self._warehouse])
            | "Read" >> beam.Map(_read, run=self._run, force=self._force, settings=self._settings)
        )


def _read(
    warehouse: str, run: RunInfo, force: bool, settings: StageSettings | None = None
) -> Settled:
    if settings is not None:
        preflight(settings, warehouse)
    found = settled(warehouse, run.analysis_id, run.run_id)
    return Settled(frozenset(), found.forgotten, found.in_run) if force else found


class SplitDoneFn(beam.DoFn):
    """Requests to do (main output) and requests already done ("done").

    Forgotten videos (`affectflow forget`) and rows this run already committed are dropped.
    """

    def setup(self) -> None:
        self._found = counter("videos_already_done")
        self._new = counter("videos_to_do")
        self._forgotten = counter("videos_forgotten")
        self._resumed = counter("videos_resumed")

    def process(self, request: VideoRequest, done: Settled) -> Iterator:
        if item_key(request) in done.in_run:
            self._resumed.inc()
        elif request.video_key in done.forgotten:
            self._forgotten.inc()
        elif request.video_key in done.done:
            self._found.inc()
            yield beam.pvalue.TaggedOutput("done", request)
        else:
            self._new.inc()
            yield request


class SplitDone(beam.PTransform):
    """PCollection[VideoRequest] -> (to do, already done), given the `Settled` side input."""

    def __init__(self, settled_state: beam.PCollection) -> None:
        super().__init__()
        self._settled = settled_state

    def expand(self, requests: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        side = beam.pvalue.AsSingleton(self._settled)
        split = requests | beam.ParDo(SplitDoneFn(), side).with_outputs("done", main="todo")
        return split.todo, split.done


def _not_in_run(error: ErrorRecord, done: Settled) -> bool:
    return item_key(error) not in done.in_run


class DropSettled(beam.PTransform):
    """PCollection[ErrorRecord] -> those whose input row this run has not committed yet."""

    def __init__(self, settled_state: beam.PCollection) -> None:
        super().__init__()
        self._settled = settled_state

    def expand(self, failures: beam.PCollection) -> beam.PCollection:
        return failures | beam.Filter(_not_in_run, beam.pvalue.AsSingleton(self._settled))
