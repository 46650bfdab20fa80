"""The warehouse on disk: staging, committing a run, and what is already done.

Layout: `<warehouse>/<table>/run_date=<date>/cohort=<name>/run-<run_id>-NNNNN-of-NNNNN.parquet`
for `videos`, `faces` and `errors` (hive-style, written after the Beam write by
`partitions.write_partitioned`), `<warehouse>/runs/run-<run_id>.parquet`, and
`<warehouse>/_staging/<run_id>/` while a run is in progress. A run becomes visible when its
`runs` row is written, last; views join on `runs`, so rows of a run that died before that
are never reported, and `done_video_keys` ignores them too.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from affectflow.schemas.records import VideoStatus
from affectflow.schemas.tables import RUNS, SCHEMAS, TABLE_NAMES
from affectflow.warehouse.partitions import run_date_of, write_partitioned

LOG = logging.getLogger(__name__)
STAGING = "_staging"
FORGOTTEN = "_forgotten"  # <warehouse>/_forgotten/keys.txt: videos `forget` removed for good
_RUN_FILE = re.compile(r"^run-(\d{8}T\d{6}Z-[0-9a-f]{6})-")
DONE_STATUSES = (str(VideoStatus.OK), str(VideoStatus.NO_FACES))


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: `20261124T160305Z-a1b2c3`."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def staging_dir(warehouse: str, run_id: str) -> str:
    return FileSystems.join(warehouse, STAGING, run_id)


def _files(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _all_files(folder: str) -> list[str]:
    """Every file under `folder`, at any depth (temporary files included)."""
    return _files(FileSystems.join(folder, "**")) if FileSystems.exists(folder) else []


def table_files(warehouse: str, table: str) -> list[str]:
    """The Parquet files of a table, partition folders included."""
    return [p for p in _all_files(FileSystems.join(warehouse, table)) if p.endswith(".parquet")]


def _write_table(table: pa.Table, path: str) -> None:
    """Write a Parquet file atomically: a temporary name, then a rename."""
    temporary = f"{path}.tmp-{secrets.token_hex(4)}"
    with FileSystems.create(temporary) as handle:
        pq.write_table(table, handle, compression="zstd")
    FileSystems.rename([temporary], [path])


def ensure_tables(warehouse: str) -> None:
    """Give every table at least one (empty) file so that queries never find no files."""
    for name in TABLE_NAMES:
        if not table_files(warehouse, name):
            _write_table(
                SCHEMAS[name].empty_table(), FileSystems.join(warehouse, name, "empty.parquet")
            )


def commit_run(warehouse: str, run_id: str, run_row: dict) -> None:
    """Partition a finished run's staged files into the tables, then write its `runs` row."""
    staged = staging_dir(warehouse, run_id)
    for name in ("faces", "errors", "videos"):
        table_dir = FileSystems.join(warehouse, name)
        for source in _files(FileSystems.join(staged, name, "*.parquet")):
            write_partitioned(source, table_dir, run_date_of(run_id))
    runs_path = FileSystems.join(warehouse, "runs", f"run-{run_id}.parquet")
    _write_table(pa.Table.from_pylist([run_row], schema=RUNS), runs_path)
    FileSystems.delete([staged])
    ensure_tables(warehouse)


def discard_uncommitted_files(warehouse: str) -> list[str]:
    """Delete table files of runs without a `runs` row (killed during `commit_run`)."""
    committed = {
        FileSystems.split(path)[1].removeprefix("run-").removesuffix(".parquet")
        for path in table_files(warehouse, "runs")
    }
    orphans = []
    for name in ("faces", "errors", "videos"):
        for path in _all_files(FileSystems.join(warehouse, name)):
            match = _RUN_FILE.match(FileSystems.split(path)[1])
            if match and match.group(1) not in committed:
                orphans.append(path)
    if orphans:
        LOG.info("discarding %d files of runs that never committed", len(orphans))
        FileSystems.delete(orphans)
    return orphans


