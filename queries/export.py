"""Reports as text in any format, and a set of reports written to files (after a refresh)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from affectflow.queries.runner import connect, format_report, report_info, run_report

EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html"}


def render_report(con: duckdb.DuckDBPyConnection, report: Any, fmt: str) -> str:
    """The report as `table`, `csv`, `json` or self-contained `html` text."""
    if fmt == "html":
        from affectflow.queries.html import render_html

        return render_html(con, report)
    return format_report(report, fmt)


def write_text(path: Path, text: str) -> None:
    """Write a file atomically: a reader sees the old report or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    os.replace(handle.name, path)


def write_reports(
    warehouse: str,
    names: Sequence[str],
    formats: Sequence[str],
    out_dir: str,
    *,
    params: dict[str, Any] | None = None,
    min_videos: int | None = None,
) -> list[Path]:
    """Run each report once and write it as `<out_dir>/<name>.<ext>` per format.

    `params` apply to the reports that take them; `min_videos` to all.
    """
    con = connect(warehouse)
    written = []
    for name in names:
        taken = report_info(name).parameters
        values = {k: v for k, v in (params or {}).items() if k in taken}
        if min_videos is not None:
            values["min_videos"] = min_videos
        report = run_report(con, name, values)
        for fmt in formats:
            path = Path(out_dir) / f"{name}.{EXTENSIONS[fmt]}"
            write_text(path, render_report(con, report, fmt))
            written.append(path)
    return written
