"""Committing a run, discarding what never committed, and what is already done.

The layout is `layout.py`'s. A run's rows become durable unit by unit as it goes
(`units.py`: visible once each unit's marker is written); `commit_run` compacts them
into the tables' partitions and writes the run's `runs` row, last. What "committed"
means is `committed.sql`'s, read here through `sql.connect` as it is by the analysts'
views: committed units, and runs with a `runs` row. Rows of a unit without a marker
are never reported, and `done_video_keys` ignores them too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import secrets

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from affectflow.schemas.tables import RUNS, SCHEMAS, TABLE_NAMES
from affectflow.warehouse import layout
from affectflow.warehouse.layout import UNITS, all_files, files, staging_dir, table_files
from affectflow.warehouse.partitions import run_date_of, write_table
from affectflow.warehouse.sql import NoWarehouse, connect
from affectflow.warehouse.staged_names import forget_in_staging
from affectflow.warehouse.units import compact_run, delete_units, ensure_unit_files

LOG = logging.getLogger(__name__)
EMPTY_FILE = "empty.parquet"
_RUN_FILE = re.compile(r"^run-(\d{8}T\d{6}Z-[0-9a-f]{6})-")
COUNTS = ("videos_ok", "videos_no_faces", "videos_failed", "videos_skipped", "videos_duplicate")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: `20261124T160305Z-a1b2c3`."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def ensure_tables(warehouse: str) -> None:
    """Give every table one file so that queries never find none: an empty file while the
    table has no other, removed once it has (hive readers want every file in partitions);
    and every unit glob of `committed.sql` its empty file."""
    for name in TABLE_NAMES:
        placeholder = layout.join(warehouse, name, EMPTY_FILE)
        others = [p for p in table_files(warehouse, name) if layout.name_of(p) != EMPTY_FILE]
        if not others and not layout.exists(placeholder):
            write_table(SCHEMAS[name].empty_table(), placeholder)
        elif others and layout.exists(placeholder):
            layout.delete([placeholder])
    ensure_unit_files(warehouse)


def commit_run(warehouse: str, run_id: str, run_row: dict) -> dict[str, int]:
    """Compact a run's committed units into the tables, then write its `runs` row.

    The counts of the `runs` row come from the rows compacted (every attempt of the
    run); returns them. The units and the staging folder are deleted last.
    """
    counts = compact_run(warehouse, run_id, run_date_of(run_id))
    counts = {name: counts.get(name, 0) for name in (*COUNTS, "videos_total")} | {
        name: counts.get(name, 0) for name in ("frames_sampled", "faces_detected")
    }
    row = {**run_row, **counts}
    write_table(pa.Table.from_pylist([row], schema=RUNS), layout.run_record(warehouse, run_id))
    delete_units(warehouse, run_id)
    drop_staging(warehouse, run_id)
    ensure_tables(warehouse)
    return counts


def drop_staging(warehouse: str, run_id: str) -> None:
    folder = staging_dir(warehouse, run_id)
    if layout.exists(folder):
        layout.delete([folder])


def drop_stubs(warehouse: str) -> None:
    """Leave no stub in a warehouse a job has finished with (its last step): `_units/`
    when it holds only its empty tables (readers then use empty tables of their own:
    `warehouse.sql`; the next job makes them again before its first unit), and an empty
    `_staging/`. A run still to resume keeps both."""
    units = layout.join(warehouse, UNITS)
    empty = layout.join(units, "empty")
    if all(path.startswith(empty) for path in all_files(units)) and layout.exists(units):
        layout.delete([units])
    staging = layout.join(warehouse, layout.STAGING)
    if not layout.is_remote(warehouse) and os.path.isdir(staging) and not os.listdir(staging):
        os.rmdir(staging)


def committed_runs(warehouse: str) -> set[str]:
    """Run ids with a `runs` row."""
    names = [layout.name_of(path) for path in table_files(warehouse, "runs")]
    return {n[len("run-") : -len(".parquet")] for n in names if n.startswith("run-")}


def discard_uncommitted_files(warehouse: str) -> list[str]:
    """Delete table files of runs without a `runs` row (killed during `commit_run`)."""
    committed = committed_runs(warehouse)
    orphans = []
    for name in ("faces", "errors", "videos"):
        for path in all_files(layout.join(warehouse, name)):
            match = _RUN_FILE.match(layout.name_of(path))
            if match and match.group(1) not in committed:
                orphans.append(path)
    if orphans:
        LOG.info("discarding %d files of runs that never committed", len(orphans))
        layout.delete(orphans)
    for run_id in committed:  # killed after the runs row, before its units were deleted
        delete_units(warehouse, run_id)
    return orphans


def _query(warehouse: str, sql: str, params: dict) -> list[tuple]:
    """Run `sql` over the committed views of `committed.sql`; no rows before a first run."""
    if not layout.is_remote(warehouse) and not all(
        table_files(warehouse, name) for name in ("videos", "errors", "runs")
    ):
        return []
    try:
        con = connect(warehouse)
    except NoWarehouse:
        return []
    with con:
        return con.execute(sql, params).fetchall()


def done_video_keys(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos already analysed (ok or no_faces) under `analysis_id` by a committed run
    (`done_videos` of committed.sql)."""
    rows = _query(warehouse, "select video_key from done_videos($a)", {"a": analysis_id})
    return frozenset(key for (key,) in rows)


def settled_video_keys(warehouse: str, analysis_id: str, *, retry_failed: bool) -> frozenset[str]:
    """Videos a run under `analysis_id` leaves alone (`settled_videos` of committed.sql):
    done, and unless `retry_failed`, failed there for good."""
    rows = _query(
        warehouse,
        "select video_key from settled_videos($a, $retry)",
        {"a": analysis_id, "retry": retry_failed},
    )
    return frozenset(key for (key,) in rows)


