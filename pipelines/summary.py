"""The end-of-run summary: the counts of the committed run, and Beam's counters (the
error texts it quotes made `printable`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from affectflow.schemas.printable import printable
from affectflow.schemas.records import VideoStatus
from affectflow.schemas.words import plural

if TYPE_CHECKING:
    from apache_beam.runners.runner import PipelineResult

__all__ = ["STATUSES", "RunSummary", "counter_values", "plural", "top_errors"]


# Every status of a `videos` row, in the order the summary names them.
STATUSES: tuple[VideoStatus, ...] = (
    VideoStatus.OK,
    VideoStatus.NO_FACES,
    VideoStatus.FAILED,
    VideoStatus.DUPLICATE,
    VideoStatus.SKIPPED,
)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """Counts of one run: every input row is in exactly one of the video counts."""

    videos_ok: int
    videos_no_faces: int
    videos_failed: int
    videos_skipped: int
    frames_sampled: int
    faces_detected: int  # face-frames: one per face per sampled frame
    seconds: float
    top_errors: tuple[tuple[str, int], ...] = ()  # ("stage: message", rows), most first
    videos_resumed: int = 0
    videos_duplicate: int = 0  # list rows naming a video an earlier row names

    @classmethod
    def from_counts(cls, counts: dict[str, int], seconds: float, resumed: int = 0) -> RunSummary:
        """The summary of a committed run from its `runs` counts (every attempt)."""
        names = [*(f"videos_{s}" for s in STATUSES), "frames_sampled", "faces_detected"]
        return cls(**{n: counts.get(n, 0) for n in names}, seconds=seconds, videos_resumed=resumed)

    @property
    def videos_total(self) -> int:
        return sum(getattr(self, f"videos_{status}") for status in STATUSES)

    def line(self) -> str:
        """`25 videos: 4 ok, 1 no faces, 19 failed, 1 duplicate, 0 skipped; ...`."""
        resumed = f" ({self.videos_resumed:,} committed by an earlier attempt)" * bool(
            self.videos_resumed
        )
        statuses = ", ".join(
            f"{getattr(self, f'videos_{s}'):,} {s.replace('_', ' ')}" for s in STATUSES
        )
        return (
            f"{plural(self.videos_total, 'video')}: {statuses}{resumed}; "
            f"{plural(self.frames_sampled, 'frame')} sampled, "
            f"{plural(self.faces_detected, 'face-frame')} in {self.seconds:.1f} s"
        )

    def error_lines(self) -> list[str]:
        """The run's most frequent errors with their counts (none when nothing failed)."""
        if not self.top_errors:
            return []
        head = "top errors (all of them: affectflow report errors):"
        return [head, *(f"  {count:>5}  {printable(text)}" for text, count in self.top_errors)]


TOP_ERRORS_SQL = """
select stage || ': ' || regexp_replace(message, '^row [0-9]+: ', '') as error, count(*) as n
from errors where run_id = $run_id group by all order by n desc, error limit $limit
"""


def top_errors(warehouse: str, run_id: str, limit: int = 5) -> tuple[tuple[str, int], ...]:
    """A committed run's most frequent errors as ("stage: message", rows), row numbers
    left out of the message so that the same mistake on many rows counts as one."""
    import duckdb

    from affectflow.warehouse.sql import WarehouseError, connect

    try:
        with connect(warehouse) as con:
            rows = con.execute(TOP_ERRORS_SQL, {"run_id": run_id, "limit": limit}).fetchall()
    except (WarehouseError, duckdb.Error):  # no errors file yet, or unreadable here
        return ()
    return tuple((text, count) for text, count in rows)


def counter_values(result: PipelineResult) -> dict[str, int]:
    """Committed (else attempted) value of every affectflow counter, summed over steps."""
    from apache_beam.metrics.metric import MetricsFilter

    from affectflow.transforms.metrics import NAMESPACE

    values: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
    return values
