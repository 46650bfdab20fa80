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
from collections.abc import Callable
from html import escape
from typing import Any

import duckdb

from affectflow.queries.render import footer
from affectflow.queries.runner import Report, report_info, run_report

COMPANIONS = {"cohort_summary": ("paper_figure5", "negative_share", "video_timeline")}
MAX_TIMELINES = 8
NO_MATPLOTLIB = 'plots need matplotlib: pip install "affectflow[report]"'
STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#eee}tr.masked td{color:#999;background:#f7f7f7}.note{color:#555}
figure{margin:1.5em 0}img{max-width:100%}"""


# One colour per emotion in every plot, whatever the class set calls it.
EMOTION_COLOURS = {
    "neutral": "#9e9e9e",
    "happy": "#f2b705",
    "surprise": "#ff7f0e",
    "anger": "#d62728",
    "sadness": "#1f77b4",
    "fear": "#8e44ad",
    "disgust": "#2ca02c",
    "contempt": "#8c564b",
    "repression": "#e377c2",
    "other": "#c7c7c7",
    "positive": "#f2b705",
    "negative": "#d62728",
}
SYNONYMS = {
    "angry": "anger",
    "happiness": "happy",
    "sad": "sadness",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
    "others": "other",
}
OTHER_COLOURS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#ff9896")
COHORT_HATCHES = ("", "//", "..", "xx", "\\\\", "oo")


def emotion_colour(label: str) -> str:
    """The colour of an emotion label in every plot (neutral grey, happy yellow, anger red,
    sadness blue, ...); labels outside the palette get a fixed colour of their own."""
    key = SYNONYMS.get(label.lower(), label.lower())
    if key in EMOTION_COLOURS:
        return EMOTION_COLOURS[key]
    return OTHER_COLOURS[sum(key.encode()) % len(OTHER_COLOURS)]


def _figure_class() -> type | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def _open_rows(report: Report) -> list[dict[str, Any]]:
    return [row for row in report.records() if not row.get("suppressed")]


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def plot_distribution(report: Report, figure: type) -> Any | None:
    """Grouped bars: share of face-frames per label, one bar per cohort; negatives marked."""
    rows = [r for r in _open_rows(report) if r.get("share_frames") is not None]
    if not rows:
        return None
    from matplotlib.patches import Patch

    labels = list(dict.fromkeys(r["label"] for r in rows))
    cohorts = list(dict.fromkeys(r["cohort"] for r in rows))
    negative = {r["label"] for r in rows if r.get("negative")}
    fig = figure(figsize=(max(6, len(labels) * 1.1), 4))
    ax = fig.subplots()
    width = 0.8 / len(cohorts)
    hatches = {c: COHORT_HATCHES[i % len(COHORT_HATCHES)] for i, c in enumerate(cohorts)}
    for i, cohort in enumerate(cohorts):
        share = {r["label"]: r["share_frames"] for r in rows if r["cohort"] == cohort}
        xs = [j + i * width for j in range(len(labels))]
        heights = [share.get(label, 0.0) for label in labels]
        colours = [emotion_colour(label) for label in labels]
        ax.bar(xs, heights, width, color=colours, edgecolor="#333", hatch=hatches[cohort])
    ticks = [f"{label}\n(negative)" if label in negative else label for label in labels]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], ticks)
    ax.set_ylabel("share of face-frames")
    ax.set_title("Emotion distribution per cohort (bars side by side: cohorts)")
    handles = [
        Patch(facecolor="white", edgecolor="#333", hatch=hatches[c], label=str(c)) for c in cohorts
    ]
    ax.legend(handles=handles, title="cohort")
    return fig


def plot_negative_share(report: Report, figure: type) -> Any | None:
    """One point per cohort with its bootstrap 95% CI."""
    rows = [r for r in _open_rows(report) if r.get("negative_share") is not None]
    if not rows:
        return None
    fig = figure(figsize=(6, 1 + 0.5 * len(rows)))
    ax = fig.subplots()
    ys = list(range(len(rows)))
    shares = [r["negative_share"] for r in rows]
    low = [s - r["ci_low"] for s, r in zip(shares, rows, strict=True)]
    high = [r["ci_high"] - s for s, r in zip(shares, rows, strict=True)]
    ax.errorbar(shares, ys, xerr=[low, high], fmt="o", capsize=4)
    ax.set_yticks(ys, [str(r["cohort"]) for r in rows])
    ax.set_xlabel("negative share of face-frames (95% CI, videos resampled)")
    ax.set_title("Negative affect per cohort")
    return fig


def plot_comparison(report: Report, figure: type) -> Any | None:
    """The difference of negative shares with its CI, and the permutation p-value."""
    rows = [r for r in _open_rows(report) if r.get("difference") is not None]
    if not rows:
        return None
    row = rows[0]
    fig = figure(figsize=(6, 1.6))
    ax = fig.subplots()
    err = [[row["difference"] - row["ci_low"]], [row["ci_high"] - row["difference"]]]
    ax.errorbar([row["difference"]], [0], xerr=err, fmt="o", capsize=4)
    ax.axvline(0, color="#999", linewidth=1)
    ax.set_yticks([0], [f"{row['cohort_a']} - {row['cohort_b']}"])
    ax.set_xlabel("difference of negative share (95% CI)")
    ax.set_title(f"Cohort comparison (permutation p = {row['p_value']})")
    return fig


def plot_trend(report: Report, figure: type) -> Any | None:
    """Negative share by upload month, one line per cohort."""
    rows = [r for r in _open_rows(report) if r["upload_month"] and r["negative_share"] is not None]
    if not rows:
        return None
    fig = figure(figsize=(7, 3.5))
    ax = fig.subplots()
    for cohort in dict.fromkeys(r["cohort"] for r in rows):
        points = [(r["upload_month"], r["negative_share"]) for r in rows if r["cohort"] == cohort]
        ax.plot(*zip(*points, strict=True), marker="o", label=str(cohort))
    ax.set_ylabel("negative share")
    ax.set_title("Negative affect by upload month")
    ax.legend(title="cohort")
    return fig


def plot_timeline(report: Report, figure: type) -> Any | None:
    """Per video: stacked share of each label per time bin (first videos only)."""
    from matplotlib.patches import Patch

    rows = [r for r in _open_rows(report) if r.get("share_frames") is not None]
    videos = list(dict.fromkeys((r["cohort"], r["video_key"]) for r in rows))[:MAX_TIMELINES]
    names = {r["video_key"]: r.get("video_name") or r["video_key"] for r in rows}
    if not videos:
        return None
    labels = sorted({r["label"] for r in rows})
    colors = {label: emotion_colour(label) for label in labels}
    fig = figure(figsize=(8, 0.6 + 1.6 * len(videos)), layout="constrained")
    axes = fig.subplots(len(videos), 1, squeeze=False)[:, 0]
    width = float(report.params.get("bin_s") or 1.0)
    for ax, (cohort, key) in zip(axes, videos, strict=True):
        mine = [r for r in rows if r["video_key"] == key]
        bins = sorted({r["bin_start_s"] for r in mine})
        bottom = dict.fromkeys(bins, 0.0)
        for label in labels:
            share = {r["bin_start_s"]: r["share_frames"] for r in mine if r["label"] == label}
            heights = [share.get(b, 0.0) for b in bins]
            ax.bar(bins, heights, width, [bottom[b] for b in bins], align="edge",
                   color=colors[label])  # fmt: skip
            for b, h in zip(bins, heights, strict=True):
                bottom[b] += h
        ax.set_title(f"{cohort} / {names[key]}", fontsize=9)
        ax.set_ylabel("share")
    axes[-1].set_xlabel("seconds")
    handles = [Patch(color=colors[label], label=label) for label in labels]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(labels), 7))
    return fig


PLOTS: dict[str, Callable[[Report, type], Any | None]] = {
    "cohort_emotions": plot_distribution,
    "paper_figure5": plot_distribution,
    "negative_share": plot_negative_share,
    "cohort_comparison": plot_comparison,
    "trend_by_month": plot_trend,
    "video_timeline": plot_timeline,
}


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
        cells = "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row.values())
        masked = ' class="masked"' if row.get("suppressed") else ""
        body.append(f"<tr{masked}>{cells}</tr>")
    notes = "".join(f'<p class="note">{escape(line)}</p>' for line in footer(report))
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{notes}"


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
