"""A confirmed face of a sampled frame -> the model's crop (`FaceCrop`), with its quality.

The crop is aligned on the face's five landmarks when it has them (`--align on`), else a
square around its box with a margin; sharpness is measured before any CLAHE. Debug
crops (`--debug-crops DIR`) are written here too, and only when a user asks: face crops
are personal data. A crop's quality (`face_quality`: detector confidence, size,
sharpness) is measured here, on the crop the job keeps.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from affectflow.media.frames import SampledFrame
from affectflow.models.faces import aligned_crop, crop_face, enhance_contrast
from affectflow.models.mtcnn import FaceCheck
from affectflow.schemas.records import FaceCrop, VideoRequest
from affectflow.schemas.settings import DetectSettings


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a uint8 crop: low for blurred or upscaled faces."""
    return float(cv2.Laplacian(crop, cv2.CV_64F).var())


# Sharpness (variance of the Laplacian of the 64 px crop) from which a face counts as
# sharp: in-focus faces of tests/data score 500-3800, blurred or upscaled ones 15-70.
SHARPNESS_REF = 100.0


def face_quality(score: float, face_px: int, sharp: float, size: int) -> float:
    """The weakest of three scores on [0, 1]: detector confidence, size, sharpness.

    `score` the ONet check's P(face); `face_px / size` (1 when the crop covers at least
    as many frame px as the model's input: no upscaling); `sharp / SHARPNESS_REF`.
    """
    return float(min(score, min(1.0, face_px / size), min(1.0, sharp / SHARPNESS_REF)))


def face_crop(
    request: VideoRequest,
    frame: SampledFrame,
    check: FaceCheck,
    track_id: int,
    settings: DetectSettings,
) -> FaceCrop:
    """The model's crop of one confirmed face of `frame`, with its quality."""
    if settings.align and check.landmarks:
        crop, face_px = aligned_crop(frame.gray, np.array(check.landmarks), settings.crop_size)
    else:
        margin = settings.crop_margin_px
        crop = crop_face(frame.gray, check.box, settings.crop_size, margin)
        face_px = max(check.box.w, check.box.h) + 2 * margin
    sharp = sharpness(crop)
    return FaceCrop(
        video_key=request.video_key,
        cohort=request.cohort,
        frame_index=frame.frame_index,
        timestamp_ms=frame.timestamp_ms,
        track_id=track_id,
        box=check.box,
        crop=enhance_contrast(crop) if settings.clahe else crop,
        face_px=face_px,
        face_score=check.score,
        sharpness=sharp,
        quality=face_quality(check.score, face_px, sharp, settings.crop_size),
    )


def write_debug_crop(root: str, face: FaceCrop) -> str:
    """Save a face crop as `<root>/<video_key>/<frame>-t<track>.png` (debugging only).

    Face crops are personal data: they are written only when a user asks with
    `--debug-crops DIR`. `video_key` is path-safe by construction (see ingest).
    """
    folder = os.path.join(root, face.video_key)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{face.frame_index:06d}-t{face.track_id}.png")
    if not cv2.imwrite(path, face.crop):
        raise OSError(f"could not write debug crop {path}")
    return path
