"""MTCNN's arithmetic outside the networks: the pyramid's area shrink of whole frames, and
on rows (frame, x1, y1, x2, y2, score, ...) regression, squaring and per-frame
non-maximum suppression (OpenCV's IoU NMS, MTCNN's "Min" NMS)."""

from __future__ import annotations

import cv2
import numpy as np


def integrals(grays: list[np.ndarray]) -> np.ndarray:
    """(n, H + 1, W + 1) exact int32 integral images of uint8 frames of one size."""
    if len(grays) == 1:
        return cv2.integral(grays[0])[None]  # a view: no copy of the frame-sized array
    return np.stack([cv2.integral(gray) for gray in grays])


def area_shrink(sums: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w) float32 means of the frames over torch's adaptive-pooling windows.

    The same values as `F.interpolate(frames, size, mode="area")` (each output pixel the
    mean of input rows floor(i H / h) to ceil((i + 1) H / h), columns alike), to float32
    rounding, read off the integral images `sums` in O(h w) instead of O(H W) per level.
    """
    height, width = sums.shape[1] - 1, sums.shape[2] - 1
    (y0, y1), (x0, x1) = _windows(height, size[0]), _windows(width, size[1])
    top, bottom = sums[:, y0], sums[:, y1]
    total = bottom[:, :, x1] - bottom[:, :, x0] - top[:, :, x1] + top[:, :, x0]
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return (total / area).astype(np.float32)


def _windows(length: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(out)
    return (index * length) // out, -((-(index + 1) * length) // out)


def regress(rows: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Move each box by its regression offsets (fractions of its side), in place."""
    w, h = rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return rows


def square(rows: np.ndarray) -> np.ndarray:
    """Grow each box's shorter side about its centre (facenet's `rerec`)."""
    rows = rows.copy()
    w, h = rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]
    side = np.maximum(w, h)
    rows[:, 1] += w * 0.5 - side * 0.5
    rows[:, 2] += h * 0.5 - side * 0.5
    rows[:, 3], rows[:, 4] = rows[:, 1] + side, rows[:, 2] + side
    return rows


def nms(rows: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by per-frame NMS (IoU, or intersection over the smaller box)."""
    kept = []
    for frame in np.unique(rows[:, 0]):
        index = np.flatnonzero(rows[:, 0] == frame)
        picker = nms_min if by_min else nms_iou
        kept.extend(index[picker(rows[index, 1:5], rows[index, 5], threshold)])
    return np.array(sorted(kept), dtype=int)


def nms_iou(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    return np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, threshold), dtype=int)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS where overlap = intersection / the smaller area (MTCNN's "Min")."""
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order, kept = np.argsort(scores)[::-1], []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        lo = np.maximum(boxes[best, :2], boxes[rest, :2])
        hi = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.maximum(0.0, hi - lo + 1), axis=1)
        order = rest[inter / np.minimum(area[best], area[rest]) <= threshold]
    return np.array(kept, dtype=int)
