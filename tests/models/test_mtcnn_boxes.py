"""The networks' crops read off integral images, on the CPU and on a torch device (here the
CPU's): OpenCV's area resize, value for value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.media.frames import iter_sampled_frames
from affectflow.models import mtcnn_boxes, mtcnn_cascade
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_boxes import area_shrink, box_crops, integrals, nms, nms_apart
from affectflow.models.mtcnn_device import DeviceFrames

CLIP = Path(__file__).resolve().parents[1] / "data" / "videos" / "hamilton_short_clip.mp4"


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


@pytest.mark.parametrize("size", [24, 48])
@pytest.mark.parametrize("way", ["faster", "integrals"])
def test_crops_from_integral_images_are_opencvs_area_resize(
    grays, size: int, way: str, monkeypatch
) -> None:
    """Whichever way each box takes (the faster, or integral images wherever they can)."""
    if way == "integrals":
        monkeypatch.setattr(mtcnn_boxes, "CV2_US", (1e9, 0.0))
    rows = random_rows(grays[0].shape, len(grays), size, 600)
    expected = box_crops(grays, rows, size)  # OpenCV's resize of each box
    got = box_crops(grays, rows, size, integrals(grays))
    assert got.dtype == np.float32 and got.shape == (600, size, size)
    assert np.array_equal(got, expected)
    height, width = grays[0].shape  # boxes are 1-based: x1 = width + 1 is the first outside
    outside = (rows[:, 1] >= width + 1) | (rows[:, 2] >= height + 1)
    assert outside.any() and not got[outside].any()  # zero outside the frame


def test_means_at_a_half_are_rounded_by_opencv() -> None:
    """Means of exactly x.5 (a checkerboard of 10s and 11s in 48 px boxes, 1-based x1 and
    y1): OpenCV's own rounding (here half up), not numpy's (half to even)."""
    checkerboard = (10 + np.indices((100, 100)).sum(axis=0) % 2).astype(np.uint8)
    rows = np.array([[0, 1, 1, 48, 48, 1], [0, 11, 21, 58, 68, 1]], np.float32)
    sums = integrals([checkerboard])
    expected = box_crops([checkerboard], rows, 24)
    assert np.all(expected == 11)  # every mean is 10.5; np.rint would give 10
    assert np.array_equal(box_crops([checkerboard], rows, 24, sums), expected)


def test_boxes_smaller_than_the_crop_are_resized_by_opencv(grays) -> None:
    rows = np.array([[0, 100, 50, 120, 80, 1], [1, 10.5, 10.2, 47.9, 60, 1]], np.float32)
    sums = integrals(grays)
    assert np.array_equal(box_crops(grays, rows, 48, sums), box_crops(grays, rows, 48))


@pytest.mark.parametrize("size", [24, 48])
def test_device_crops_are_opencvs_area_resize(grays, size: int) -> None:
    """Boxes inside, across and outside the frames, larger and smaller than the crop."""
    rows = random_rows(grays[0].shape, len(grays), size, 600)
    rows[::5, 3:5] = rows[::5, 1:3] + size / 2  # a fifth smaller than the crop
    expected = (box_crops(grays, rows, size) - 127.5) * 0.0078125
    got = DeviceFrames(grays, "cpu").crops(rows, size)
    assert tuple(got.shape) == (600, 1, size, size)
    assert np.array_equal(got[:, 0].numpy(), expected)


def test_device_crops_leave_means_at_a_half_to_opencv() -> None:
    checkerboard = (10 + np.indices((100, 100)).sum(axis=0) % 2).astype(np.uint8)
    rows = np.array([[0, 1, 1, 48, 48, 1], [0, 11, 21, 58, 68, 1]], np.float32)
    got = DeviceFrames([checkerboard], "cpu").crops(rows, 24)[:, 0].numpy()
    assert np.all(got == (11 - 127.5) * 0.0078125)  # OpenCV's 11, not round-half-even's 10


def test_device_integrals_of_frames_whose_sum_passes_int32_are_float() -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(200, 256, (2200, 4000), dtype=np.uint8)  # a sum over 2**31
    frames = DeviceFrames([gray], "cpu")
    assert frames.sums.dtype == torch.float64 and frames.sums[0, -1, -1] == int(gray.sum())
    rows = random_rows(gray.shape, 1, 48, 50)
    expected = (box_crops([gray], rows, 48) - 127.5) * 0.0078125
    assert np.array_equal(frames.crops(rows, 48)[:, 0].numpy(), expected)


def test_device_levels_are_the_hosts(grays) -> None:
    for size in [(87, 154), (20, 36), (300, 500)]:
        expected = (area_shrink(integrals(grays), size) - 127.5) * 0.0078125
        got = DeviceFrames(grays, "cpu").level(size)[:, 0].numpy()
        assert np.allclose(got, expected, atol=1e-6)


def test_the_search_finds_what_it_found_with_opencvs_crops(mtcnn_weights: str, monkeypatch) -> None:
    """The same faces, boxes and scores on every sampled frame of the crowd clip (10 fps)."""
    grays = [frame.gray for frame in iter_sampled_frames(str(CLIP))]
    detector = MtcnnDetector(mtcnn_weights, (40, 40))
    fast = [detector.detect_batch([gray])[0] for gray in grays]
    with monkeypatch.context() as patch:
        patch.setattr(mtcnn_cascade, "box_crops", lambda g, r, s, sums=None: box_crops(g, r, s))
        slow = [detector.detect_batch([gray])[0] for gray in grays]
    assert sum(len(faces) for faces in slow) >= 100
    assert fast == slow


def test_frames_whose_sum_passes_int32_get_float_integrals() -> None:
    gray = np.full((2200, 4000), 255, np.uint8)  # 8.8 million px: a sum over 2**31
    sums = integrals([gray])
    assert sums.dtype == np.float64 and sums[0, -1, -1] == 255 * gray.size
    assert np.allclose(area_shrink(sums, (22, 40)), 255)


def test_nms_of_levels_moved_apart_is_nms_of_each_level() -> None:
    """Whole-px boxes of 3 frames x 4 levels, overlapping, with tied scores."""
    rng = np.random.default_rng(5)
    count = 400
    x1, y1 = rng.integers(0, 60, count), rng.integers(0, 40, count)
    side = rng.integers(12, 40, count)
    frame, level = rng.integers(0, 3, count), rng.integers(0, 4, count)
    score = rng.choice([0.6, 0.7, 0.8, 0.9], count)
    rows = np.stack([frame, x1, y1, x1 + side, y1 + side, score], axis=1).astype(np.float32)
    expected = []
    for group in np.unique(frame * 4 + level):
        index = np.flatnonzero(frame * 4 + level == group)
        expected.extend(index[nms(rows[index], 0.5)])
    kept = nms_apart(rows, level, 0.5)
    assert 50 < len(kept) < count
    assert kept.tolist() == sorted(expected)
