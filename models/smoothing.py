"""Smoothing: steady each face's class probabilities along its track.

A per-frame label flips with a few pixels of box (benchmarks/stability.py); a person's
expression does not change ten times a second. Each `faces` row keeps its own per-frame
`label`/`score`/`scores` and gets `smoothed_label`/`smoothed_score`/`smoothed_scores`:
the mean probabilities of its track's face-frames within +-`smooth_s`/2 seconds of video
time of it (a centred moving average; at 10 fps and 0.5 s, up to 5 face-frames). Faces
with no neighbour in the window (a short track, a gap) keep their own probabilities.

The unit writer (`transforms/units.py`) smooths the rows of each track of a video when
the video has finished: rows, never crops (about 0.5 KB each). Every row that comes in
goes out, so a face whose track was cut short by a failure keeps its row.
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


def smooth_track(rows: Iterable[Row], window_s: float) -> list[Row]:
    """The rows of one track, in time order, with their smoothed columns set."""
    ordered = sorted(rows, key=lambda row: (row["timestamp_ms"], row["frame_index"]))
    probabilities = np.array([list(row["scores"].values()) for row in ordered])
    times = [row["timestamp_ms"] for row in ordered]
    smoothed = moving_average(times, probabilities, window_s)
    return [with_smoothed(row, p) for row, p in zip(ordered, smoothed, strict=True)]
