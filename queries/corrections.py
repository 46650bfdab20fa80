"""Shares corrected for the instrument's measured misclassification, beside the raw ones.

A report of an analysis uses that analysis's latest validation (`affectflow validate`;
or the one named by `--param validation=NAME`): negative shares are corrected by
Rogan-Gladen under each valence map, per-emotion shares by the matrix method
(`misclassification`). Intervals come from a joint bootstrap: each replicate resamples
the cohort's videos and the validation's subjects, recomputes the misclassification and
the corrected share. Where the validation's Youden's J is below 0.2 the corrected value
is empty and a note says why. Every correctable report says which validation it used
(name, n, date), or that its shares are uncorrected.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import duckdb
import numpy as np

from affectflow.queries import misclassification as mc

CORRECTED = ("negative_share", "cohort_summary", "cohort_comparison", "cohort_emotions",
             "paper_figure5")  # fmt: skip
# Reports whose shares are never corrected (per video, per month): their notes say so.
UNCORRECTED = ("video_summary", "video_timeline", "trend_by_month")
UNCORRECTED_NOTE = (
    "shares are uncorrected here (per-video and per-month shares are not corrected for the "
    "instrument's errors; see negative_share, cohort_summary, cohort_emotions)"
)
MAPS = {"paper": "valence", "excl_surprise": "valence_ambiguous"}
MAP_WORDS = {"paper": "paper's map", "excl_surprise": "surprise apart"}
DEFAULT_N_BOOT, DEFAULT_SEED = 1000, 42


@dataclasses.dataclass(frozen=True)
class Instrument:
    """A validation as the reports use it: per-cluster counts over the model's labels and
    the negative labels under each map (from the analysis's runs)."""

    name: str
    n: int
    validated_at: Any
    labels: tuple[str, ...]
    counts: np.ndarray
    negative: dict[str, np.ndarray]

    def youden_j(self, name: str) -> float:
        sensitivity, fpr = mc.binary_rates(self.counts.sum(axis=0), self.negative[name])
        return float(sensitivity - fpr)

    @property
    def unvalidated(self) -> list[str]:
        """Labels with no validation face (taken as read correctly by the matrix method)."""
        support = self.counts.sum(axis=(0, 2))
        return [label for label, n in zip(self.labels, support, strict=True) if n == 0]


def find_validation(
    con: duckdb.DuckDBPyConnection, analysis_id: str | None, name: str | None
) -> dict | None:
    """The validation a report of `analysis_id` uses: the named one, else its latest."""
    try:
        con.execute("select 1 from validations limit 0")
    except duckdb.CatalogException:  # a connection made without `runner.connect`
        return None
    rows = con.execute(
        "select * from validations where analysis_id = $analysis "
        "and ($name is null or name = $name) order by validated_at desc limit 1",
        {"analysis": analysis_id, "name": name},
    ).fetchall()
    if rows:
        columns = [d[0] for d in con.description]
        return dict(zip(columns, rows[0], strict=True))
    if name is not None:
        raise ValueError(
            f"validation: no validation {name!r} of analysis {analysis_id} "
            "(affectflow validate under the same settings)"
        )
    return None


def instrument(con: duckdb.DuckDBPyConnection, row: dict, analysis_id: str) -> Instrument:
    """The validation row's counts, with the valence maps the analysis's runs recorded."""
    labels = tuple(row["labels"])
    index = {label: i for i, label in enumerate(labels)}
    items = row["items"]
    truth = np.array([index[i["truth"]] for i in items], dtype=int)
    said = [mc.MISSED if i["predicted"] is None else index[i["predicted"]] for i in items]
    clusters = np.array([i["cluster"] for i in items], dtype=object)
    counts = mc.cluster_counts(truth, np.array(said, dtype=int), clusters, len(labels))
    maps = con.execute(
        "select label, valence, valence_ambiguous from label_valence where analysis_id = $a",
        {"a": analysis_id},
    ).fetchall()
    valence = {label: (paper, ambiguous) for label, paper, ambiguous in maps}
    negative = {
        name: np.array([valence.get(label, ("", ""))[k] == "negative" for label in labels])
        for k, name in enumerate(MAPS)
    }
    return Instrument(row["name"], row["n"], row["validated_at"], labels, counts, negative)


def cohort_video_counts(
    con: duckdb.DuckDBPyConnection, model_id: str, analysis_id: str, labels: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Per cohort, (videos, labels) counts of smoothed labels: what the raw shares count."""
    rows = con.execute(
        "select cohort, video_key, smoothed_label, count(*) from faces "
        "where model_id = $m and analysis_id = $a group by all order by all",
        {"m": model_id, "a": analysis_id},
    ).fetchall()
    index = {label: i for i, label in enumerate(labels)}
    videos: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for cohort, video, label, count in rows:
        counts = videos[cohort].setdefault(video, np.zeros(len(labels)))
        counts[index[label]] += count
    return {cohort: np.stack(list(v.values())) for cohort, v in videos.items()}


def describe(used: Instrument | None, n_boot: int = 0, seed: int = 0) -> list[str]:
    """The report's note: which validation corrected its shares, or that none did."""
    if used is None:
        return [
            "shares are uncorrected: no validation of this analysis "
            "(affectflow validate; see README 'How far to trust the numbers')"
        ]
    lines = [
        f"corrected shares (*_corrected) use validation {used.name!r}: n={used.n}, "
        f"{used.validated_at:%Y-%m-%d}; negative shares by Rogan-Gladen, per-emotion shares "
        f"by the matrix method; 95% CIs by a joint bootstrap of the cohort's videos and the "
        f"validation's subjects ({n_boot} replicates, seed {seed})"
    ]
    for name in MAPS:
        j = used.youden_j(name)
        if not j >= mc.MIN_YOUDEN_J:
            lines.append(
                f"negative share ({MAP_WORDS[name]}) not corrected: the validation's Youden's "
                f"J is {j:.2f}, below {mc.MIN_YOUDEN_J} (too small for a stable correction)"
            )
    if used.unvalidated:
        lines.append(
            "labels without validation faces, taken as read correctly by the matrix method: "
            + ", ".join(used.unvalidated)
        )
    return lines
