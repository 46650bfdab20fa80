"""A report as text: a terminal table, CSV, JSON or a self-contained HTML page.

The one place that turns a `Report` into a format (`render_report`); the HTML page and
its plots are `html.py`'s, loaded only when asked (they need matplotlib). The table is
for a terminal: every value in it is `printable` (no escape sequence, no bidi control
reaches the screen). CSV cells that a spreadsheet would run as a formula (`= + - @`, tab,
carriage return first) start with `'` unless `raw_csv` (`schemas.printable`).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import duckdb

from affectflow.queries.runner import Report
from affectflow.schemas.printable import printable, spreadsheet_safe

FORMATS = ("table", "csv", "json", "html")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html"}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return printable(str(value))


def footer(report: Report) -> list[str]:
    """Lines under a report: masked rows (small-cell suppression) and the parameters."""
    return report.notes


def format_table(report: Report) -> str:
    """A plain-text table for the terminal (numbers rounded here only), with its notes."""
    cells = [[_cell(v) for v in row] for row in report.rows]
    columns = [printable(c) for c in report.columns]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if not report.rows:
        lines.append("(no rows)")
    return "\n".join(lines + [printable(line) for line in footer(report)])


def format_csv(report: Report, raw: bool = False) -> str:
    """The report as CSV; cells a spreadsheet would run as formulas escaped unless `raw`."""
    safe = (lambda value: value) if raw else spreadsheet_safe
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe(c) for c in report.columns])
    writer.writerows([safe(v) for v in row] for row in report.rows)
    return out.getvalue()


def render_report(
    con: duckdb.DuckDBPyConnection, report: Report, fmt: str, *, raw_csv: bool = False
) -> str:
    """The report as `table`, `csv` (`format_csv`), `json` or self-contained `html` text."""
    if fmt == "html":
        from affectflow.queries.html import render_html

        return render_html(con, report)
    if fmt == "table":
        return format_table(report)
    if fmt == "csv":
        return format_csv(report, raw_csv)
    if fmt == "json":
        return json.dumps(report.records(), default=str, indent=2)
    raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
