"""Smoothing: steady each face's class probabilities, and its label, along its track.

A per-frame label flips with a few pixels of box (benchmarks/stability.py); a person's
expression does not change ten times a second. Each `faces` row keeps its own per-frame
`label`/`score`/`scores` and gets `smoothed_label`/`smoothed_score`/`smoothed_scores`:

- `smoothed_scores`: the mean probabilities of its track's face-frames within
  +-`smooth_s`/2 seconds of video time of it (a centred moving average; at 10 fps and
  0.5 s, up to 5 face-frames). Faces with no neighbour in the window (a short track, a
  gap, a still image) keep their own probabilities.
- `smoothed_label`: a hysteresis (Schmitt trigger) along the track, in time order, over
  `smoothed_scores`: the track's first face takes their argmax; each later face keeps the
  label of the face before it unless the argmax's smoothed probability leads that
  label's by at least `margin`, and then takes the argmax. Two classes that stay within
  the margin of each other (a tie the crop's noise decides) no longer trade the label
  face to face; a change that opens a lead of the margin still comes through. Between
  two runs whose crops differ (other detection settings) it does not flip less on
  average: a tie is decided once, where the track enters it (often its first face;
  README "Tie-aware labels").
  `margin` 0 gives the argmax on every face; a one-face track is its argmax whatever the
  margin.
- `smoothed_score`: the smoothed probability of `smoothed_label` (not always the
  largest of `smoothed_scores` when the margin is above 0).

The unit writer (`transforms/unit_buffer.py`) smooths the rows of each track of a video
when the video has finished: rows, never crops (about 0.5 KB each). Every row that comes
in goes out, so a face whose track was cut short by a failure keeps its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from affectflow.schemas.rows import Row, with_smoothed


def moving_average(timestamps_ms: Sequence[int], values: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average: row i is the mean of the rows j with |t_j - t_i| <= window/2.

    `timestamps_ms` must be sorted ascending; `values` is (n, k). Linear in n.
    """
    times = np.asarray(timestamps_ms, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    half_ms = window_s * 1000.0 / 2
    low = np.searchsorted(times, times - half_ms, side="left")
    high = np.searchsorted(times, times + half_ms, side="right")
    sums = np.vstack((np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)))
    return (sums[high] - sums[low]) / (high - low)[:, None]


def hysteresis_labels(probabilities: np.ndarray, margin: float) -> np.ndarray:
    """Class indices of one track's faces in time order (`probabilities` is (n, k)): the
    first face's argmax; then the previous face's class unless the argmax leads it by at
    least `margin` (0: the argmax on every face)."""
    best = np.asarray(probabilities).argmax(axis=1)
    labels = best.copy()
    for i in range(1, len(labels)):
        current = labels[i - 1]
        lead = probabilities[i, best[i]] - probabilities[i, current]
        labels[i] = best[i] if lead >= margin else current
    return labels


def smooth_track(rows: Iterable[Row], window_s: float, margin: float = 0.0) -> list[Row]:
    """The rows of one track, in time order, with their smoothed columns set."""
    ordered = sorted(rows, key=lambda row: (row["timestamp_ms"], row["frame_index"]))
    if not ordered:
        return []
    probabilities = np.array([list(row["scores"].values()) for row in ordered])
    times = [row["timestamp_ms"] for row in ordered]
    smoothed = moving_average(times, probabilities, window_s)
    names = list(ordered[0]["scores"])
    labels = [names[i] for i in hysteresis_labels(smoothed, margin)]
    return [
        with_smoothed(row, p, label)
        for row, p, label in zip(ordered, smoothed, labels, strict=True)
    ]
