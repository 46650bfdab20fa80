"""Run the shipped SQL reports over a warehouse with DuckDB.

Each report is one `<name>.sql` file in this package; `views.sql` defines the views
they read. Every parameter (paths too) is bound, never formatted into the SQL, and
report names are checked against the shipped list.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from importlib import resources
from typing import Any

import duckdb

from affectflow.schemas.tables import TABLE_NAMES

DEFAULT_MIN_VIDEOS = 5
VIEWS = "views"


@dataclasses.dataclass(frozen=True)
class Report:
    """A report's result: its name, column names, rows and how many rows were masked."""

    name: str
    columns: list[str]
    rows: list[tuple]

    @property
    def suppressed(self) -> int:
        if "suppressed" not in self.columns:
            return 0
        index = self.columns.index("suppressed")
        return sum(1 for row in self.rows if row[index])


def _sql(name: str) -> str:
    return resources.files("affectflow.queries").joinpath(f"{name}.sql").read_text("utf-8")


def list_reports() -> list[str]:
    """Names of the shipped reports."""
    files = resources.files("affectflow.queries").iterdir()
    return sorted(f.name[:-4] for f in files if f.name.endswith(".sql") and f.name != "views.sql")


def table_glob(warehouse: str, table: str) -> str:
    return os.path.join(warehouse, table, "**", "*.parquet")


def connect(warehouse: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the warehouse's views defined."""
    if not os.path.isdir(os.path.join(warehouse, "runs")):
        raise FileNotFoundError(f"{warehouse!r} holds no affectflow warehouse (no runs/ folder)")
    con = duckdb.connect()
    for table in TABLE_NAMES:
        con.execute(f"set variable {table}_glob = $glob", {"glob": table_glob(warehouse, table)})
    con.execute(_sql(VIEWS))
    return con


def latest_model_id(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("select model_id from runs order by run_id desc limit 1").fetchall()
    return rows[0][0] if rows else None


def run_report(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> Report:
    """Run one shipped report with bound parameters."""
    if name not in list_reports():
        raise ValueError(f"unknown report {name!r}; reports: {', '.join(list_reports())}")
    sql = _sql(name)
    values = {"model_id": latest_model_id(con), "min_videos": DEFAULT_MIN_VIDEOS}
    values.update(params or {})
    used = {key: value for key, value in values.items() if f"${key}" in sql}
    cursor = con.execute(sql, used)
    columns = [d[0] for d in cursor.description]
    return Report(name=name, columns=columns, rows=cursor.fetchall())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(report: Report) -> str:
    """A plain-text table for the terminal, with a note on masked rows."""
    cells = [[_cell(v) for v in row] for row in report.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(report.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(report.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if not report.rows:
        lines.append("(no rows)")
    if report.suppressed:
        lines.append(
            f"{report.suppressed} row(s) masked: built from fewer videos than --min-videos "
            "(small-cell suppression)"
        )
    return "\n".join(lines)


def format_report(report: Report, fmt: str) -> str:
    """The report as `table`, `csv` or `json` text."""
    if fmt == "table":
        return format_table(report)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(report.columns)
        writer.writerows(report.rows)
        return out.getvalue()
    if fmt == "json":
        records = [dict(zip(report.columns, row, strict=True)) for row in report.rows]
        return json.dumps(records, default=str, indent=2)
    raise ValueError(f"unknown format {fmt!r}: table, csv or json")
