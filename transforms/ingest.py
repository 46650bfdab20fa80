"""Stage 1, ingest: a video list -> `VideoRequest`s and the `ErrorRecord`s of bad rows.

Reading and validating the rows is `sources/video_list.py`'s; a bad row never stops the
job.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from affectflow.schemas.records import FAILED, ErrorRecord
from affectflow.schemas.settings import IngestSettings
from affectflow.sources.video_list import read_video_list
from affectflow.transforms.metrics import counter


class ParseVideoListFn(beam.DoFn):
    """A video list path -> VideoRequest (main output) and ErrorRecord (`FAILED`)."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings

    def setup(self) -> None:
        self._rows = counter("rows_read")
        self._invalid = counter("rows_invalid")

    def process(self, path: str) -> Iterator:
        settings = self._settings
        for item in read_video_list(
            path, default_cohort=settings.default_cohort, allow_local=settings.allow_local
        ):
            self._rows.inc()
            if isinstance(item, ErrorRecord):
                self._invalid.inc()
                yield beam.pvalue.TaggedOutput(FAILED, item)
            else:
                yield item


class ReadVideoList(beam.PTransform):
    """Read and validate one video list; returns `(requests, failed)`."""

    def __init__(self, path: str, settings: IngestSettings | None = None) -> None:
        super().__init__()
        self._path = path
        self._settings = settings or IngestSettings()

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        outputs = (
            pbegin
            | "ListPath" >> beam.Create([self._path])
            | "ParseRows"
            >> beam.ParDo(ParseVideoListFn(self._settings)).with_outputs(FAILED, main="requests")
        )
        return outputs.requests, outputs.failed
