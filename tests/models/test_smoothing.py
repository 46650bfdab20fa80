"""Smoothing along a track: the centred moving average on known sequences."""

from __future__ import annotations

import random

import numpy as np
import pytest
from apache_beam.testing.util import BeamAssertException

from affectflow.models.smoothing import moving_average, smooth_track
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


def check_smoothed(rows: list[dict]) -> None:
    by_key = {(r["video_key"], r["track_id"], r["timestamp_ms"]): r for r in rows}
    if len(by_key) != len(rows):
        raise BeamAssertException("a row came out twice")
    # track (v1, 0): one face per 100 ms; (v1, 1) and (v2, 0): another person, another video
    expected = {
        ("v1", 0, 200): (0.2 + 0.2 + 0.8) / 3,  # 100, 200, 300 ms (angry at 300)
        ("v1", 0, 300): (0.2 + 0.8 + 0.2) / 3,
        ("v1", 1, 300): 0.9,  # its own track: alone
        ("v2", 0, 300): 0.1,
    }
    for key, angry in expected.items():
        if abs(by_key[key]["smoothed_scores"]["angry"] - angry) > 1e-6:
            raise BeamAssertException(f"{key}: {by_key[key]['smoothed_scores']} != {angry}")
