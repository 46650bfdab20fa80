"""The cascade's per-frame work on a torch device (GPU runners' `--detect-batch`).

`DeviceFrames` uploads a batch of frames once and keeps their integral images there (int32,
or float64 for frames whose sum could pass int32, as `mtcnn_boxes.integrals`), so
the pyramid's levels (facenet's `interpolate(mode="area")`) and RNet's and ONet's crops
are made where the networks run, and the host handles only boxes. The crops are
`mtcnn_boxes.box_crops`'s, value for value (a test): boxes of at least the crop's side
are area means off the integral images (`area_means`, the arithmetic of
`mtcnn_boxes._area_means`), rounded; a box smaller than the crop, or one
with a mean within `TIE_MARGIN` of x.5 (OpenCV could round it either way), is OpenCV's
crop made on the host and uploaded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from affectflow.models.mtcnn_boxes import TIE_MARGIN, box_crops


class DeviceFrames:
    """Grayscale uint8 frames of one size on `device`, with their integral images."""

    def __init__(self, grays: list[np.ndarray], device: str | torch.device) -> None:
        self.grays = grays
        self.shape = grays[0].shape
        height, width = self.shape
        pixels = torch.empty((len(grays), height, width), dtype=torch.uint8, device=device)
        for index, gray in enumerate(grays):  # bytes, one frame at a time: no host stack
            pixels[index].copy_(torch.from_numpy(gray))
        self.pixels = pixels[:, None].float()
        exact = torch.int32 if height * width * 255 < 2**31 else torch.float64  # `integrals`'
        sums = pixels.to(exact).cumsum(1, dtype=exact).cumsum(2, dtype=exact)
        self.sums = F.pad(sums, (1, 0, 1, 0))

    def level(self, size: tuple[int, int]) -> torch.Tensor:
        """The frames shrunk to `size` by area averaging, normalised: (n, 1, h, w)."""
        return (F.interpolate(self.pixels, size=size, mode="area") - 127.5) * 0.0078125

    def crops(self, rows: np.ndarray, size: int) -> torch.Tensor:
        """(n, 1, size, size) normalised crops of the rows' boxes, zero outside the frame."""
        boxes = np.trunc(rows[:, :5]).astype(np.int64)
        boxes[:, 1:3] -= 1
        big = (boxes[:, 3] - boxes[:, 1] >= size) & (boxes[:, 4] - boxes[:, 2] >= size)
        out = torch.empty((len(rows), size, size), dtype=torch.float32, device=self.sums.device)
        on_host = ~big
        if big.any():
            index = np.flatnonzero(big)
            means = area_means(self.sums, torch.from_numpy(boxes[index]).to(out.device), size)
            tie = ((means - means.floor() - 0.5).abs() < TIE_MARGIN).flatten(1).any(dim=1)
            out[torch.from_numpy(index).to(out.device)] = means.round().float()
            on_host[index[tie.cpu().numpy()]] = True
        if on_host.any():
            index = np.flatnonzero(on_host)
            host = torch.from_numpy(box_crops(self.grays, rows[index], size))
            out[torch.from_numpy(index).to(out.device)] = host.to(out.device)
        return ((out - 127.5) * 0.0078125)[:, None]


def area_means(sums: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Area means of boxes (frame, x1, y1, x2, y2; int64) over a size x size grid (float64),
    read off the frames' integral images `sums`: `mtcnn_boxes._area_means` in torch."""
    frame, x1, y1, x2, y2 = boxes.T
    _, rows, stride = sums.shape
    step = torch.arange(size + 1, dtype=torch.float64, device=sums.device) / size
    ex = (x1[:, None] + (x2 - x1)[:, None] * step).clamp(0, stride - 1)
    ey = (y1[:, None] + (y2 - y1)[:, None] * step).clamp(0, rows - 1)
    ix = ex.long().clamp(max=stride - 2)
    iy = ey.long().clamp(max=rows - 2)
    wx, wy = (ex - ix)[:, None, :], (ey - iy)[:, :, None]
    at = (frame * (rows * stride))[:, None, None] + (iy * stride)[:, :, None] + ix[:, None, :]
    s00, s01 = sums.take(at), sums.take(at + 1)
    at += stride
    s10, s11 = sums.take(at), sums.take(at + 1)
    top = s00 + (s01 - s00) * wx
    cum = top + (s10 + (s11 - s10) * wx - top) * wy  # (n, size + 1, size + 1) integrals
    cells = cum.diff(dim=1).diff(dim=2)
    return cells * (size * size / ((x2 - x1) * (y2 - y1)).double())[:, None, None]
