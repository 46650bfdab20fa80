"""A report as one self-contained HTML file: its table and its plots as inline PNGs.

Plots need matplotlib (`pip install "affectflow[report]"`); without it the page still has
the tables and says so. `cohort_summary` (the default report) also draws the emotion
distribution per cohort (paper_figure5), the negative share with CIs (negative_share) and
the per-video emotion timelines (video_timeline). Masked rows are never plotted. Every
text that comes from the data is escaped.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

import duckdb

from affectflow.queries.plots import PLOTS, emotion_colour
from affectflow.queries.render import display_value, footer
from affectflow.queries.runner import Report, report_info, run_report

__all__ = ["emotion_colour", "render_html"]
COMPANIONS = {"cohort_summary": ("paper_figure5", "negative_share", "video_timeline")}
NO_MATPLOTLIB = 'plots need matplotlib: pip install "affectflow[report]"'
STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#eee}tr.masked td{color:#999;background:#f7f7f7}.note{color:#555}
figure{margin:1.5em 0}img{max-width:100%}.wide{overflow-x:auto;max-width:100%}
td{text-align:right}td:first-child{text-align:left}"""


def _figure_class() -> type | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _figure_html(report: Report, figure: type | None, main: bool) -> str:
    """The report's plot, if it has one and something to draw; a note only under the page's
    own table (no note about a companion plot that is not on the page)."""
    plot = PLOTS.get(report.name)
    if plot is None or figure is None:
        return ""
    title = escape(report_info(report.name).title.rstrip("."))
    fig = plot(report, figure)
    if fig is None:
        note = "no plot: every row is masked or empty (small-cell suppression)"
        return f'<p class="note">{note}</p>' if main else ""
    data = base64.b64encode(_png(fig)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{title}">'
        f"<figcaption>{title}</figcaption></figure>"
    )


def _table_html(report: Report) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in report.columns)
    body = []
    for row in report.records():
        cells = "".join(
            f"<td>{escape('' if v is None else display_value(v))}</td>" for v in row.values()
        )
        masked = ' class="masked"' if row.get("suppressed") else ""
        body.append(f"<tr{masked}>{cells}</tr>")
    notes = "".join(f'<p class="note">{escape(line)}</p>' for line in footer(report))
    table = f"<table><tr>{head}</tr>{''.join(body)}</table>"
    return f'<div class="wide">{table}</div>{notes}'  # a wide table scrolls, never cut


def _companions(con: duckdb.DuckDBPyConnection, report: Report) -> list[Report]:
    reports = []
    for name in COMPANIONS.get(report.name, ()):
        takes = report_info(name).parameters
        params = {k: v for k, v in report.params.items() if k in takes and v is not None}
        reports.append(run_report(con, name, params))
    return reports


def render_html(con: duckdb.DuckDBPyConnection, report: Report) -> str:
    """One self-contained HTML page: the report's table, notes and plots."""
    info = report_info(report.name)
    figure = _figure_class()
    plots = [_figure_html(report, figure, main=True)]
    plots += [_figure_html(r, figure, main=False) for r in _companions(con, report)]
    wanted = report.name in PLOTS or bool(COMPANIONS.get(report.name))
    missing = "" if figure or not wanted else f'<p class="note">{escape(NO_MATPLOTLIB)}</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>affectflow: {escape(report.name)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info.title)}</h1><p>{escape(info.question)}</p>"
        f"{_table_html(report)}{missing}{''.join(plots)}"
        '<p class="note">Population statistics about expressed emotion, not diagnoses.</p>'
        "</body></html>\n"
    )
