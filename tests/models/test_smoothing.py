"""Smoothing along a track: the centred moving average and the label's hysteresis on known
sequences."""

from __future__ import annotations

import random

import numpy as np
import pytest

from affectflow.models.smoothing import hysteresis_labels, moving_average, smooth_track
from affectflow.schemas.records import FaceBox, FaceCrop, RunInfo
from affectflow.schemas.rows import face_row

LABELS = ("angry", "happy", "neutral")
RUN = RunInfo("20250101T000000Z-s", "m", "s" * 64, "a1")


def row(video: str, track: int, ms: int, probabilities: list[float]) -> dict:
    face = FaceCrop(video, "c", ms // 100, ms, track, FaceBox(0, 0, 8, 8), crop=None)
    return face_row(face, probabilities, LABELS, RUN)


def test_the_window_is_centred_and_reaches_half_of_it_each_way() -> None:
    times = [0, 100, 200, 300, 400, 1000]
    values = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [9.0]])
    out = moving_average(times, values, window_s=0.5)  # +-250 ms
    np.testing.assert_allclose(out[:, 0], [2.0, 2.5, 3.0, 3.5, 4.0, 9.0])
    np.testing.assert_allclose(moving_average(times, values, 0.3)[:, 0], [1.5, 2, 3, 4, 4.5, 9])
    np.testing.assert_allclose(moving_average(times, values, 0.0), values)  # only itself
    np.testing.assert_allclose(moving_average(times, values, 100.0)[:, 0], [values.mean()] * 6)


def test_uneven_spacing_counts_time_not_positions() -> None:
    times = [0, 240, 260, 1000, 1250, 1251]
    values = np.eye(6)
    out = moving_average(times, values, window_s=0.5)
    assert np.count_nonzero(out[0]) == 2 and out[0][1] == pytest.approx(0.5)  # 0 and 240
    assert np.count_nonzero(out[3]) == 2  # 1000 and 1250, not 1251 (251 ms away)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)  # each row a mean: still a distribution


def test_a_one_frame_flip_in_a_steady_track_is_smoothed_away() -> None:
    steady, flip = [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]
    rows = [row("v", 0, ms, flip if ms == 300 else steady) for ms in range(0, 700, 100)]
    random.Random(1).shuffle(rows)
    out = smooth_track(rows, 0.5)
    assert [r["timestamp_ms"] for r in out] == list(range(0, 700, 100))  # time order
    assert [r["label"] for r in out].count("angry") == 1  # the raw flip is kept
    assert {r["smoothed_label"] for r in out} == {"happy"}
    middle = out[3]
    assert middle["smoothed_scores"]["angry"] == pytest.approx((0.6 + 4 * 0.2) / 5)
    assert middle["smoothed_score"] == middle["smoothed_scores"]["happy"]
    assert middle["scores"] == dict(zip(LABELS, flip, strict=True))


def test_two_tied_classes_no_longer_trade_the_label() -> None:
    """angry and happy 0.02-0.06 apart, the lead changing sides: the argmax flips four
    times, the track keeps its first label under a 0.1 margin."""
    lead = [0.02, -0.03, 0.04, -0.02, 0.06, 0.03]  # angry - happy
    probs = np.array([[0.45 + d / 2, 0.45 - d / 2, 0.1] for d in lead])
    assert list(hysteresis_labels(probs, 0.0)) == [0, 1, 0, 1, 0, 0]
    assert list(hysteresis_labels(probs, 0.1)) == [0] * 6
    assert list(hysteresis_labels(probs[1:], 0.1)) == [1] * 5  # the first face decides


def test_a_real_change_that_opens_the_margin_comes_through_on_that_face() -> None:
    """happy rises, angry falls: the argmax turns at face 2 (lead 0.04), the hysteresis
    once happy leads by 0.1 (face 3: 0.12), not before; exactly at the margin counts."""
    happy = [0.1, 0.3, 0.5, 0.54, 0.58, 0.7]
    probs = np.array([[0.96 - h, h, 0.04] for h in happy])
    assert list(hysteresis_labels(probs, 0.0)) == [0, 0, 1, 1, 1, 1]
    assert list(hysteresis_labels(probs, 0.1)) == [0, 0, 0, 1, 1, 1]
    exactly = probs[3, 1] - probs[3, 0]  # about 0.12
    assert list(hysteresis_labels(probs, exactly)) == [0, 0, 0, 1, 1, 1]
    assert list(hysteresis_labels(probs, 0.15)) == [0, 0, 0, 0, 1, 1]
    assert list(hysteresis_labels(probs, 2.0)) == [0] * 6  # never: the first label stays


def test_the_hysteresis_follows_the_leader_not_the_second() -> None:
    """A third class that overtakes both takes the label from the held one directly."""
    probs = np.array([[0.5, 0.3, 0.2], [0.42, 0.46, 0.12], [0.2, 0.25, 0.55]])
    assert list(hysteresis_labels(probs, 0.1)) == [0, 0, 2]


@pytest.mark.parametrize("seed", range(5))
def test_margin_zero_is_the_argmax_everywhere(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(7), size=50)
    probs[10] = probs[9]  # an exact tie between faces changes nothing either
    np.testing.assert_array_equal(hysteresis_labels(probs, 0.0), probs.argmax(axis=1))
    rows = [row("v", 0, 100 * i, list(p[:3] / p[:3].sum())) for i, p in enumerate(probs)]
    for out in smooth_track(rows, 0.5, margin=0.0):
        scores = out["smoothed_scores"]
        assert out["smoothed_label"] == max(scores, key=scores.__getitem__)
        assert out["smoothed_score"] == max(scores.values())


@pytest.mark.parametrize("margin", [0.0, 0.1, 0.5, 1.0])
def test_a_one_frame_track_is_exactly_as_the_classifier_gave_it(margin: float) -> None:
    """A still image (`validate`) is a one-face track: every smoothed column is the
    frame's own, bit for bit, whatever the window and the margin."""
    for probabilities in ([0.2, 0.7, 0.1], [0.34, 0.33, 0.33], [0.5, 0.5, 0.0]):
        alone = row("img", 0, 0, probabilities)
        (out,) = smooth_track([alone], 0.5, margin)
        assert out == alone  # face_row's smoothed columns repeat the frame's
        assert (out["smoothed_label"], out["smoothed_score"]) == (out["label"], out["score"])


def test_the_smoothed_score_is_the_held_label_s_probability() -> None:
    lead = [0.0, 0.06, 0.06, 0.06]  # happy ahead of angry after the first face
    rows = [row("v", 0, 1000 * i, [0.45 - d / 2, 0.45 + d / 2, 0.1]) for i, d in enumerate(lead)]
    out = smooth_track(rows, 0.5, margin=0.1)  # 1 s apart: no neighbours in the window
    assert [r["smoothed_label"] for r in out] == ["angry"] * 4  # tie at face 0: the first
    assert [r["label"] for r in out] == ["angry", "happy", "happy", "happy"]
    assert [r["smoothed_score"] for r in out] == [pytest.approx(0.45), *[pytest.approx(0.42)] * 3]
