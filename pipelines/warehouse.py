"""The warehouse on disk: staging, committing a run, and what is already done.

Layout: `<warehouse>/<table>/run-<run_id>-NNNNN-of-NNNNN.parquet` for the tables of
`schemas.tables`, and `<warehouse>/_staging/<run_id>/` while a run is in progress. A run
becomes visible when its `runs` row is written, last; views join on `runs`, so rows of a
run that died before that are never reported, and `done_video_keys` ignores them too.
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

LOG = logging.getLogger(__name__)
STAGING = "_staging"
_RUN_FILE = re.compile(r"^run-(\d{8}T\d{6}Z-[0-9a-f]{6})-")
DONE_STATUSES = (str(VideoStatus.OK), str(VideoStatus.NO_FACES))


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: `20261124T160305Z-a1b2c3`."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def staging_dir(warehouse: str, run_id: str) -> str:
    return FileSystems.join(warehouse, STAGING, run_id)


def table_glob(warehouse: str, table: str) -> str:
    return FileSystems.join(warehouse, table, "*.parquet")


def _files(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _write_table(table: pa.Table, path: str) -> None:
    """Write a Parquet file atomically: a temporary name, then a rename."""
    temporary = f"{path}.tmp-{secrets.token_hex(4)}"
    with FileSystems.create(temporary) as handle:
        pq.write_table(table, handle, compression="zstd")
    FileSystems.rename([temporary], [path])


def ensure_tables(warehouse: str) -> None:
    """Give every table at least one (empty) file so that queries never find no files."""
    for name in TABLE_NAMES:
        if not _files(table_glob(warehouse, name)):
            _write_table(
                SCHEMAS[name].empty_table(), FileSystems.join(warehouse, name, "empty.parquet")
            )


def commit_run(warehouse: str, run_id: str, run_row: dict) -> None:
    """Move a finished run's staged files into the tables, then write its `runs` row."""
    staged = staging_dir(warehouse, run_id)
    for name in ("faces", "errors", "videos"):
        sources = _files(FileSystems.join(staged, name, "*.parquet"))
        if not sources:
            continue
        table_dir = FileSystems.join(warehouse, name)
        if not FileSystems.exists(table_dir):
            FileSystems.mkdirs(table_dir)
        targets = [FileSystems.join(table_dir, FileSystems.split(path)[1]) for path in sources]
        FileSystems.rename(sources, targets)
    runs_path = FileSystems.join(warehouse, "runs", f"run-{run_id}.parquet")
    _write_table(pa.Table.from_pylist([run_row], schema=RUNS), runs_path)
    FileSystems.delete([staged])
    ensure_tables(warehouse)


def discard_uncommitted_files(warehouse: str) -> list[str]:
    """Delete table files of runs without a `runs` row (killed during `commit_run`)."""
    committed = {
        FileSystems.split(path)[1].removeprefix("run-").removesuffix(".parquet")
        for path in _files(table_glob(warehouse, "runs"))
    }
    orphans = []
    for name in ("faces", "errors", "videos"):
        for path in _files(table_glob(warehouse, name)):
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


def done_video_keys(warehouse: str, analysis_id: str) -> frozenset[str]:
    """Videos already analysed (ok or no_faces) under `analysis_id` by a committed run."""
    videos, runs = _files(table_glob(warehouse, "videos")), _files(table_glob(warehouse, "runs"))
    if not videos or not runs:
        return frozenset()
    rows = duckdb.execute(
        """
        select distinct v.video_key
        from read_parquet($videos, union_by_name = true) as v
        join read_parquet($runs, union_by_name = true) as r using (run_id)
        where v.analysis_id = $analysis_id and v.status in ('ok', 'no_faces')
        """,
        {"videos": videos, "runs": runs, "analysis_id": analysis_id},
    ).fetchall()
    return frozenset(key for (key,) in rows)


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


def forget_video(warehouse: str, video_key: str) -> dict[str, int]:
    """Remove every row of `video_key` from the committed tables and any staged run.

    Each affected Parquet file is rewritten atomically (new file, then a rename over
    the old one), so a reader sees either the old or the new file, never half of one.
    Returns the rows removed per table.
    """
    removed = dict.fromkeys(KEYED_TABLES, 0)
    for name in KEYED_TABLES:
        patterns = [table_glob(warehouse, name), FileSystems.join(warehouse, STAGING, "*", name)]
        paths = _files(patterns[0]) + _files(FileSystems.join(patterns[1], "*.parquet"))
        for path in paths:
            removed[name] += _without_key(path, video_key)
    return removed
