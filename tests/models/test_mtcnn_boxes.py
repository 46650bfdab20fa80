"""The networks' crops read off integral images: OpenCV's area resize to 1 grey level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectflow.media.frames import iter_sampled_frames
from affectflow.models import mtcnn
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_boxes import area_shrink, box_crops, integrals
from affectflow.schemas.records import FaceBox

CLIP = Path(__file__).resolve().parents[1] / "data" / "videos" / "hamilton_short_clip.mp4"
# OpenCV sums in float32: a mean near x.5 may round either way (README "Detection")
MAX_DIFFERING_PIXELS = 5e-3  # measured: 0.07-0.2% of the pixels


@pytest.fixture(scope="module")
def grays() -> list[np.ndarray]:
    return [frame.gray for frame in iter_sampled_frames(str(CLIP), fps=1)][:4]


def random_rows(shape: tuple[int, int], frames: int, size: int, count: int) -> np.ndarray:
    """Rows (frame, x1, y1, x2, y2, score) of boxes inside, across and outside the frame,
    of whole and fractional px, square and not, whole multiples of `size` and not."""
    rng = np.random.default_rng(size)
    height, width = shape
    side = rng.uniform(size, 3 * size, count)
    side[::7] = np.round(side[::7] / size) * size  # whole multiples: OpenCV's fast path
    x1 = rng.uniform(-2 * size, width + size, count)
    y1 = rng.uniform(-2 * size, height + size, count)
    stretch = rng.uniform(0.8, 1.25, count)
    frame = rng.integers(0, frames, count)
    rows = [frame, x1, y1, x1 + side, y1 + side * stretch, np.ones(count)]
    return np.stack(rows, axis=1).astype(np.float32)


def corners(box: FaceBox) -> tuple[int, int, int, int]:
    return box.x, box.y, box.x + box.w, box.y + box.h


@pytest.mark.parametrize("size", [24, 48])
def test_crops_from_integral_images_are_opencvs_area_resize(grays, size: int) -> None:
    rows = random_rows(grays[0].shape, len(grays), size, 600)
    expected = box_crops(grays, rows, size)  # OpenCV's resize of each box
    got = box_crops(grays, rows, size, integrals(grays))
    assert got.dtype == np.float32 and got.shape == (600, size, size)
    assert np.abs(got - expected).max() <= 1
    assert np.mean(got != expected) < MAX_DIFFERING_PIXELS
    height, width = grays[0].shape  # boxes are 1-based: x1 = width + 1 is the first outside
    outside = (rows[:, 1] >= width + 1) | (rows[:, 2] >= height + 1)
    assert outside.any() and not got[outside].any()  # zero outside the frame


def test_boxes_smaller_than_the_crop_are_resized_by_opencv(grays) -> None:
    rows = np.array([[0, 100, 50, 120, 80, 1], [1, 10.5, 10.2, 47.9, 60, 1]], np.float32)
    sums = integrals(grays)
    assert np.array_equal(box_crops(grays, rows, 48, sums), box_crops(grays, rows, 48))


def test_the_search_finds_what_it_found_with_opencvs_crops(mtcnn_weights: str, monkeypatch) -> None:
    """Same faces on every sampled frame of the crowd clip (10 fps), boxes within 1 px,
    scores within 1e-3."""
    grays = [frame.gray for frame in iter_sampled_frames(str(CLIP))]
    detector = MtcnnDetector(mtcnn_weights, (40, 40))
    fast = [detector.detect_batch([gray])[0] for gray in grays]
    with monkeypatch.context() as patch:
        patch.setattr(mtcnn, "box_crops", lambda g, r, s, sums=None: box_crops(g, r, s))
        slow = [detector.detect_batch([gray])[0] for gray in grays]
    assert sum(len(faces) for faces in slow) >= 100
    for a, b in zip(fast, slow, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert np.abs(np.subtract(corners(x.box), corners(y.box))).max() <= 1
            assert x.score == pytest.approx(y.score, abs=1e-3)


def test_frames_whose_sum_passes_int32_get_float_integrals() -> None:
    gray = np.full((2200, 4000), 255, np.uint8)  # 8.8 million px: a sum over 2**31
    sums = integrals([gray])
    assert sums.dtype == np.float64 and sums[0, -1, -1] == 255 * gray.size
    assert np.allclose(area_shrink(sums, (22, 40)), 255)
