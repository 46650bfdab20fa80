"""Committing a run, discarding what never committed, and what is already done.

The layout is `layout.py`'s. A run's rows are staged in `_staging/<run_id>/`, split into
the tables' partitions (`partitions.write_partitioned`), and the run becomes visible when
its `runs` row is written, last. What "committed" means is `committed.sql`'s, read here
through `sql.connect` as it is by the analysts' views: rows of a run that died before its
`runs` row are never reported, and `done_video_keys` ignores them too.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from affectflow.schemas.tables import RUNS, SCHEMAS, TABLE_NAMES
from affectflow.warehouse import layout
from affectflow.warehouse.layout import STAGING, all_files, files, staging_dir, table_files
from affectflow.warehouse.partitions import run_date_of, write_partitioned
from affectflow.warehouse.quarantine import quarantine_unreadable
from affectflow.warehouse.sql import connect

LOG = logging.getLogger(__name__)
EMPTY_FILE = "empty.parquet"
_RUN_FILE = re.compile(r"^run-(\d{8}T\d{6}Z-[0-9a-f]{6})-")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: `20261124T160305Z-a1b2c3`."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _write_table(table: pa.Table, path: str) -> None:
    """Write a Parquet file atomically: a temporary name, then a rename."""
    with layout.write_atomically(path) as handle:
        pq.write_table(table, handle, compression="zstd")


def ensure_tables(warehouse: str) -> None:
    """Give every table one file so that queries never find none: an empty file while the
    table has no other, removed once it has (hive readers want every file in partitions)."""
    for name in TABLE_NAMES:
        placeholder = layout.join(warehouse, name, EMPTY_FILE)
        others = [p for p in table_files(warehouse, name) if layout.name_of(p) != EMPTY_FILE]
        if not others and not layout.exists(placeholder):
            _write_table(SCHEMAS[name].empty_table(), placeholder)
        elif others and layout.exists(placeholder):
            layout.delete([placeholder])


def commit_run(warehouse: str, run_id: str, run_row: dict) -> None:
    """Partition a finished run's staged files into the tables, then write its `runs` row."""
    staged = staging_dir(warehouse, run_id)
    for name in ("faces", "errors", "videos"):
        table_dir = layout.join(warehouse, name)
        for source in files(layout.join(staged, name, "*.parquet")):
            write_partitioned(source, table_dir, run_date_of(run_id))
    _write_table(pa.Table.from_pylist([run_row], schema=RUNS), layout.run_record(warehouse, run_id))
    layout.delete([staged])
    ensure_tables(warehouse)


def discard_uncommitted_files(warehouse: str) -> list[str]:
    """Delete table files of runs without a `runs` row (killed during `commit_run`)."""
    committed = {
        layout.name_of(path).removeprefix("run-").removesuffix(".parquet")
        for path in table_files(warehouse, "runs")
    }
    orphans = []
    for name in ("faces", "errors", "videos"):
        for path in all_files(layout.join(warehouse, name)):
            match = _RUN_FILE.match(layout.name_of(path))
            if match and match.group(1) not in committed:
                orphans.append(path)
    if orphans:
        LOG.info("discarding %d files of runs that never committed", len(orphans))
        layout.delete(orphans)
    return orphans


def discard_stale_staging(warehouse: str, keep: Iterable[str] = ()) -> list[str]:
    """Delete staging folders of runs that never committed (a killed earlier run);
    first move unreadable table files to `_quarantine/` (they would block every job)."""
    quarantine_unreadable(warehouse)
    discard_uncommitted_files(warehouse)
    root = layout.join(warehouse, STAGING)
    if not layout.exists(root):
        return []
    stale = sorted(
        {
            path.split(f"/{STAGING}/", 1)[1].split("/", 1)[0]
            for path in files(layout.join(root, "**"))
        }
        - set(keep)
    )
    for run_id in stale:
        LOG.info("discarding rows of run %s, which never committed", run_id)
        layout.delete([staging_dir(warehouse, run_id)])
    return stale


def _query(warehouse: str, sql: str, params: dict) -> list[tuple]:
    """Run `sql` over the committed views of `committed.sql`; no rows before a first run."""
    if not all(table_files(warehouse, name) for name in ("videos", "errors", "runs")):
        return []
    with connect(warehouse) as con:
        return con.execute(sql, params).fetchall()


def done_video_keys(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos already analysed (ok or no_faces) under `analysis_id` by a committed run."""
    rows = _query(
        warehouse,
        "select distinct video_key from video_rows where analysis_id = $analysis_id "
        "and status in ('ok', 'no_faces')",
        {"analysis_id": analysis_id},
    )
    return frozenset(key for (key,) in rows)


def failed_for_good(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos whose run under `analysis_id` failed with an error retrying cannot fix."""
    rows = _query(
        warehouse,
        """
        select distinct v.video_key from video_rows as v
        join errors as e on e.run_id = v.run_id and e.video_key = v.video_key
        where v.analysis_id = $analysis_id and v.status = 'failed' and not e.retryable
        """,
        {"analysis_id": analysis_id},
    )
    return frozenset(key for (key,) in rows)


def recorded_row_errors(warehouse: str) -> frozenset[tuple[str, str | None, str]]:
    """(stage, cohort, input) of committed ingest errors (bad list rows, failed sources)."""
    rows = _query(
        warehouse,
        "select distinct stage, cohort, input from errors where stage = 'ingest'",
        {},
    )
    return frozenset(rows)


KEYED_TABLES = ("videos", "faces", "errors")


def _without_key(path: str, video_key: str) -> int:
    """Rewrite one Parquet file without the rows of `video_key`; returns rows removed."""
    with layout.open_read(path) as handle:
        table = pq.read_table(handle)
    if "video_key" not in table.column_names:
        return 0
    keep = pc.fill_null(pc.not_equal(table["video_key"], video_key), True)
    kept = table.filter(keep)
    removed = table.num_rows - kept.num_rows
    if removed:
        _write_table(kept, path)
    return removed


def forgotten_keys(warehouse: str) -> frozenset[str]:
    """Videos removed by `forget`: later runs and refreshes leave them out."""
    path = layout.forgotten_file(warehouse)
    if not layout.exists(path):
        return frozenset()
    with layout.open_read(path) as handle:
        return frozenset(filter(None, handle.read().decode().split()))


def _remember_forgotten(warehouse: str, video_key: str) -> None:
    keys = sorted(forgotten_keys(warehouse) | {video_key})
    path = layout.forgotten_file(warehouse)
    with layout.write_atomically(path) as handle:
        handle.write("".join(f"{key}\n" for key in keys).encode())


def forget_video(warehouse: str, video_key: str) -> dict[str, int]:
    """Remove every row of `video_key` from the committed tables and any staged run.

    The key is added to the warehouse's forgotten list first, so no later run or refresh
    analyses the video again (delete its line from `_forgotten/keys.txt` to allow it).
    Each affected Parquet file is rewritten atomically (new file, then a rename over
    the old one), so a reader sees either the old or the new file, never half of one.
    Returns the rows removed per table.
    """
    _remember_forgotten(warehouse, video_key)
    removed = dict.fromkeys(KEYED_TABLES, 0)
    for name in KEYED_TABLES:
        staged = files(layout.join(warehouse, STAGING, "*", name, "*.parquet"))
        for path in table_files(warehouse, name) + staged:
            removed[name] += _without_key(path, video_key)
    return removed
