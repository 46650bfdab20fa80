"""A set of reports written to files (after a refresh), each atomically."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from affectflow.queries.render import EXTENSIONS, parquet_bytes, render_report
from affectflow.queries.runner import Report, connect, report_info, run_report
from affectflow.warehouse.sql import WarehouseError


def owner_only_dirs(folder: Path) -> None:
    """Create `folder` and the parents it lacks, each owner-only (0700)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for parent in reversed(missing):
        parent.mkdir(mode=0o700, exist_ok=True)


def write_text(path: Path, text: str | bytes) -> None:
    """Write a file atomically (a reader sees the old report or the new one, never half),
    owner-only (0600; folders it creates 0700): a report can name videos and cohorts.
    Text ends with a newline; bytes (Parquet) are written as they are."""
    owner_only_dirs(path.parent)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    if isinstance(text, str):
        text = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(text)
    os.replace(temporary, path)


def rendered(
    con: duckdb.DuckDBPyConnection, report: Report, fmt: str, *, raw_csv: bool = False
) -> str | bytes:
    """The report in one format: text, or Parquet's bytes."""
    if fmt == "parquet":
        return parquet_bytes(report)
    return render_report(con, report, fmt, raw_csv=raw_csv)


@dataclasses.dataclass(frozen=True)
class WrittenReports:
    """The files written, and `name: error` for each report that could not run."""

    paths: tuple[Path, ...] = ()
    failures: tuple[str, ...] = ()


def write_reports(
    warehouse: str,
    names: Sequence[str],
    formats: Sequence[str],
    out_dir: str,
    *,
    params: dict[str, Any] | None = None,
    min_videos: int | None = None,
) -> WrittenReports:
    """Run each report once and write it as `<out_dir>/<name>.<ext>` per format.

    `params` apply to the reports that take them; `min_videos` to all. A report that
    fails (say, a comparison with only one cohort) is reported, the others still written.
    """
    try:
        con = connect(warehouse)
    except WarehouseError as error:  # e.g. a remote warehouse DuckDB cannot read here
        return WrittenReports(failures=tuple(f"{name}: {error}" for name in names))
    written, failures = [], []
    for name in names:
        taken = report_info(name).parameters
        values = {k: v for k, v in (params or {}).items() if k in taken}
        if min_videos is not None:
            values["min_videos"] = min_videos
        try:
            report = run_report(con, name, values)
            texts = {fmt: rendered(con, report, fmt) for fmt in formats}
        except (ValueError, duckdb.Error) as error:
            failures.append(f"{name}: {error}")
            continue
        for fmt, text in texts.items():
            path = Path(out_dir) / f"{name}.{EXTENSIONS[fmt]}"
            write_text(path, text)
            written.append(path)
    return WrittenReports(tuple(written), tuple(failures))
