"""Runs that did not finish: the same command resumes its run, any other closes it first.

A run writes its manifest (`_staging/<run_id>/manifest.json`: what it reads, under which
analysis, and its planned `runs` row) before it starts. A run killed before its end
leaves the manifest and its committed units. The next job of the warehouse (it holds
the lock) settles every such run: the one with the same identity (same list, same
analysis) is resumed under its run id, so its committed videos are not analysed again
and the finished run holds exactly the rows of one clean run; any other is closed as it
is (its committed units compacted, its `runs` row written): committed work is never
thrown away. Files of units that never committed are deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

from affectflow.warehouse import layout
from affectflow.warehouse.commit import (
    commit_run,
    committed_runs,
    discard_uncommitted_files,
    drop_staging,
    ensure_tables,
)
from affectflow.warehouse.quarantine import quarantine_unreadable
from affectflow.warehouse.units import (
    committed_units,
    committed_videos,
    delete_units,
    discard_uncommitted_units,
    unit_runs,
)

LOG = logging.getLogger(__name__)
MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class Resumed:
    """A run taken up again: its id, this attempt's number, the videos it had committed."""

    run_id: str
    attempt: int
    videos_committed: int


def manifest_path(warehouse: str, run_id: str) -> str:
    return layout.join(layout.staging_dir(warehouse, run_id), MANIFEST)


def write_manifest(warehouse: str, run_id: str, manifest: dict) -> None:
    with layout.write_atomically(manifest_path(warehouse, run_id)) as handle:
        handle.write(json.dumps(manifest, default=str, sort_keys=True).encode())


def read_manifest(warehouse: str, run_id: str) -> dict | None:
    path = manifest_path(warehouse, run_id)
    if not layout.exists(path):
        return None
    with layout.open_read(path) as handle:
        return json.loads(handle.read().decode())


def unfinished_runs(warehouse: str) -> list[str]:
    """Runs with a staging folder or units and no `runs` row, oldest first."""
    staging = layout.join(warehouse, layout.STAGING)
    staged = set()
    if layout.exists(staging):
        staged = {
            path.split(f"/{layout.STAGING}/", 1)[1].split("/", 1)[0]
            for path in layout.files(layout.join(staging, "**"))
        }
    return sorted((staged | set(unit_runs(warehouse))) - committed_runs(warehouse))


def close_run(warehouse: str, run_id: str, manifest: dict | None) -> None:
    """Commit what an unfinished run committed (its units) as a run, or drop it if none."""
    if manifest is None or not committed_units(warehouse, run_id):
        LOG.info("discarding run %s, which committed nothing", run_id)
        delete_units(warehouse, run_id)
        drop_staging(warehouse, run_id)
        return
    row = dict(manifest["run_row"])
    row["started_at"] = dt.datetime.fromisoformat(row["started_at"])
    row["finished_at"] = dt.datetime.now(dt.UTC)
    row["attempts"] = manifest.get("attempts", 1)
    LOG.warning("run %s was interrupted: committing its finished videos as they are", run_id)
    commit_run(warehouse, run_id, row)


def settle_unfinished(warehouse: str, identity: str) -> Resumed | None:
    """Prepare the warehouse for a job: resume the run `identity` started, close the others."""
    quarantine_unreadable(warehouse)  # an unreadable table file would block every job
    ensure_tables(warehouse)
    discard_uncommitted_files(warehouse)
    resumed = None
    for run_id in unfinished_runs(warehouse):
        discard_uncommitted_units(warehouse, run_id)
        manifest = read_manifest(warehouse, run_id)
        if resumed is None and manifest is not None and manifest.get("identity") == identity:
            manifest["attempts"] = manifest.get("attempts", 1) + 1
            write_manifest(warehouse, run_id, manifest)
            resumed = Resumed(run_id, manifest["attempts"], committed_videos(warehouse, run_id))
        else:
            close_run(warehouse, run_id, manifest)
    return resumed
