"""Units: a run's rows made durable as the run goes, a few finished videos at a time.

A worker writes each unit's rows as one Parquet file per table,
`_units/<run_id>/<table>/unit-<unit_id>.parquet`, then the unit's marker
`_units/<run_id>/committed/unit-<unit_id>.parquet`. The marker makes the unit committed
(`committed.sql`): the views and `done_video_keys` see its rows at once. Files of a unit
without a marker (a worker killed while writing it) are discarded by the next run. The
end of a run compacts its committed units into one file per table and partition
(`compact_run`), so the tables grow by files per run, not per video. A video that a
retried bundle (distributed runners) wrote into two units keeps the rows of its first.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from affectflow.schemas.tables import SCHEMAS, UNITS
from affectflow.warehouse import layout
from affectflow.warehouse.layout import COMMITTED, UNIT_TABLES
from affectflow.warehouse.partitions import write_partitioned_tables, write_table

LOG = logging.getLogger(__name__)
ROW_TABLES = ("videos", "faces", "errors")
_UNIT_PREFIX = "unit-"


def new_unit_id(run_id: str) -> str:
    """A unit id that sorts by creation time within its run and is unique across workers."""
    return f"{run_id}-u{time.time_ns()}-{secrets.token_hex(2)}"


def _schema(table: str) -> pa.Schema:
    return UNITS if table == COMMITTED else SCHEMAS[table]


def empty_unit_tables() -> dict[str, pa.Table]:
    return {table: _schema(table).empty_table() for table in UNIT_TABLES}


def ensure_unit_files(warehouse: str) -> None:
    """One empty file per unit table, so that the unit globs of `committed.sql` match."""
    for table in UNIT_TABLES:
        path = layout.empty_unit_file(warehouse, table)
        if not layout.exists(path):
            write_table(_schema(table).empty_table(), path)


def write_unit(
    warehouse: str, run_id: str, unit_id: str, rows: dict[str, list[dict]], videos: int
) -> None:
    """Write one unit's rows (each table atomically), then its marker: committed."""
    for table in ROW_TABLES:
        if rows.get(table):
            table_rows = pa.Table.from_pylist(rows[table], schema=SCHEMAS[table])
            write_table(table_rows, layout.unit_file(warehouse, run_id, table, unit_id))
    marker = {
        "run_id": run_id,
        "unit_id": unit_id,
        "videos": videos,
        "committed_at": dt.datetime.now(dt.UTC),
    }
    path = layout.unit_file(warehouse, run_id, COMMITTED, unit_id)
    write_table(pa.Table.from_pylist([marker], schema=UNITS), path)


def unit_of(path: str) -> str:
    """The unit id of a unit file's path."""
    return layout.name_of(path).removeprefix(_UNIT_PREFIX).split(".parquet", 1)[0]


def _files(warehouse: str, run_id: str, table: str) -> list[str]:
    folder = layout.join(layout.units_dir(warehouse, run_id), table)
    return [p for p in layout.all_files(folder) if p.endswith(".parquet")]


def committed_units(warehouse: str, run_id: str) -> list[str]:
    """The ids of the run's committed units, oldest first."""
    return sorted(unit_of(path) for path in _files(warehouse, run_id, COMMITTED))


def committed_videos(warehouse: str, run_id: str) -> int:
    """Input rows (videos) in the run's committed units, from their markers."""
    total = 0
    for path in _files(warehouse, run_id, COMMITTED):
        with layout.open_read(path) as handle:
            total += sum(pq.read_table(handle, columns=["videos"])["videos"].to_pylist())
    return total


def unit_runs(warehouse: str) -> list[str]:
    """Runs that have a units folder (a run in progress, killed, or mid-compaction)."""
    root = layout.join(warehouse, layout.UNITS)
    if not layout.exists(root):
        return []
    found = {
        path.split(f"/{layout.UNITS}/", 1)[1].split("/", 1)[0]
        for path in layout.files(layout.join(root, "**"))
    }
    return sorted(found - {"empty"})


def discard_uncommitted_units(warehouse: str, run_id: str) -> list[str]:
    """Delete the run's unit files whose unit has no marker, and half-written files."""
    committed = set(committed_units(warehouse, run_id))
    stale = [
        path
        for path in layout.all_files(layout.units_dir(warehouse, run_id))
        if not path.endswith(".parquet") or unit_of(path) not in committed
    ]
    if stale:
        LOG.info("run %s: discarding %d files of units that never committed", run_id, len(stale))
        layout.delete(stale)
    return stale