def discard_stale_staging(warehouse: str, keep: Iterable[str] = ()) -> list[str]:
    """Delete staging folders of runs that never committed (a killed earlier run)."""
    discard_uncommitted_files(warehouse)
    root = FileSystems.join(warehouse, STAGING)
    if not FileSystems.exists(root):
        return []
    stale = sorted(
        {
            path.split(f"/{STAGING}/", 1)[1].split("/", 1)[0]
            for path in _files(FileSystems.join(root, "**"))
        }
        - set(keep)
    )
    for run_id in stale:
        LOG.info("discarding rows of run %s, which never committed", run_id)
        FileSystems.delete([staging_dir(warehouse, run_id)])
    return stale


def _query(warehouse: str, sql: str, params: dict) -> list[tuple]:
    """Run `sql` over the committed tables bound as `$videos`, `$errors` and `$runs`."""
    files = {name: table_files(warehouse, name) for name in ("videos", "errors", "runs")}
    if not all(files.values()):
        return []
    return duckdb.execute(sql, {**files, **params}).fetchall()


_COMMITTED = """
    with runs as (select run_id from read_parquet($runs, union_by_name = true,
                                                  hive_partitioning = false)),
    videos as (select * from read_parquet($videos, union_by_name = true, hive_partitioning = false)
               where run_id in (select run_id from runs)),
    errors as (select * from read_parquet($errors, union_by_name = true, hive_partitioning = false)
               where run_id in (select run_id from runs))
"""


def done_video_keys(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos already analysed (ok or no_faces) under `analysis_id` by a committed run."""
    rows = _query(
        warehouse,
        _COMMITTED + "select distinct video_key from videos where analysis_id = $analysis_id "
        "and status in ('ok', 'no_faces')",
        {"analysis_id": analysis_id},
    )
    return frozenset(key for (key,) in rows)


def failed_for_good(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos whose run under `analysis_id` failed with an error retrying cannot fix."""
    rows = _query(
        warehouse,
        _COMMITTED
        + """
        select distinct v.video_key from videos as v
        join errors as e on e.run_id = v.run_id and e.video_key = v.video_key
        where v.analysis_id = $analysis_id and v.status = 'failed' and not e.retryable
        """,
        {"analysis_id": analysis_id},
    )
    return frozenset(key for (key,) in rows)


def recorded_row_errors(warehouse: str) -> frozenset[tuple[str, str | None, str]]:
    """(stage, cohort, input) of committed errors that name no video (bad rows, sources)."""
    rows = _query(
        warehouse,
        _COMMITTED + "select distinct stage, cohort, input from errors where video_key is null",
        {},
    )
    return frozenset(rows)


KEYED_TABLES = ("videos", "faces", "errors")


def _without_key(path: str, video_key: str) -> int:
    """Rewrite one Parquet file without the rows of `video_key`; returns rows removed."""
    with FileSystems.open(path) as handle:
        table = pq.read_table(handle)
    if "video_key" not in table.column_names:
        return 0
    keep = pc.fill_null(pc.not_equal(table["video_key"], video_key), True)
    kept = table.filter(keep)
    removed = table.num_rows - kept.num_rows
    if removed:
        _write_table(kept, path)
    return removed


def _forgotten_file(warehouse: str) -> str:
    return FileSystems.join(warehouse, FORGOTTEN, "keys.txt")


def forgotten_keys(warehouse: str) -> frozenset[str]:
    """Videos removed by `forget`: later runs and refreshes leave them out."""
    path = _forgotten_file(warehouse)
    if not FileSystems.exists(path):
        return frozenset()
    with FileSystems.open(path) as handle:
        return frozenset(filter(None, handle.read().decode().split()))


def _remember_forgotten(warehouse: str, video_key: str) -> None:
    keys = sorted(forgotten_keys(warehouse) | {video_key})
    path = _forgotten_file(warehouse)
    temporary = f"{path}.tmp-{secrets.token_hex(4)}"
    with FileSystems.create(temporary) as handle:
        handle.write("".join(f"{key}\n" for key in keys).encode())
    FileSystems.rename([temporary], [path])


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
        staged = _files(FileSystems.join(warehouse, STAGING, "*", name, "*.parquet"))
        for path in table_files(warehouse, name) + staged:
            removed[name] += _without_key(path, video_key)
    return removed
