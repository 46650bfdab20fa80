"""The card of a validation (`affectflow validate`): terminal text, JSON or HTML."""

from __future__ import annotations

import html
import json

from affectflow.schemas.tables import VALIDATION_MAPS

MAP_NAMES = {
    "paper": "paper's map (surprise negative)",
    "excl_surprise": "surprise apart",
}


def _ci(row: dict, figure: str, digits: int = 2) -> str:
    value, low, high = row[figure], row[f"{figure}_low"], row[f"{figure}_high"]
    if value is None:
        return "-"
    if low is None or high is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _at(values: list | None, index: int) -> float | None:
    return None if values is None else values[index]


def _class_ci(row: dict, figure: str, index: int) -> str:
    value = _at(row[figure], index)
    if value is None:
        return "-"
    low, high = _at(row[f"{figure}_low"], index), _at(row[f"{figure}_high"], index)
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def card_lines(row: dict) -> list[str]:
    """The card as lines of text."""
    confusion = row["confusion"]
    detected = sum(sum(line[:-1]) for line in confusion)
    lines = [
        f"validation {row['name']}: {row['n']} labelled faces, {row['clusters']} "
        f"{'subjects' if row['clustered_by'] == 'subject' else 'images'}"
        + (f" ({row['n_failed']} unreadable, left out)" if row["n_failed"] else ""),
        f"model {row['model_id']}, analysis {row['analysis_id']}, "
        f"{row['validated_at']:%Y-%m-%d %H:%M} UTC, set {row['set_fingerprint'][:12]}",
        f"95% CIs: bootstrap over {row['clustered_by']}s, {row['n_boot']} replicates",
        "",
        f"detected          {detected}/{row['n']}  {_ci(row, 'detection_rate')}",
        f"accuracy          {_ci(row, 'accuracy')}   (of the detected faces)",
        f"UAR               {_ci(row, 'uar')}",
        f"UF1               {_ci(row, 'uf1')}",
    ]
    for name in VALIDATION_MAPS:
        lines.append(
            f"negative, {MAP_NAMES[name]}: sensitivity {_ci(row, f'sensitivity_{name}')}, "
            f"false-positive rate {_ci(row, f'fpr_{name}')}, "
            f"Youden's J {_ci(row, f'youden_j_{name}')}"
        )
    labels = row["labels"]
    lines += ["", f"{'class':<10} {'n':>5}  {'recall':<20} precision"]
    for i, label in enumerate(labels):
        support = sum(confusion[i])
        recall, precision = _class_ci(row, "recall", i), _class_ci(row, "precision", i)
        lines.append(f"{label:<10} {support:>5}  {recall:<20} {precision}")
    width = max(len(label) for label in [*labels, "missed"]) + 1
    lines += ["", "confusion (rows: truth; columns: predicted, then no face found)"]
    lines.append(" " * width + "".join(f"{c[:7]:>8}" for c in [*labels, "missed"]))
    for label, line in zip(labels, confusion, strict=True):
        lines.append(f"{label:<{width}}" + "".join(f"{v:>8}" for v in line))
    return lines


def card_json(row: dict) -> str:
    """The row as JSON, without its items (those are for the reports' bootstrap)."""
    shown = {k: v for k, v in row.items() if k != "items"}
    return json.dumps(shown, default=str, indent=2)


def card_html(row: dict) -> str:
    """One self-contained HTML page with the card."""
    text = html.escape("\n".join(card_lines(row)))
    title = html.escape(f"validation {row['name']}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><pre>{text}</pre></body></html>\n"
    )


def render(row: dict, fmt: str) -> str:
    """The card in `fmt`: table (terminal), json or html."""
    if fmt == "json":
        return card_json(row)
    if fmt == "html":
        return card_html(row)
    return "\n".join(card_lines(row))
