"""Video requests read before the pipeline starts (by `refresh`), as a pipeline source.

`ReadVideoList` reads one list file inside the pipeline; a refresh instead gathers its
rows in the driver (several list files and expanded playlists, minus what is already
done). It writes them to one JSON-lines file in the run's staging folder, which the
pipeline reads back: the rows travel as a file, not inside the pipeline graph, which
distributed runners limit in size (Dataflow: about 10 MB).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest

REQUEST, ROW_FAILURE, SOURCE_FAILURE = "request", "row_failure", "source_failure"


@dataclasses.dataclass(frozen=True)
class ListedVideos:
    """Valid requests, invalid rows (each also a failed `videos` row), and failed sources.

    `source_failures` are sources (a playlist or channel that could not be listed): they
    become `errors` rows only, as no video row stands behind them.
    """

    requests: tuple[VideoRequest, ...] = ()
    row_failures: tuple[ErrorRecord, ...] = ()
    source_failures: tuple[ErrorRecord, ...] = ()

    def __len__(self) -> int:
        return len(self.requests) + len(self.row_failures) + len(self.source_failures)

    def records(self) -> Iterator[tuple[str, VideoRequest | ErrorRecord]]:
        yield from ((REQUEST, r) for r in self.requests)
        yield from ((ROW_FAILURE, r) for r in self.row_failures)
        yield from ((SOURCE_FAILURE, r) for r in self.source_failures)


def write_listed(listed: ListedVideos, path: str) -> None:
    """Write every record as one JSON line `{"kind": ..., "record": {...}}`."""
    with FileSystems.create(path) as handle:
        for kind, record in listed.records():
            line = json.dumps({"kind": kind, "record": dataclasses.asdict(record)})
            handle.write(line.encode() + b"\n")


def parse_listed(line: str) -> tuple[str, VideoRequest | ErrorRecord]:
    """One line of `write_listed` back as (kind, record)."""
    item = json.loads(line)
    fields = item["record"]
    if item["kind"] == REQUEST:
        return REQUEST, VideoRequest(**fields)
    return item["kind"], ErrorRecord(**{**fields, "stage": Stage(fields["stage"])})


class _SplitListedFn(beam.DoFn):
    def process(self, line: str) -> Iterator:
        kind, record = parse_listed(line)
        yield record if kind == REQUEST else beam.pvalue.TaggedOutput(kind, record)


class ReadListedVideos(beam.PTransform):
    """A `write_listed` file -> `(requests, failed rows, failed sources)` PCollections."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, ...]:
        split = (
            pbegin
            | "ReadLines" >> beam.io.ReadFromText(self._path)
            | "Split"
            >> beam.ParDo(_SplitListedFn()).with_outputs(ROW_FAILURE, SOURCE_FAILURE, main=REQUEST)
        )
        return split[REQUEST], split[ROW_FAILURE], split[SOURCE_FAILURE]
