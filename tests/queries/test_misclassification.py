"""The correction against a known truth: simulated cohorts read through a known confusion
matrix, a validation set drawn from the same matrix (queries/misclassification.py)."""

from __future__ import annotations

import numpy as np
import pytest

from affectflow.queries.misclassification import (
    MISSED,
    cluster_counts,
    corrected_distribution,
    corrected_negative,
    draws,
    figures,
    percentile_interval,
    rogan_gladen,
    shares,
    unmix,
)

# Three labels: 0 negative, 1 neutral, 2 positive. The instrument reads truly neutral
# faces negative 40% of the time (as the issue measured), negatives 85% negative.
M = np.array([[0.85, 0.10, 0.05], [0.40, 0.50, 0.10], [0.10, 0.15, 0.75]])
NEGATIVE = np.array([True, False, False])
TRUE_SHARES = np.array([0.3, 0.5, 0.2])
N_BOOT = 200


def _cohort(rng: np.random.Generator, videos: int = 40, frames: int = 30) -> np.ndarray:
    """(videos, 3) observed label counts: each video's own true mix around TRUE_SHARES."""
    mixes = rng.dirichlet(TRUE_SHARES * 20, size=videos)
    truth = np.stack([rng.multinomial(frames, mix) for mix in mixes])
    return np.stack([sum(rng.multinomial(n, M[i]) for i, n in enumerate(row)) for row in truth])


def _validation(rng: np.random.Generator, subjects: int = 30, per: int = 10) -> np.ndarray:
    """A labelled sample of the analyst's own faces: the cohorts' mix, read through M.

    (Rogan-Gladen's FPR pools the non-negative classes, so it transports only to faces
    of the same mix: the reason to validate on one's own faces.)
    """
    truth = rng.choice(3, size=subjects * per, p=TRUE_SHARES)
    predicted = np.array([rng.choice(3, p=M[t]) for t in truth])
    return cluster_counts(truth, predicted, np.repeat(np.arange(subjects), per), 3)


def _one_seed(seed: int) -> tuple[bool, bool, bool]:
    """(raw CI covers the truth, corrected CI covers it, matrix-method CI covers it)."""
    rng = np.random.default_rng(seed)
    videos, counts = _cohort(rng), _validation(rng)
    video_draws = draws(len(videos), N_BOOT, rng)
    instrument_draws = draws(len(counts), N_BOOT, rng)
    raw_boot = shares(videos, video_draws)[:, NEGATIVE].sum(-1)
    raw_low, raw_high = percentile_interval(raw_boot)
    _, boot = corrected_negative(videos, counts, NEGATIVE, instrument_draws, video_draws)
    low, high = percentile_interval(boot)
    _, dist_boot = corrected_distribution(videos, counts, instrument_draws, video_draws)
    dist_low, dist_high = percentile_interval(dist_boot)
    truth = TRUE_SHARES[NEGATIVE].sum()
    return (
        bool(raw_low <= truth <= raw_high),
        bool(low <= truth <= high),
        bool(np.all((dist_low <= TRUE_SHARES) & (dist_high >= TRUE_SHARES))),
    )


def test_the_corrected_interval_covers_the_truth_and_the_raw_one_does_not() -> None:
    covered = np.array([_one_seed(seed) for seed in range(200)])
    raw, corrected, distribution = covered.mean(axis=0)
    assert corrected >= 0.90, corrected
    assert raw <= 0.05, raw
    assert distribution >= 0.80, distribution  # all three shares at once


def test_rogan_gladen_inverts_the_instrument_and_clips() -> None:
    se, fpr = 0.85, 0.40
    q = 0.3 * se + 0.7 * fpr
    assert rogan_gladen(np.array(q), se, fpr) == pytest.approx(0.3)
    assert rogan_gladen(np.array(0.1), se, fpr) == 0.0  # below the FPR: clipped
    assert rogan_gladen(np.array(0.99), se, fpr) == 1.0


def test_the_matrix_method_recovers_exact_shares_on_the_simplex() -> None:
    p = unmix(TRUE_SHARES @ M, M)
    assert p == pytest.approx(TRUE_SHARES, abs=1e-3)
    noisy = unmix(np.array([0.05, 0.05, 0.9]), M)  # no p explains it: the closest one
    assert noisy.min() >= 0 and noisy.sum() == pytest.approx(1.0)


def test_figures_of_a_small_set_by_hand() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 0, 1, 2, MISSED])
    counts = cluster_counts(truth, predicted, np.arange(6), 3)
    got = figures(counts.sum(axis=0), {"paper": NEGATIVE})
    assert got["n"] == 6 and got["detection_rate"] == pytest.approx(5 / 6)
    assert got["accuracy"] == pytest.approx(3 / 5)
    assert got["recall"] == pytest.approx([0.5, 0.5, 1.0])
    assert got["uar"] == pytest.approx(2 / 3)
    assert got["precision"] == pytest.approx([0.5, 0.5, 1.0])
    assert got["sensitivity_paper"] == pytest.approx(0.5)
    assert got["fpr_paper"] == pytest.approx(1 / 3)  # one of the 3 detected non-negatives
    assert got["youden_j_paper"] == pytest.approx(0.5 - 1 / 3)