def delete_units(warehouse: str, run_id: str) -> None:
    folder = layout.units_dir(warehouse, run_id)
    if layout.exists(folder):
        layout.delete([folder])


def _read(path: str) -> pa.Table:
    with layout.open_read(path) as handle:
        return pq.read_table(handle)


def _item(table: pa.Table, name: str) -> pa.ChunkedArray:
    """What a row belongs to: its stored `input_key` (`rows.item_key`), else (units
    written before that column) `<video key>#<row>`, else its list row; a faces row: its
    video key."""
    if name == "faces":
        return table["video_key"]
    text = table["url"] if name == "videos" else pc.coalesce(table["url"], table["input"])
    number = pc.cast(table["row_number"], pa.string())
    row = pc.binary_join_element_wise(
        "row", table["cohort"], number, text, ":", null_handling="skip"
    )
    keyed = pc.if_else(
        pc.is_null(number),
        table["video_key"],
        pc.binary_join_element_wise(table["video_key"], number, "#"),
    )
    computed = pc.coalesce(keyed, row)
    if "input_key" in table.column_names:
        return pc.coalesce(table["input_key"], computed)
    return computed


def _first_units(
    warehouse: str, run_id: str, units: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(item -> the first committed unit that holds its `videos` row or its error,
    video key -> the first that holds the video's own row: its faces come with it).

    A list row that repeats a video (an ingest failure: a duplicate) is an input of its
    own, whose unit says nothing about where the video's faces are."""
    first: dict[str, str] = {}
    ingest: set[str] = set()
    for name in ("videos", "errors"):
        for path in sorted(_files(warehouse, run_id, name), key=unit_of):
            unit = unit_of(path)
            if unit not in units:
                continue
            table = _read(path)
            items = _item(table, name).to_pylist()
            for item in items:
                if item is not None:
                    first.setdefault(item, unit)
            if name == "errors":
                stages = table["stage"].to_pylist()
                ingest.update(
                    i for i, stage in zip(items, stages, strict=True) if stage == "ingest"
                )
    videos: dict[str, str] = {}
    for path in sorted(_files(warehouse, run_id, "videos"), key=unit_of):
        unit = unit_of(path)
        if unit not in units:
            continue
        table = _read(path)
        for key, item in zip(
            table["video_key"].to_pylist(), _item(table, "videos").to_pylist(), strict=True
        ):
            if key is not None and item not in ingest and first.get(item) == unit:
                videos.setdefault(key, unit)
    return first, videos


def _deduplicated(
    warehouse: str, run_id: str, name: str, units: list[str], first: dict[str, str]
) -> Iterator[pa.Table]:
    """The run's committed rows of one table, unit by unit, each item from its first unit."""
    for path in sorted(_files(warehouse, run_id, name), key=unit_of):
        unit = unit_of(path)
        if unit not in units:
            continue
        table = _read(path)
        items = _item(table, name)
        elsewhere = [i for i in pc.unique(items).to_pylist() if first.get(i, unit) != unit]
        if elsewhere:
            inside = pc.fill_null(pc.is_in(items, pa.array(elsewhere, pa.string())), False)
            table = table.filter(pc.invert(inside))
        yield table


def compact_run(warehouse: str, run_id: str, run_date: str) -> dict[str, int]:
    """Write the run's committed units as one file per table and partition; returns counts.

    The files are named `run-<run_id>-00000-of-00001.parquet` (the run's files, visible
    once its `runs` row exists). The units stay until the caller deletes them.
    """
    units = committed_units(warehouse, run_id)
    first, videos = _first_units(warehouse, run_id, units)
    counts: dict[str, int] = {}
    name = f"run-{run_id}-00000-of-00001.parquet"
    for table in ("faces", "errors", "videos"):
        tables = _deduplicated(
            warehouse, run_id, table, units, videos if table == "faces" else first
        )
        if table == "videos":
            tables = _counted(tables, counts)
        write_partitioned_tables(
            tables, layout.table_dir(warehouse, table), run_date, name, SCHEMAS[table]
        )
    return counts


def _counted(tables: Iterator[pa.Table], counts: dict[str, int]) -> Iterator[pa.Table]:
    """Pass tables through, adding their status counts and frame/face sums to `counts`."""
    for table in tables:
        for status in table["status"].to_pylist():
            counts[f"videos_{status}"] = counts.get(f"videos_{status}", 0) + 1
        counts["videos_total"] = counts.get("videos_total", 0) + table.num_rows
        for column in ("frames_sampled", "faces_detected"):
            counts[column] = counts.get(column, 0) + (pc.sum(table[column]).as_py() or 0)
        yield table
