"""The plots of the HTML reports (matplotlib, imported by the caller): one function per
report that a person would rather look at than read, each with a legend entry for every
series and mark it draws, and one colour per emotion everywhere. Masked rows (small-cell
suppression) are never plotted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from affectflow.queries.runner import Report

MAX_TIMELINES = 8
MAX_ERRORS = 12
# What a white gap of a timeline means.
NO_FACE_BIN = "white: no face in the bin"
STATUS_COLOURS = {
    "videos_ok": ("ok", "#2ca02c"),
    "videos_no_faces": ("no faces", "#9e9e9e"),
    "videos_failed": ("failed", "#d62728"),
    "videos_duplicate": ("duplicate row", "#ff7f0e"),
}


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


def _open_rows(report: Report) -> list[dict[str, Any]]:
    return [row for row in report.records() if not row.get("suppressed")]


def _cohort_rows(ax: Any, ticks: list, names: list[str], xlabel: str, title: str) -> None:
    """Label a plot of one row per tick (cohort, error), with its legend."""
    ax.set_yticks(ticks, names)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)


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
    ax.set_title("Which emotions do each cohort's faces show? (bars side by side: cohorts)")
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
    ax.errorbar(shares, ys, xerr=[low, high], fmt="o", capsize=4,
                label="negative share (paper's map), bar: 95% CI")  # fmt: skip
    xlabel = "negative share of face-frames (95% CI, videos resampled)"
    title = "What share of each cohort's face-frames is negative?"
    _cohort_rows(ax, ys, [str(r["cohort"]) for r in rows], xlabel, title)
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
    ax.errorbar([row["difference"]], [0], xerr=err, fmt="o", capsize=4,
                label="difference, bar: 95% CI")  # fmt: skip
    ax.axvline(0, color="#999", linewidth=1, label="no difference")
    ax.set_yticks([0], [f"{row['cohort_a']} - {row['cohort_b']}"])
    ax.set_xlabel("difference of negative share (95% CI)")
    p_value = row["p_value"]
    shown = "-" if p_value is None else f"{p_value:.3g}"
    ax.set_title(f"How different is the negative share of the two cohorts? (p = {shown})")
    ax.legend(loc="best", fontsize=8)
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
    ax.set_ylabel("negative share of face-frames")
    ax.set_xlabel("upload month")
    ax.set_title("How does the negative share change with the upload month?")
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
    handles.append(Patch(facecolor="white", edgecolor="#999", label=NO_FACE_BIN))
    fig.suptitle("How does the mix of emotions change within each video?")
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 7))
    return fig


def plot_data_quality(report: Report, figure: type) -> Any | None:
    """Per cohort: its inputs by status, stacked (ok, no faces, failed, duplicate row)."""
    rows = [r for r in _open_rows(report) if r.get("videos")]
    if not rows:
        return None
    fig = figure(figsize=(7, 1.2 + 0.5 * len(rows)))
    ax = fig.subplots()
    ys = list(range(len(rows)))
    left = [0] * len(rows)
    for column, (name, colour) in STATUS_COLOURS.items():
        counts = [int(r.get(column) or 0) for r in rows]
        ax.barh(ys, counts, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    title = "How many of each cohort's videos were analysed, had no face, or failed?"
    _cohort_rows(ax, ys, [str(r["cohort"]) for r in rows], "input rows of the list", title)
    return fig


def plot_errors(report: Report, figure: type) -> Any | None:
    """The most frequent errors: inputs per stage and message, one colour per stage."""
    rows = [r for r in _open_rows(report) if r.get("inputs")]
    rows = sorted(rows, key=lambda r: -int(r["inputs"]))[:MAX_ERRORS]
    if not rows:
        return None
    stages = list(dict.fromkeys(str(r["stage"]) for r in rows))
    colours = {s: OTHER_COLOURS[i % len(OTHER_COLOURS)] for i, s in enumerate(stages)}
    fig = figure(figsize=(8, 1.2 + 0.4 * len(rows)))
    ax = fig.subplots()
    ys = list(range(len(rows)))[::-1]
    for stage in stages:
        mine = [(y, r) for y, r in zip(ys, rows, strict=True) if str(r["stage"]) == stage]
        ax.barh([y for y, _ in mine], [int(r["inputs"]) for _, r in mine],
                color=colours[stage], label=stage)  # fmt: skip
    names = [f"{r['cohort']}: {str(r['message'])[:60]}" for r in rows]
    _cohort_rows(ax, ys, names, "inputs (videos or list rows)", "What went wrong, and how often?")
    ax.tick_params(axis="y", labelsize=8)
    return fig


def plot_video_strips(report: Report, figure: type) -> Any | None:
    """One point per video: its negative share, one strip per cohort."""
    rows = [r for r in _open_rows(report) if r.get("negative_share") is not None]
    if not rows:
        return None
    cohorts = list(dict.fromkeys(str(r["cohort"]) for r in rows))
    fig = figure(figsize=(7, 1.2 + 0.6 * len(cohorts)))
    ax = fig.subplots()
    for y, cohort in enumerate(cohorts):
        shares = [r["negative_share"] for r in rows if str(r["cohort"]) == cohort]
        offsets = [y + 0.25 * ((i % 5) - 2) / 2 for i in range(len(shares))]
        ax.scatter(shares, offsets, alpha=0.7, label=f"{cohort} ({len(shares)} videos)")
    xlabel, title = "negative share of the video's face-frames", "How negative is each video?"
    _cohort_rows(ax, list(range(len(cohorts))), cohorts, xlabel, title + " (one point per video)")
    return fig


PLOTS: dict[str, Callable[[Report, type], Any | None]] = {
    "cohort_emotions": plot_distribution,
    "paper_figure5": plot_distribution,
    "negative_share": plot_negative_share,
    "cohort_comparison": plot_comparison,
    "trend_by_month": plot_trend,
    "video_timeline": plot_timeline,
    "data_quality": plot_data_quality,
    "errors": plot_errors,
    "video_summary": plot_video_strips,
}