@dataclasses.dataclass(frozen=True)
class Settled:
    """What a run need not do: done under its analysis, forgotten, or committed by itself."""

    done: frozenset[str] = frozenset()
    forgotten: frozenset[str] = frozenset()
    in_run: frozenset[str] = frozenset()


def rows_of_run(warehouse: str, run_id: str) -> frozenset[str]:
    """The input rows (`rows.item_key`) that committed units of `run_id` already hold."""
    rows = _query(
        warehouse,
        """
        select input_key from internal.video_rows where run_id = $run_id
        union
        select input_key from errors where run_id = $run_id and video_key is null
        """,
        {"run_id": run_id},
    )
    return frozenset(key for (key,) in rows)


def settled(warehouse: str, analysis_id: str, run_id: str, *, retry_failed: bool = True) -> Settled:
    """The "already done?" state of a warehouse for one run (read by the graph's first
    step; refresh asks the same with its `retry_failed`)."""
    return Settled(
        done=settled_video_keys(warehouse, analysis_id, retry_failed=retry_failed),
        forgotten=forgotten_keys(warehouse),
        in_run=rows_of_run(warehouse, run_id),
    )


def recorded_row_errors(warehouse: str) -> frozenset[tuple[str, str | None, str]]:
    """(stage, cohort, input) of committed ingest errors (bad list rows, failed sources)."""
    rows = _query(
        warehouse,
        "select distinct stage, cohort, input from errors where stage = 'ingest'",
        {},
    )
    return frozenset(rows)


KEYED_TABLES = ("videos", "faces", "errors")


def _keyed_files(warehouse: str, name: str) -> list[str]:
    """The files of table `name`, committed and staged in units."""
    return table_files(warehouse, name) + files(
        layout.join(warehouse, UNITS, "*", name, "*.parquet")
    )


def _naming(table: pa.Table, video_key: str, urls: frozenset[str]) -> pa.ChunkedArray:
    """True for the rows of `video_key`, and for rows without a key whose `url` is one
    of `urls` (list rows that name the video but were refused before it got a key)."""
    keyed = pc.fill_null(pc.equal(table["video_key"], video_key), False)
    if not urls or "url" not in table.column_names:
        return keyed
    by_url = pc.and_(
        pc.is_null(table["video_key"]), pc.is_in(table["url"], pa.array(sorted(urls), pa.string()))
    )
    return pc.or_(keyed, pc.fill_null(by_url, False))


def _without(path: str, video_key: str, urls: frozenset[str]) -> int:
    """Rewrite one Parquet file without the rows naming the video; returns rows removed."""
    with layout.open_read(path) as handle:
        table = pq.read_table(handle)
    if "video_key" not in table.column_names:
        return 0
    kept = table.filter(pc.invert(_naming(table, video_key, urls)))
    removed = table.num_rows - kept.num_rows
    if removed:
        write_table(kept, path)
    return removed


def unkeyed_urls(warehouse: str) -> frozenset[str]:
    """The URLs of rows without a video key (refused list rows), committed or staged."""
    found: set[str] = set()
    for name in KEYED_TABLES:
        for path in _keyed_files(warehouse, name):
            with layout.open_read(path) as handle:
                parquet = pq.ParquetFile(handle)
                if not {"video_key", "url"} <= set(parquet.schema_arrow.names):
                    continue
                table = parquet.read(columns=["video_key", "url"])
            unkeyed = table.filter(pc.is_null(table["video_key"]))["url"]
            found.update(url for url in unkeyed.to_pylist() if url)
    return frozenset(found)


def forgotten_keys(warehouse: str) -> frozenset[str]:
    """Videos removed by `forget`: later runs and refreshes leave them out."""
    path = layout.forgotten_file(warehouse)
    if not layout.exists(path):
        return frozenset()
    with layout.open_read(path) as handle:
        return frozenset(filter(None, handle.read().decode().split()))


def _remember_forgotten(warehouse: str, video_key: str) -> None:
    """Add the key to `_forgotten/keys.txt`; locally the folder is 0700, the file 0600."""
    keys = sorted(forgotten_keys(warehouse) | {video_key})
    path = layout.forgotten_file(warehouse)
    if not layout.is_remote(path):
        os.makedirs(os.path.dirname(layout.local_path(path)), mode=0o700, exist_ok=True)
        os.chmod(os.path.dirname(layout.local_path(path)), 0o700)
    with layout.write_atomically(path) as handle:
        handle.write("".join(f"{key}\n" for key in keys).encode())
    if not layout.is_remote(path):
        os.chmod(layout.local_path(path), 0o600)


def forget_video(
    warehouse: str, video_key: str, urls: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Remove every row of `video_key`, and every row without a key whose `url` is one
    of `urls`, from the committed tables and any staged run (its units, its progress
    journals and its gathered input: `staged_names`).

    The key is added to the warehouse's forgotten list first, so no later run or refresh
    analyses the video again (delete its line from `_forgotten/keys.txt` to allow it).
    Each affected Parquet file is rewritten atomically (new file, then a rename over
    the old one), so a reader sees either the old or the new file, never half of one.
    Returns the rows removed per table.
    """
    _remember_forgotten(warehouse, video_key)
    removed = dict.fromkeys(KEYED_TABLES, 0)
    for name in KEYED_TABLES:
        for path in _keyed_files(warehouse, name):
            removed[name] += _without(path, video_key, urls)
    forget_in_staging(warehouse, video_key, urls)
    return removed
