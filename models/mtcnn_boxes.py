"""MTCNN's arithmetic outside the networks: the pyramid's area shrink of whole frames and
the networks' crops of boxes, both read off integral images, PNet's cells as boxes, and
on rows (frame, x1, y1, x2, y2, score, ...) regression, squaring and per-frame
non-maximum suppression (OpenCV's IoU NMS, MTCNN's "Min" NMS)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

# OpenCV's area resize of uint8 sums in float32: its means are off the exact ones by up to
# 3.5e-5 grey levels (every mismatch in 18,000 crops of 144-720p frames lay that close to
# x.5), so it rounds the means farther than this from x.5 as they are.
TIE_MARGIN = 1e-4
PNET_CELL = 12  # PNet's window: the smallest face it sees at a pyramid level
# CPU microseconds of the two exact ways to a crop (one core, 2026-12-04): OpenCV's resize,
# per box and per px of the box; `_area_means`, per call and per px of the crop. They
# only choose the faster way: the crops are the same either way.
CV2_US = (5.0, 0.0017)
INTEGRAL_US = (40.0, 0.01)


def integrals(grays: list[np.ndarray]) -> np.ndarray:
    """(n, H + 1, W + 1) exact integral images of uint8 frames of one size: int32, or
    float64 for frames whose sum could pass int32 (over 8.4 million pixels)."""
    depth = cv2.CV_32S if grays[0].size * 255 < 2**31 else cv2.CV_64F
    if len(grays) == 1:
        return cv2.integral(grays[0], sdepth=depth)[None]  # a view: no frame-sized copy
    return np.stack([cv2.integral(gray, sdepth=depth) for gray in grays])


def area_shrink(sums: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w) float32 means of the frames over torch's adaptive-pooling windows.

    The same values as `F.interpolate(frames, size, mode="area")` (each output pixel the
    mean of input rows floor(i H / h) to ceil((i + 1) H / h), columns alike), to float32
    rounding, read off the integral images `sums` in O(h w) instead of O(H W) per level.
    """
    y0, y1, x0, x1, area = _windows(sums.shape[1] - 1, sums.shape[2] - 1, *size)
    rows = np.take(sums, y1, axis=1) - np.take(sums, y0, axis=1)  # the windows' row sums
    total = np.take(rows, x1, axis=2) - np.take(rows, x0, axis=2)
    return (total / area).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _windows(height: int, width: int, h: int, w: int) -> tuple[np.ndarray, ...]:
    """A level's windows (first and last + 1 row, first and last + 1 column) and their
    areas; the same for every frame of a video, so kept (read-only)."""
    (y0, y1), (x0, x1) = _bounds(height, h), _bounds(width, w)
    windows = (y0, y1, x0, x1, (y1 - y0)[:, None] * (x1 - x0)[None, :])
    for array in windows:
        array.setflags(write=False)
    return windows


def _bounds(length: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(out)
    return (index * length) // out, -((-(index + 1) * length) // out)


def box_crops(
    grays: list[np.ndarray], rows: np.ndarray, size: int, sums: np.ndarray | None = None
) -> np.ndarray:
    """(n, size, size) float32 crops of the rows' boxes (whole px: facenet's 1-based
    `pad`), zero outside the frame, resized as `cv2.resize(INTER_AREA)` resizes them.

    With the frames' integral images `sums`, boxes of at least `size` px each way are
    averaged off them (`_area_means`: O(size^2) a box instead of O(box area)) where that
    is the faster way (`_off_integrals`), and rounded: OpenCV's values, since its float32
    sums are off by far less than `TIE_MARGIN`, except where a mean lies within
    `TIE_MARGIN` of x.5 and OpenCV could round either way: that crop, the upscaled ones,
    the small ones, and all of them without `sums`, go through `cv2.resize`.
    """
    boxes = np.trunc(rows[:, :5]).astype(np.intp)
    boxes[:, 1:3] -= 1
    out = np.empty((len(rows), size, size), np.float32)
    done = _off_integrals(boxes, size) if sums is not None else np.zeros(len(rows), bool)
    if done.any():
        means = _area_means(sums, boxes[done], size)
        near_half = np.abs(means - np.floor(means) - 0.5) < TIE_MARGIN
        out[done] = np.rint(means)
        done[np.flatnonzero(done)[near_half.any(axis=(1, 2))]] = False
    for k in np.flatnonzero(~done):
        out[k] = _resized(grays[boxes[k, 0]], boxes[k, 1:], size)
    return out


def _off_integrals(boxes: np.ndarray, size: int) -> np.ndarray:
    """Which boxes (frame, x1, y1, x2, y2) to average off integral images: those of at
    least `size` px each way that OpenCV would take longer over (its time grows with the
    box's area, `_area_means`'s with the crop's), if together they repay the set-up."""
    width, height = boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2]
    saved = CV2_US[0] + CV2_US[1] * width * height - INTEGRAL_US[1] * size * size
    use = (width >= size) & (height >= size) & (saved > 0)
    if saved[use].sum() <= INTEGRAL_US[0]:
        use[:] = False
    return use


