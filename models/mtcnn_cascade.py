"""The three stages of the MTCNN cascade on a batch of same-size grayscale frames.

`propose` (PNet over the image pyramid), `refine` (RNet on 24 x 24 crops) and
`onet_output` (ONet on 48 x 48 crops: boxes, scores and five landmarks), as facenet-pytorch
runs them (`models/mtcnn.py` says where they differ). Each network is an `OnnxNet` (CPU:
arrays in, arrays out) or a torch module on its device. The frames' pyramid levels and
crops come from `HostFrames` (arrays on the CPU, read off the frames' integral images:
`models/mtcnn_boxes.py`) or `DeviceFrames` (tensors made on the torch networks' device:
`models/mtcnn_device.py`); the boxes are arrays on the host either way.
"""

from __future__ import annotations

import numpy as np
import torch

from affectflow.models.mtcnn_boxes import (
    PNET_CELL,
    area_shrink,
    box_crops,
    integrals,
    nms,
    nms_apart,
    pnet_cells,
    regress,
    square,
)
from affectflow.models.mtcnn_device import DeviceFrames
from affectflow.models.mtcnn_onnx import OnnxNet

PYRAMID_FACTOR = 0.709
Output = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # boxes, score, xs, ys


class HostFrames:
    """Grayscale uint8 frames of one size on the CPU; their integral images `sums`
    (`mtcnn_boxes.integrals`) are made for the first `level` if not given."""

    def __init__(self, grays: list[np.ndarray], sums: np.ndarray | None = None) -> None:
        self.grays, self.sums, self.shape = grays, sums, grays[0].shape

    def level(self, size: tuple[int, int]) -> np.ndarray:
        """The frames shrunk to `size` by area averaging (facenet's `interpolate(mode=
        "area")`, same values), normalised: (n, 1, h, w)."""
        if self.sums is None:
            self.sums = integrals(self.grays)
        return _normalised(area_shrink(self.sums, size))[:, None]

    def crops(self, rows: np.ndarray, size: int) -> np.ndarray:
        """(n, 1, size, size) normalised crops of the rows' boxes, zero outside the frame."""
        return _normalised(box_crops(self.grays, rows, size, self.sums))[:, None]


Frames = HostFrames | DeviceFrames


def _normalised(pixels: np.ndarray) -> np.ndarray:
    """Pixels scaled to MTCNN's input range, in place: float32, no copies."""
    pixels -= 127.5
    pixels *= 0.0078125
    return pixels


def propose(pnet: object, frames: Frames, min_face: float, threshold: float) -> np.ndarray:
    """PNet over the pyramid -> rows (frame, x1, y1, x2, y2, score), squared."""
    height, width = frames.shape
    scale, side = PNET_CELL / min_face, min(height, width) * PNET_CELL / min_face
    found = [np.zeros((0, 10), np.float32)]
    while side >= PNET_CELL:
        size = (int(height * scale + 1), int(width * scale + 1))
        reg, prob = _run(pnet, frames.level(size))
        found.append(pnet_cells(reg, prob[:, -1], scale, threshold))
        scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
    rows = np.concatenate(found)  # NMS per level, then across levels
    rows = rows[nms_apart(rows, np.repeat(np.arange(len(found)), list(map(len, found))), 0.5)]
    rows = rows[nms(rows, 0.7)]
    w, h = rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]
    rows[:, 1:5] += rows[:, 6:10] * np.stack([w, h, w, h], axis=1)
    return square(rows[:, :6])


def _run(net: object, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """A network's outputs as arrays (an `OnnxNet`, or a torch module on its device)."""
    if isinstance(net, OnnxNet):
        return net(x)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    x = x.to(next(net.parameters()).device)
    return [out.cpu().numpy() for out in net(x)]


def refine(rnet: object, frames: Frames, rows: np.ndarray, threshold: float) -> np.ndarray:
    """RNet on 24 x 24 crops: keep, NMS, regress, square."""
    if not len(rows):
        return rows
    reg, prob = _run(rnet, frames.crops(rows, 24))
    score = prob[:, 1]
    keep = score > threshold
    rows, reg = rows[keep], reg[keep]
    rows[:, 5] = score[keep]
    pick = nms(rows, 0.7)
    return square(regress(rows[pick], reg[pick]))


def onet_output(
    onet: object, frames: Frames, rows: np.ndarray, suppress: bool = True
) -> tuple[Output, np.ndarray]:
    """ONet on 48 x 48 crops -> (regressed boxes, scores, landmark xs and ys), and the
    indices NMS keeps (all of them with `suppress=False`)."""
    if not len(rows):
        empty = np.zeros((0, 6), np.float32)
        return (empty, empty[:, 0], empty[:, :5], empty[:, :5]), np.zeros(0, dtype=int)
    reg, points, prob = _run(onet, frames.crops(rows, 48))
    score = prob[:, 1]
    w, h = rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1
    xs = points[:, :5] * w[:, None] + rows[:, 1:2] - 1
    ys = points[:, 5:] * h[:, None] + rows[:, 2:3] - 1
    boxes = regress(rows.copy(), reg)
    boxes[:, 5] = score
    keep = nms(boxes, 0.7, by_min=True) if suppress else np.arange(len(rows))
    return (boxes, score, xs, ys), keep
