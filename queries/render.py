"""A report as text: a terminal table, CSV, JSON or a self-contained HTML page.

The one place that turns a `Report` into a format (`render_report`); the HTML page and
its plots are `html.py`'s, loaded only when asked (they need matplotlib).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import duckdb

from affectflow.queries.runner import Report

FORMATS = ("table", "csv", "json", "html")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html"}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def footer(report: Report) -> list[str]:
    """Lines under a report: masked rows (small-cell suppression) and the parameters."""
    return report.notes


def format_table(report: Report) -> str:
    """A plain-text table for the terminal (numbers rounded here only), with its notes."""
    cells = [[_cell(v) for v in row] for row in report.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(report.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(report.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if not report.rows:
        lines.append("(no rows)")
    return "\n".join(lines + footer(report))


def render_report(con: duckdb.DuckDBPyConnection, report: Report, fmt: str) -> str:
    """The report as `table`, `csv`, `json` or self-contained `html` text."""
    if fmt == "html":
        from affectflow.queries.html import render_html

        return render_html(con, report)
    if fmt == "table":
        return format_table(report)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(report.columns)
        writer.writerows(report.rows)
        return out.getvalue()
    if fmt == "json":
        return json.dumps(report.records(), default=str, indent=2)
    raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