def _resized(gray: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """`box` (x1, y1, x2, y2) of `gray`, zero-padded outside it, resized by OpenCV."""
    x1, y1, x2, y2 = (int(v) for v in box)
    height, width = gray.shape
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if (cx1, cy1, cx2, cy2) == (x1, y1, x2, y2) and x2 > x1 and y2 > y1:
        patch = gray[y1:y2, x1:x2]  # inside the frame: no copy
    else:
        patch = np.zeros((max(y2 - y1, 1), max(x2 - x1, 1)), np.uint8)
        if cx2 > cx1 and cy2 > cy1:
            patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1] = gray[cy1:cy2, cx1:cx2]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def _area_means(sums: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Area means of boxes (frame, x1, y1, x2, y2) over a size x size grid (float64).

    The integral of a frame that is constant on each pixel (and zero outside the frame)
    is exactly the bilinear interpolation of its integral image, clamped to the frame:
    each output pixel is its cell's integral over its area.
    """
    frame, x1, y1, x2, y2 = boxes.T
    _, rows, stride = sums.shape
    step = np.arange(size + 1) / size  # the grid's edges, clamped: (pixel, fraction)
    ex = np.clip(x1[:, None] + (x2 - x1)[:, None] * step, 0, stride - 1)
    ey = np.clip(y1[:, None] + (y2 - y1)[:, None] * step, 0, rows - 1)
    ix = np.minimum(ex.astype(np.intp), stride - 2)
    iy = np.minimum(ey.astype(np.intp), rows - 2)
    wx, wy = (ex - ix)[:, None, :], (ey - iy)[:, :, None]
    at = (frame * (rows * stride))[:, None, None] + (iy * stride)[:, :, None] + ix[:, None, :]
    flat = sums.reshape(-1)
    s00, s01 = flat.take(at), flat.take(at + 1)
    at += stride
    s10, s11 = flat.take(at), flat.take(at + 1)
    top = s00 + (s01 - s00) * wx
    cum = top + (s10 + (s11 - s10) * wx - top) * wy  # (n, size + 1, size + 1) integrals
    cells = np.diff(np.diff(cum, axis=1), axis=2)
    cells *= (size * size / ((x2 - x1) * (y2 - y1)))[:, None, None]
    return cells


def pnet_cells(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """PNet cells above `threshold` -> rows (frame, x1, y1, x2, y2, score, 4 offsets)."""
    frame, ys, xs = np.nonzero(prob >= threshold)
    if not len(frame):
        return np.zeros((0, 10), np.float32)
    corner = np.stack([xs, ys], axis=1).astype(np.float32)
    top_left = np.floor((2 * corner + 1) / scale)
    bottom_right = np.floor((2 * corner + PNET_CELL) / scale)
    offsets = reg[frame, :, ys, xs]
    columns = [frame[:, None], top_left, bottom_right, prob[frame, ys, xs][:, None], offsets]
    return np.concatenate(columns, axis=1).astype(np.float32)


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
    picker = nms_min if by_min else nms_iou
    if len(rows) <= 1:
        return np.arange(len(rows))
    if rows[:, 0].min() == rows[:, 0].max():  # one frame (the CPU's batches)
        return np.sort(picker(rows[:, 1:5], rows[:, 5], threshold))
    kept = []
    for frame in np.unique(rows[:, 0]):
        index = np.flatnonzero(rows[:, 0] == frame)
        kept.extend(index[picker(rows[index, 1:5], rows[index, 5], threshold)])
    return np.array(sorted(kept), dtype=int)


def nms_apart(rows: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """`nms` (IoU) within each frame and group (e.g. pyramid level) of rows of whole-px
    boxes (PNet's cells), in one call: each (frame, group)'s boxes are moved right, by
    whole px, past the others', which leaves every IoU within it as it was."""
    if len(rows) <= 1:
        return np.arange(len(rows))
    boxes = rows[:, 1:5].astype(np.float64)
    key = rows[:, 0].astype(np.int64) * (int(groups.max()) + 1) + groups
    boxes[:, [0, 2]] += (key * (boxes[:, 2].max() - boxes[:, 0].min() + 1))[:, None]
    return np.sort(nms_iou(boxes, rows[:, 5], threshold))


def nms_iou(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """OpenCV's greedy IoU NMS of (x1, y1, x2, y2) boxes."""
    x1, y1, x2, y2 = boxes.T
    xywh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).astype(np.float64)
    return np.asarray(cv2.dnn.NMSBoxes(xywh, scores, 0.0, threshold), dtype=int).reshape(-1)


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
