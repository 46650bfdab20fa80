"""Stage 6, units: each finished video's rows committed to the warehouse as the job goes.

`CommitUnits` applies one small `CollectFn` to every route that ends a video (its faces
rows, its summary, its failure, ...), each fused into the step that produces it: no
Flatten or GroupByKey, which batch runners (FnApiRunner, Dataflow) run only after
everything upstream has finished. The CollectFns of one bundle share a `UnitBuffer`
(per thread: a bundle runs on one thread), keyed by video.

A video is written only whole: once its summary or failure arrived and every face it
detected came back from inference (a faces row or an infer error; the count is in its
summary, and in the faces it sent). A video still missing pieces when its bundle ends
(a runner that split the steps across bundles) is not written partially: it fails with
stage `commit` (its faces are left out; a rerun does it again), and pieces that arrive
without their video are dropped and counted (`faces_orphaned`). Finished videos are
written as one unit (`warehouse.units.write_unit`) when `max_videos` are ready, when the
oldest has waited `max_seconds` (a clock thread: `transforms.unit_clock`, so a bundle
held by a slow download still commits), at the end of the bundle, and on an interrupt
(`unit_clock.flush_all`). A kill loses the videos in flight and the unit being filled,
no more.

Each finished video's faces are smoothed along their tracks here
(`UnitSettings.smooth_s` and `smooth_margin`, the settings of the stage that applies
them), where all its rows are at hand. A video with faces that failed inference is
`failed` (its `errors` rows, stage infer, say why; its classified faces are kept, as
for a video whose decoding broke off).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from affectflow.schemas.records import RunInfo
from affectflow.schemas.settings import UnitSettings
from affectflow.transforms.unit_buffer import Role, UnitBuffer

_local = threading.local()


def buffer_for(settings: UnitSettings, run: RunInfo) -> UnitBuffer:
    """This thread's buffer for `run` (the CollectFns of one bundle share it)."""
    buffers = _local.__dict__.setdefault("buffers", {})
    key = (settings.warehouse, run.run_id)
    if key not in buffers:
        buffers[key] = UnitBuffer(settings, run)
    return buffers[key]


class CollectFn(beam.DoFn):
    """Hands each element of one route to this thread's `UnitBuffer`."""

    def __init__(self, role: Role, settings: UnitSettings, run: RunInfo) -> None:
        self._role, self._settings, self._run = role, settings, run

    def start_bundle(self) -> None:
        self._buffer = buffer_for(self._settings, self._run)
        self._buffer.start()

    def process(self, element: Any) -> Iterator[None]:
        self._buffer.add(self._role, element)
        return iter(())

    def finish_bundle(self) -> None:
        self._buffer.finish()


class CommitUnits(beam.PTransform):
    """{Role: PCollection or tuple of PCollections} -> rows committed in units; faces
    smoothed along their tracks over `settings.smooth_s` seconds, labels with a hysteresis of
    `settings.smooth_margin` (both 0: not smoothed)."""

    def __init__(self, settings: UnitSettings, run: RunInfo) -> None:
        super().__init__()
        self._settings, self._run = settings, run

    def expand(self, routes: dict) -> beam.pvalue.PDone:
        pipeline = None
        for role, pcolls in routes.items():
            for index, pcoll in enumerate(pcolls if isinstance(pcolls, tuple) else (pcolls,)):
                pipeline = pcoll.pipeline
                _ = pcoll | f"Collect_{role}_{index}" >> beam.ParDo(
                    CollectFn(Role(role), self._settings, self._run)
                )
        return beam.pvalue.PDone(pipeline)
