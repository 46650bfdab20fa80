"""The instrument's misclassification, measured on a validation set and corrected (numpy).

A validation set is labelled items: the true label, the label the pipeline gave (or
`MISSED` when it found no face) and a cluster (the subject, else the item itself). Every
figure is computed from per-cluster counts, `counts[c, true, predicted]` with a last
column for missed faces, so a bootstrap over clusters is one matrix product: replicate
b's counts are `weights[b] @ counts`, `weights[b]` how often each cluster was drawn.

Corrections: Rogan-Gladen for a binary share (p = (q - FPR) / (Se - FPR), clipped to
[0, 1]); the matrix method for a distribution: the true shares p on the simplex whose
expected predictions p @ M best explain the observed shares q (EM, the maximum-likelihood
fit: M[i, j] = P(predicted j | true i), a row per true class).
"""

from __future__ import annotations

import warnings

import numpy as np

MISSED = -1
# Below this Youden's J (Se - FPR) the Rogan-Gladen denominator is too small for a
# stable correction: the corrected value is left empty with a note.
MIN_YOUDEN_J = 0.2
EM_ITERATIONS = 500
EM_ZERO = 1e-9


def cluster_counts(
    truth: np.ndarray, predicted: np.ndarray, clusters: np.ndarray, k: int
) -> np.ndarray:
    """counts[c, i, j]: items of cluster c, true class i, predicted j (j = k: missed)."""
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    counts = np.zeros((inverse.max(initial=-1) + 1, k, k + 1))
    column = np.where(np.asarray(predicted) < 0, k, predicted)
    np.add.at(counts, (inverse, np.asarray(truth), column), 1)
    return counts


def draws(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) counts: how often each of n units is drawn in each replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def binary_rates(counts: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, false-positive rate) of 'predicted negative' among detected faces.

    `counts` (..., k, k + 1); `negative` a boolean mask over the k labels (a valence map).
    """
    detected = counts[..., :-1]
    said = detected[..., negative].sum(axis=-1)  # (..., k): predicted negative, per truth
    totals = detected.sum(axis=-1)
    sensitivity = _ratio(said[..., negative].sum(-1), totals[..., negative].sum(-1))
    fpr = _ratio(said[..., ~negative].sum(-1), totals[..., ~negative].sum(-1))
    return sensitivity, fpr


def figures(counts: np.ndarray, maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The validation's figures from pooled counts (..., k, k + 1), any leading shape.

    Classification figures count detected faces only; `detection_rate` is apart. UAR and
    UF1 average over the classes present in the truth; precision of a class never
    predicted is NaN. Per map: sensitivity, false-positive rate and Youden's J.
    """
    detected = counts[..., :-1]
    n = counts.sum(axis=(-1, -2))
    tp = np.diagonal(detected, axis1=-2, axis2=-1)
    support, predicted = detected.sum(axis=-1), detected.sum(axis=-2)
    recall, precision = _ratio(tp, support), _ratio(tp, predicted)
    f1 = _ratio(2 * tp, support + predicted)
    present = support > 0
    out = {
        "n": n,
        "detection_rate": _ratio(detected.sum(axis=(-1, -2)), n),
        "accuracy": _ratio(tp.sum(-1), detected.sum(axis=(-1, -2))),
        "uar": _ratio(np.where(present, recall, 0).sum(-1), present.sum(-1)),
        "uf1": _ratio(np.where(present, f1, 0).sum(-1), present.sum(-1)),
        "recall": recall,
        "precision": precision,
    }
    for name, negative in maps.items():
        sensitivity, fpr = binary_rates(counts, negative)
        out |= {
            f"sensitivity_{name}": sensitivity,
            f"fpr_{name}": fpr,
            f"youden_j_{name}": sensitivity - fpr,
        }
    return out


def percentile_interval(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5% and 97.5% percentiles over `axis`, NaN replicates left out."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
        low, high = np.nanpercentile(values, [2.5, 97.5], axis=axis)
    return low, high


def rogan_gladen(q: np.ndarray, sensitivity: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """The true share behind an observed share q: (q - FPR) / (Se - FPR), clipped to [0, 1]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip((q - fpr) / (sensitivity - fpr), 0.0, 1.0)


def transition(counts: np.ndarray) -> np.ndarray:
    """M[..., i, j] = P(predicted j | true i, detected); a class absent from the
    validation keeps an identity row (taken as read correctly: say so)."""
    detected = counts[..., :-1]
    rows = detected.sum(axis=-1, keepdims=True)
    identity = np.broadcast_to(np.eye(detected.shape[-1]), detected.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, detected / np.where(rows > 0, rows, 1), identity)


def unmix(q: np.ndarray, m: np.ndarray, iterations: int = EM_ITERATIONS) -> np.ndarray:
    """The true shares p (on the simplex) behind observed shares q, given M (EM).

    `q` (..., k), `m` (..., k, k) broadcastable; EM for the mixture q = p @ M keeps p
    non-negative and summing to 1 at every step.
    """
    q = np.asarray(q, dtype=float)
    p = np.full(np.broadcast_shapes(q.shape, m.shape[:-1]), 1.0 / q.shape[-1])
    for _ in range(iterations):
        expected = np.einsum("...i,...ij->...j", p, m)
        ratio = np.divide(q, expected, out=np.zeros_like(expected), where=expected > 0)
        p = p * np.einsum("...ij,...j->...i", m, ratio)
        p = p / p.sum(axis=-1, keepdims=True)
    return np.where(p < EM_ZERO, 0.0, p)  # EM only approaches a zero share: call it zero


def shares(video_counts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Pooled label shares of a cohort's videos (n_videos, k); per replicate with weights."""
    pooled = video_counts.sum(axis=0) if weights is None else weights @ video_counts
    return pooled / pooled.sum(axis=-1, keepdims=True)


def replicate(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pooled counts per bootstrap replicate: (n_boot, k, k + 1) from per-cluster counts."""
    return np.tensordot(weights, counts, axes=1)


def corrected_negative(
    video_counts: np.ndarray,
    counts: np.ndarray,
    negative: np.ndarray,
    instrument_draws: np.ndarray,
    video_draws: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Rogan-Gladen negative share of a cohort and its joint bootstrap replicates.

    `video_counts` (n_videos, k) label counts per video; `counts` the validation's
    per-cluster counts; each replicate resamples both the cohort's videos
    (`video_draws`) and the validation's clusters (`instrument_draws`) and recomputes the
    instrument's sensitivity and false-positive rate and the corrected share.
    """
    q = shares(video_counts)[negative].sum()
    point = rogan_gladen(q, *binary_rates(counts.sum(axis=0), negative))
    q_boot = shares(video_counts, video_draws)[:, negative].sum(-1)
    rates = binary_rates(replicate(counts, instrument_draws), negative)
    return float(point), rogan_gladen(q_boot, *rates)


def corrected_distribution(
    video_counts: np.ndarray,
    counts: np.ndarray,
    instrument_draws: np.ndarray,
    video_draws: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix-method label shares of a cohort (k,) and their joint bootstrap (n_boot, k)."""
    point = unmix(shares(video_counts), transition(counts.sum(axis=0)))
    boot = unmix(shares(video_counts, video_draws), transition(replicate(counts, instrument_draws)))
    return point, boot
