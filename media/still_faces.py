"""The face stage on still images: analyze's detector, face check, alignment and crop.

A labelled photo becomes the model's crop exactly as a face of a sampled frame does
(`FaceFinder.find` on the image, then `face_crop` with the job's `DetectSettings`), so a
model learns and is measured on the crops the job makes. Images whose shorter side is
under twice the smallest face (`min_face`; FER2013's 48 px crops) are first enlarged to
that side and padded by half their side (edge pixels repeated): the detector needs a
face of `min_face` px and some context around it. The largest confirmed face is kept;
an image without one is taken as a crop already (`centre_square`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from apache_beam.utils.shared import Shared

from affectflow.media.face_crops import face_crop
from affectflow.media.frames import SampledFrame
from affectflow.media.tracking import FaceDetector, FaceFinder, IoUTracker
from affectflow.models.datasets import centre_square
from affectflow.models.faces import HaarFaceDetector
from affectflow.models.installed import weights_to_load
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights
from affectflow.schemas.records import VideoRequest
from affectflow.schemas.settings import DetectSettings

# How a still's crop was made: on its face's landmarks, around its box, or the image whole.
HOW = ("aligned", "box", "whole")
_STILL = VideoRequest(video_key="still", url="", cohort="", row_number=0)


def face_detectors(
    settings: DetectSettings, shared: Shared | None = None
) -> tuple[FaceDetector, MtcnnDetector]:
    """(detector, face check) of the settings, loaded: MTCNN checks every detector's boxes.

    The weights: `detector_weights_path` (an `installed:` reference: this installation's),
    else the cached ones. With `shared`, one MTCNN per process (Beam `Shared`): stateless
    once loaded, the threads of all the DoFn copies may use it."""
    min_size = (settings.min_face, settings.min_face)
    path = settings.detector_weights_path
    weights = weights_to_load(path) if path else str(fetch_mtcnn_weights())

    def load() -> MtcnnDetector:
        checker = MtcnnDetector(weights, min_size, settings.device)
        checker.load()
        return checker

    if shared is None:
        checker = load()
    else:
        checker = shared.acquire(load, tag=f"mtcnn:{weights}:{min_size}:{settings.device}")
    detector: FaceDetector = checker
    if settings.detector == "haar":
        detector = HaarFaceDetector(settings.scale_factor, settings.min_neighbors, min_size)
        detector.load()
    return detector, checker


@dataclasses.dataclass
class StillFaces:
    """Crops of still images with the job's face stage; `counts` of each `HOW`."""

    settings: DetectSettings

    def __post_init__(self) -> None:
        self.detector, self.checker = face_detectors(self.settings)
        self.counts = dict.fromkeys(HOW, 0)

    def crop(self, gray: np.ndarray) -> tuple[np.ndarray, str]:
        """The (crop_size, crop_size) uint8 crop of a grayscale image, and how it was made."""
        settings = self.settings
        frame = SampledFrame(0, 0, with_context(gray, settings.min_face))
        finder = FaceFinder(
            self.detector,
            IoUTracker(),
            settings.detect_width,
            checker=self.checker,
            min_score=settings.min_face_score,
        )
        checks = finder.find(frame.gray)
        if checks:
            check = max(checks, key=lambda c: c.box.w * c.box.h)
            face = face_crop(_STILL, frame, check, 0, settings)
            how = "aligned" if settings.align and check.landmarks else "box"
            crop = face.crop
        else:
            how = "whole"
            crop = centre_square(gray, settings.crop_size, settings.clahe)
        self.counts[how] += 1
        return crop, how

    def crop_file(self, path: str) -> tuple[np.ndarray, str]:
        """`crop` of an image file; ValueError when it cannot be read."""
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise ValueError(f"cannot read image {path}")
        return self.crop(gray)


def with_context(gray: np.ndarray, min_face: int) -> np.ndarray:
    """A small image enlarged to a shorter side of 2 x `min_face` and padded by half its side.

    Images with a shorter side of at least 2 x `min_face` are returned as they are.
    """
    height, width = gray.shape[:2]
    side = 2 * min_face
    if min(height, width) >= side:
        return gray
    scale = side / min(height, width)
    big = cv2.resize(
        gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR
    )
    pad = side // 2
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
