"""MTCNN's box arithmetic on rows (frame, x1, y1, x2, y2, score, ...): regression,
squaring and per-frame non-maximum suppression (OpenCV's IoU NMS, MTCNN's "Min" NMS)."""

from __future__ import annotations

import cv2
import numpy as np


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
