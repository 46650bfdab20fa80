"""A crop's quality measures (`media.face_crops`): the weakest of score, size, sharpness."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectflow.media.face_crops import face_quality, sharpness

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


def gray(name: str) -> np.ndarray:
    return cv2.imread(str(FACES / name), cv2.IMREAD_GRAYSCALE)


def test_quality_is_the_weakest_of_score_size_and_sharpness() -> None:
    assert face_quality(0.99, 128, 500.0, 64) == pytest.approx(0.99)
    assert face_quality(0.99, 32, 500.0, 64) == pytest.approx(0.5)
    assert face_quality(0.99, 128, 20.0, 64) == pytest.approx(0.2)
    flat = np.full((64, 64), 90, np.uint8)
    assert sharpness(flat) == 0.0
    assert sharpness(cv2.resize(gray("single_face.jpg"), (64, 64))) > 100
