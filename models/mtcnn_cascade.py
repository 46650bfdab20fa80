"""The three stages of the MTCNN cascade on a batch of same-size grayscale frames.

`propose` (PNet over the image pyramid), `refine` (RNet on 24 x 24 crops) and
`onet_output` (ONet on 48 x 48 crops: boxes, scores and five landmarks), as facenet-pytorch
runs them (`models/mtcnn.py` says where they differ). Each network is an `OnnxNet` (CPU:
arrays in, arrays out) or a torch module on its device (a GPU, `backend="torch"`); the
pyramid levels and the crops are arrays on the CPU, read off the frames' integral images
(`models/mtcnn_boxes.py`), and tensors on the network's device otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from affectflow.models.mtcnn_boxes import (
    PNET_CELL,
    area_shrink,
    box_crops,
    nms,
    nms_apart,
    pnet_cells,
    regress,
    square,
)
from affectflow.models.mtcnn_onnx import OnnxNet

PYRAMID_FACTOR = 0.709
T = TypeVar("T", torch.Tensor, np.ndarray)
Output = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # boxes, score, xs, ys


def _normalise(pixels: T) -> T:
    return (pixels - 127.5) * 0.0078125


def propose(
    pnet: object,
    grays: list[np.ndarray],
    sums: np.ndarray,
    min_face: float,
    threshold: float,
    device: str,
) -> np.ndarray:
    """PNet over the pyramid -> rows (frame, x1, y1, x2, y2, score), squared."""
    level = _pyramid(grays, sums, device)
    height, width = grays[0].shape
    scale, side = PNET_CELL / min_face, min(height, width) * PNET_CELL / min_face
    found = [np.zeros((0, 10), np.float32)]
    while side >= PNET_CELL:
        size = (int(height * scale + 1), int(width * scale + 1))
        reg, prob = _run(pnet, level(size))
        found.append(pnet_cells(reg, prob[:, -1], scale, threshold))
        scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
    rows = np.concatenate(found)  # NMS per level, then across levels
    rows = rows[nms_apart(rows, np.repeat(np.arange(len(found)), list(map(len, found))), 0.5)]
    rows = rows[nms(rows, 0.7)]
    w, h = rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]
    rows[:, 1:5] += rows[:, 6:10] * np.stack([w, h, w, h], axis=1)
    return square(rows[:, :6])


def _pyramid(
    grays: list[np.ndarray], sums: np.ndarray, device: str
) -> Callable[[tuple[int, int]], np.ndarray | torch.Tensor]:
    """size -> the frames shrunk to it by area averaging (facenet's `interpolate(mode="area")`),
    normalised, (n, 1, h, w): on the CPU an array, from the integral images `sums` (same
    values, a fraction of the time on large frames); on a GPU a tensor there."""
    if device != "cpu":
        frames = torch.as_tensor(np.stack(grays), device=device).float()[:, None]
        return lambda size: _normalise(F.interpolate(frames, size=size, mode="area"))
    return lambda size: _normalised(area_shrink(sums, size))[:, None]


def _normalised(pixels: np.ndarray) -> np.ndarray:
    """`_normalise` of a float32 array, in place: the same values, no copies."""
    pixels -= 127.5
    pixels *= 0.0078125
    return pixels


def _run(net: object, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """A network's outputs as arrays (an `OnnxNet`, or a torch module on its device)."""
    if isinstance(net, OnnxNet):
        return net(x)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x).to(next(net.parameters()).device)
    return [out.cpu().numpy() for out in net(x)]


def refine(
    rnet: object,
    grays: list[np.ndarray],
    sums: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    device: str,
) -> np.ndarray:
    """RNet on 24 x 24 crops: keep, NMS, regress, square."""
    if not len(rows):
        return rows
    reg, prob = _run(rnet, _crops(grays, rows, 24, device, sums))
    score = prob[:, 1]
    keep = score > threshold
    rows, reg = rows[keep], reg[keep]
    rows[:, 5] = score[keep]
    pick = nms(rows, 0.7)
    return square(regress(rows[pick], reg[pick]))


def onet_output(
    onet: object,
    grays: list[np.ndarray],
    rows: np.ndarray,
    device: str,
    suppress: bool = True,
    sums: np.ndarray | None = None,
) -> tuple[Output, np.ndarray]:
    """ONet on 48 x 48 crops -> (regressed boxes, scores, landmark xs and ys), and the
    indices NMS keeps (all of them with `suppress=False`); `sums`: the frames' integral
    images, if at hand (`box_crops`)."""
    if not len(rows):
        empty = np.zeros((0, 6), np.float32)
        return (empty, empty[:, 0], empty[:, :5], empty[:, :5]), np.zeros(0, dtype=int)
    reg, points, prob = _run(onet, _crops(grays, rows, 48, device, sums))
    score = prob[:, 1]
    w, h = rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1
    xs = points[:, :5] * w[:, None] + rows[:, 1:2] - 1
    ys = points[:, 5:] * h[:, None] + rows[:, 2:3] - 1
    boxes = regress(rows.copy(), reg)
    boxes[:, 5] = score
    keep = nms(boxes, 0.7, by_min=True) if suppress else np.arange(len(rows))
    return (boxes, score, xs, ys), keep


def _crops(
    grays: list[np.ndarray],
    rows: np.ndarray,
    size: int,
    device: str,
    sums: np.ndarray | None = None,
) -> np.ndarray | torch.Tensor:
    """(n, 1, size, size) normalised crops of the rows' boxes, zero outside the frame: an
    array on the CPU, a tensor on a GPU."""
    crops = box_crops(grays, rows, size, sums)[:, None]
    if device != "cpu":
        return _normalise(torch.from_numpy(crops).to(device))
    return _normalised(crops)
