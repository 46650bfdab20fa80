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
import textwrap
from typing import Any

import duckdb

from affectflow.queries.runner import Report
from affectflow.schemas.printable import printable, spreadsheet_safe

FORMATS = ("table", "csv", "json", "html", "parquet")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "html": "html", "parquet": "parquet"}
TEXT_FORMATS = FORMATS[:-1]  # parquet is bytes: `parquet_bytes`


TERMINAL_WIDTH = 100  # the terminal table fits this many columns
MAX_CELL = 36  # longer texts are cut in the terminal (every format but the table keeps them)


def display_value(value: Any) -> str:
    """A value as people read it (terminal table and HTML): numbers rounded to 4
    significant digits, thousands separated; None as `-`. CSV, JSON and Parquet keep
    every digit."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cell(value: Any) -> str:
    text = " ".join(printable(display_value(value)).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "\u2026"


def footer(report: Report) -> list[str]:
    """Lines under a report: masked rows (small-cell suppression) and the parameters."""
    return report.notes


def _fitting(report: Report, widths: list[int], width: int) -> list[int]:
    """The columns shown within `width`: the keys first (and `suppressed` when a row is
    masked), then the others in order while they fit."""
    keys = (*report.keys, "suppressed") if report.suppressed else report.keys
    order = [i for i, c in enumerate(report.columns) if c in keys]
    order += [i for i, c in enumerate(report.columns) if i not in order and c != "suppressed"]
    shown: list[int] = []
    used = -2
    for i in order:
        if used + 2 + widths[i] > width and shown:
            continue
        shown.append(i)
        used += 2 + widths[i]
    return sorted(shown)


def _records(report: Report, cells: list[list[str]], width: int) -> list[str]:
    """One block per row: `column  value` lines, each within `width`."""
    columns = [printable(c) for c in report.columns]
    name_width = max(len(c) for c in columns)
    lines: list[str] = []
    for number, row in enumerate(cells, start=1):
        lines.append(f"-- row {number} " + "-" * max(0, min(width, 40) - 8 - len(str(number))))
        pairs = zip(columns, row, strict=True)
        lines += [f"{c.ljust(name_width)}  {v}"[:width] for c, v in pairs]
    return lines


def format_table(report: Report, *, wide: bool = False, width: int = TERMINAL_WIDTH) -> str:
    """A plain-text table for the terminal (numbers rounded here and in HTML only), with
    its notes, within `width` columns: the key columns and those that fit, or with `wide`
    every column, one record per block."""
    cells = [[_cell(v) for v in row] for row in report.rows]
    columns = [printable(c) for c in report.columns]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    notes = [wrapped for line in footer(report) for wrapped in _wrap(printable(line), width)]
    if wide and report.rows:
        return "\n".join(_records(report, cells, width) + notes)
    shown = _fitting(report, widths, width)
    pick = [[row[i] for i in shown] for row in [columns, *cells]]
    sizes = [widths[i] for i in shown]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, sizes, strict=True)).rstrip()
             for row in pick]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in sizes))
    if not report.rows:
        lines.append("(no rows)")
    hidden = [c for i, c in enumerate(columns) if i not in shown]
    if hidden:
        more = (
            f"{len(hidden)} more column{'s' * (len(hidden) > 1)} ({', '.join(hidden)}): --wide "
            "shows every column, one row per block; --format csv, json or parquet keep them all"
        )
        notes.insert(0, "\n".join(_wrap(more, width)))
    return "\n".join(lines + notes)


def _wrap(line: str, width: int) -> list[str]:
    return textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False) or [""]


def parquet_bytes(report: Report) -> bytes:
    """The report as a Parquet file: every digit, one Arrow type per SQL type."""
    import pyarrow.parquet as pq

    from affectflow.queries.frames import arrow_table

    sink = io.BytesIO()
    pq.write_table(arrow_table(report.columns, report.types, report.rows), sink)
    return sink.getvalue()


def format_csv(report: Report, raw: bool = False) -> str:
    """The report as CSV; cells a spreadsheet would run as formulas escaped unless `raw`."""
    safe = (lambda value: value) if raw else spreadsheet_safe
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe(c) for c in report.columns])
    writer.writerows([safe(v) for v in row] for row in report.rows)
    return out.getvalue()


def render_report(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    fmt: str,
    *,
    wide: bool = False,
    raw_csv: bool = False,
) -> str:
    """The report as `table` (`wide`: every column, one row per block), `csv`
    (`format_csv`; `raw_csv`: no formula escaping), `json` or self-contained `html` text
    (`parquet`: `parquet_bytes`)."""
    if fmt == "html":
        from affectflow.queries.html import render_html

        return render_html(con, report)
    if fmt == "table":
        return format_table(report, wide=wide)
    if fmt == "csv":
        return format_csv(report, raw_csv)
    if fmt == "json":
        return json.dumps(report.records(), default=str, indent=2)
    raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
