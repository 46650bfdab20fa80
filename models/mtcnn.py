"""MTCNN face detection and the ONet face check, on grayscale frames.

The cascade of Zhang et al. 2016 as facenet-pytorch runs it (thresholds 0.6/0.7/0.7,
pyramid factor 0.709, NMS 0.5 and 0.7 per scale and image, "Min" NMS after ONet), with
two differences: crops that leave the frame are zero-padded (the original MTCNN's rule;
facenet-pytorch squeezes the part inside the frame instead), and NMS is OpenCV's
`cv2.dnn.NMSBoxes` (no torchvision). Frames are grayscale: the networks' first
convolutions are folded to one input channel (exactly what three equal channels give).

`MtcnnDetector` has `HaarFaceDetector`'s interface (`detect`, `detect_scaled`,
`detect_near`) plus `detect_batch` (frames of one size in one batch: on GPU runners)
and `check` (ONet's verdict and five landmarks for any box, whoever proposed it).
The cascade's three stages are `models/mtcnn_cascade.py`. On the CPU the networks run on
ONNX Runtime (`models/mtcnn_onnx.py`, same outputs to 1e-5); on a GPU, or with
`backend="torch"`, in torch, where `detect_batch` makes each batch's pyramid and crops on
the networks' device (`models/mtcnn_device.py`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

from affectflow.models.faces import NEAR_MAX_RATIO, near_region, scaled_box, search_scale
from affectflow.models.mtcnn_boxes import PNET_CELL, square
from affectflow.models.mtcnn_cascade import HostFrames, Output, onet_output, propose, refine
from affectflow.models.mtcnn_device import DeviceFrames
from affectflow.models.mtcnn_nets import MtcnnNets
from affectflow.models.mtcnn_onnx import Cascade, OnnxNet, onnx_cascade
from affectflow.models.mtcnn_weights import load_mtcnn_nets
from affectflow.schemas.records import FaceBox

THRESHOLDS = (0.6, 0.7, 0.7)


@dataclasses.dataclass(frozen=True)
class FaceCheck:
    """ONet's verdict on a box: P(face) and five landmarks (x, y) in source px.

    Landmarks: left eye, right eye, nose, left and right mouth corner (left in the image).
    """

    box: FaceBox
    score: float
    landmarks: tuple[tuple[float, float], ...]


class MtcnnDetector:
    """MTCNN on grayscale uint8 frames; boxes in source px, faces of `min_size` and up.

    Cheap to construct (weights load on first use or `load()`), so build one per worker.
    """

    window = PNET_CELL

    def __init__(
        self,
        weights_path: str,
        min_size: tuple[int, int] = (50, 50),
        device: str = "cpu",
        thresholds: tuple[float, float, float] = THRESHOLDS,
        backend: str = "auto",
        landmark_passes: int = 0,
    ) -> None:
        """`backend`: "onnx" (ONNX Runtime, CPU only), "torch", or "auto" (onnx on the CPU).
        `landmark_passes`: further ONet looks of `check` (see there)."""
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be auto, onnx or torch, got {backend!r}")
        self.weights_path = weights_path
        self.min_size = tuple(min_size)
        self.device = device
        self.thresholds = thresholds
        self.backend = backend
        if landmark_passes < 0:
            raise ValueError(f"landmark_passes must be >= 0, got {landmark_passes}")
        self.landmark_passes = landmark_passes
        self._nets: Cascade | None = None

    def load(self) -> Cascade:
        """The networks, loaded once, folded to grayscale input (ONNX sessions on the CPU).

        ONNX Runtime gets torch's intra-op thread count at the time of the first load.
        """
        if self._nets is None:
            nets = _fold_to_gray(load_mtcnn_nets(self.weights_path, self.device))
            onnx = self.backend == "onnx" or (self.backend == "auto" and self.device == "cpu")
            if onnx:
                threads = torch.get_num_threads()
                self._nets = onnx_cascade(nets, self.weights_path, threads)
            else:
                for net in (nets.rnet, nets.onet):  # faster pools, same outputs
                    net.to(memory_format=torch.channels_last)
                self._nets = Cascade(nets.pnet, nets.rnet, nets.onet)
        return self._nets

    def detect(self, gray: np.ndarray) -> list[FaceBox]:
        """Faces in a grayscale frame, sorted left to right."""
        return _sorted([c.box for c in self.detect_batch([gray])[0]])

    def detect_scaled(self, gray: np.ndarray, width: int | None) -> list[FaceBox]:
        """`detect` on the frame shrunk towards `width` px (never below PNet's 12 px cell)."""
        return self.search_batch([gray], width)[0]

    def search_batch(self, grays: list[np.ndarray], width: int | None) -> list[list[FaceBox]]:
        """`detect_scaled` of frames of one size, as one batch (GPU runners)."""
        scale = search_scale(grays[0].shape[1], width, self.min_size[0], self.window)
        if scale < 1.0:
            grays = [
                cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                for gray in grays
            ]
        found = self.detect_batch(grays, self.min_size[0] * scale)
        return [_sorted([scaled_box(c.box, 1 / scale) for c in faces]) for faces in found]

    def detect_near(self, gray: np.ndarray, box: FaceBox, grow: float = 0.5) -> FaceBox | None:
        """The face of 0.7 to 1.4 times `box`'s side near `box`, or None (follows a track)."""
        region = near_region(gray.shape, box, grow, self.min_size[0])
        if region is None:
            return None
        x1, y1, x2, y2, low = region
        side = max(box.w, box.h)
        found = [
            c.box
            for c in self.detect_batch([gray[y1:y2, x1:x2]], low)[0]
            if max(c.box.w, c.box.h) <= side * NEAR_MAX_RATIO * 1.1
        ]
        if not found:
            return None
        best = max(found, key=lambda face: face.w * face.h)
        return FaceBox(best.x + x1, best.y + y1, best.w, best.h)

    @torch.inference_mode()
    def detect_batch(
        self, grays: list[np.ndarray], min_face: float | None = None
    ) -> list[list[FaceCheck]]:
        """Every face of each frame (all of one size), with ONet's score and landmarks."""
        nets = self.load()
        min_face = float(min_face or self.min_size[0])
        frames = (
            HostFrames(grays)
            if isinstance(nets.pnet, OnnxNet)
            else DeviceFrames(grays, self.device)
        )
        boxes = propose(nets.pnet, frames, min_face, self.thresholds[0])
        boxes = refine(nets.rnet, frames, boxes, self.thresholds[1])
        output, keep = onet_output(nets.onet, frames, boxes)
        keep = keep[output[1][keep] >= self.thresholds[2]]
        per_frame: list[list[FaceCheck]] = [[] for _ in grays]
        for index, check in zip(boxes[keep, 0].astype(int), _checks(output, keep), strict=True):
            per_frame[index].append(check)
        return per_frame

    @torch.inference_mode()
    def check(self, gray: np.ndarray, boxes: list[FaceBox]) -> list[FaceCheck]:
        """ONet's verdict on each of `boxes` (any detector's) in one frame, same order.

        The score is ONet's look at the box itself; the landmarks come from
        `landmark_passes` further looks, each at the box the previous one regressed.
        ONet's landmarks move with the box it is shown (a few px of box, a few px of
        landmark, another crop), and its regressed box is closer to where ONet puts a face:
        after two more looks, boxes that differ by a few px give nearly the same landmarks
        (benchmarks/stability.py, README "Labels that hold still").
        """
        if not boxes:
            return []
        onet = self.load().onet
        rows = np.array([[0, b.x, b.y, b.x + b.w, b.y + b.h, 1.0] for b in boxes], np.float32)
        frame = HostFrames([gray])  # a few crops: OpenCV's, uploaded to a GPU's ONet
        output, keep = onet_output(onet, frame, square(rows), suppress=False)
        score = output[1]
        for _ in range(self.landmark_passes):
            output, _ = onet_output(onet, frame, square(output[0]), suppress=False)
        checks = _checks((output[0], score, output[2], output[3]), keep)
        return [dataclasses.replace(c, box=b) for c, b in zip(checks, boxes, strict=True)]

    def __getstate__(self) -> dict:
        """Pickle the settings only; the networks reload on the other side."""
        return {**self.__dict__, "_nets": None}


def _fold_to_gray(nets: MtcnnNets) -> MtcnnNets:
    """Sum each first convolution over its 3 input channels: exact for gray = R = G = B."""
    for net in (nets.pnet, nets.rnet, nets.onet):
        conv = net.conv1
        folded = torch.nn.Conv2d(1, conv.out_channels, conv.kernel_size).to(conv.weight.device)
        folded.weight.data = conv.weight.data.sum(dim=1, keepdim=True)
        folded.bias.data = conv.bias.data.clone()
        net.conv1 = folded
    return nets


def _checks(output: Output, index: np.ndarray) -> list[FaceCheck]:
    """FaceChecks of the ONet rows `index` (built only for the rows asked for)."""
    boxes, score, xs, ys = output
    return [
        FaceCheck(
            _face_box(boxes[k]),
            float(score[k]),
            tuple(zip(xs[k].tolist(), ys[k].tolist(), strict=True)),
        )
        for k in index
    ]


def _face_box(row: np.ndarray) -> FaceBox:
    x1, y1, x2, y2 = (round(float(v)) for v in row[1:5])
    return FaceBox(x1, y1, max(1, x2 - x1), max(1, y2 - y1))


def _sorted(boxes: list[FaceBox]) -> list[FaceBox]:
    return sorted(boxes, key=lambda box: (box.x, box.y))
