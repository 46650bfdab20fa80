"""A model's figures on a labelled split, with 95% CIs from a bootstrap over subjects.

Besides `evaluation.metrics` (accuracy, UAR, per-class recall): the share of truly
neutral faces read as a negative emotion, and the negative share's sensitivity,
false-positive rate and Youden's J (sensitivity - FPR) under a valence map: a face
"reads negative" when its predicted label's valence is negative. Under the paper's map
surprise is negative; under the ambiguous map (`class_sets.with_ambiguous`) it is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affectflow.models.class_sets import with_ambiguous
from affectflow.models.evaluation import metrics

BOOTSTRAP = 1000


def negative_figures(
    truth: np.ndarray, pred: np.ndarray, labels: Sequence[str], valence: dict[str, str]
) -> dict[str, float]:
    """Neutral read negative, sensitivity, FPR and J of the negative share (NaN if undefined)."""
    negative = np.array([valence[label] == "negative" for label in labels])
    neutral = np.array([valence[label] == "neutral" for label in labels])
    true_neg, pred_neg = negative[truth], negative[pred]

    def share(mask: np.ndarray) -> float:
        return float(pred_neg[mask].mean()) if mask.any() else float("nan")

    sensitivity, fpr = share(true_neg), share(~true_neg)
    return {
        "neutral_read_negative": share(neutral[truth]),
        "sensitivity": sensitivity,
        "false_positive_rate": fpr,
        "youden_j": sensitivity - fpr,
    }


def point_figures(
    truth: np.ndarray, pred: np.ndarray, labels: Sequence[str], valence: dict[str, str]
) -> dict[str, float]:
    """Accuracy, UAR, each class's recall, and the negative figures under both maps."""
    m = metrics(truth, pred, labels)
    present = set(truth.tolist())
    out = {"accuracy": m["accuracy"], "uar": m["uar"]}
    out |= {
        f"recall_{label}": m["per_class"][label]["recall"]
        for i, label in enumerate(labels)
        if i in present
    }
    for name, mapping in (("paper", valence), ("ambiguous", with_ambiguous(valence))):
        figures = negative_figures(truth, pred, labels, mapping)
        out |= {f"{key}_{name}": value for key, value in figures.items()}
    return out


def figures_with_ci(
    truth: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[str],
    valence: dict[str, str],
    subjects: Sequence[str],
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """{figure: {value, low, high}}: the 2.5/97.5 percentiles over resampled subjects."""
    point = point_figures(truth, pred, labels, valence)
    names, index = np.unique(np.asarray(subjects), return_inverse=True)
    members = [np.flatnonzero(index == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {key: [] for key in point}
    for _ in range(BOOTSTRAP):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(names), len(names))])
        sample = point_figures(truth[rows], pred[rows], labels, valence)
        for key in point:
            draws[key].append(sample.get(key, float("nan")))
    return {
        key: {
            "value": round(value, 4),
            "low": round(float(np.nanpercentile(draws[key], 2.5)), 4),
            "high": round(float(np.nanpercentile(draws[key], 97.5)), 4),
        }
        for key, value in point.items()
    }
