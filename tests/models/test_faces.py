"""Haar detection on real images and clips; fer's crop geometry on synthetic images."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectflow.media.frames import iter_sampled_frames
from affectflow.media.tracking import IoUTracker, iou
from affectflow.models.faces import HaarFaceDetector, crop_face, pad_value, square_box
from affectflow.schemas.records import FaceBox

DATA = Path(__file__).resolve().parents[1] / "data"
VIDEOS = DATA / "videos"


def fer_crop(gray: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """An independent oracle: fer's own steps (pad the whole image by 40 px, then crop)."""
    pad = 40
    value = cv2.mean(gray[-2:])[0]
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=value)
    x, y, w, h = box
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, x2, y1, y2 = x - 10 + pad, x + w + 10 + pad, y - 10 + pad, y + h + 10 + pad
    return cv2.resize(padded[max(y1, 0) : y2, max(x1, 0) : x2], (size, size))


def video_faces(name: str, fps: float, **settings: object) -> tuple[int, list[int], int]:
    """(frames sampled, faces per frame, distinct tracks) over a clip."""
    detector, tracker = HaarFaceDetector(**settings), IoUTracker()
    per_frame, track_sizes = [], Counter()
    for frame in iter_sampled_frames(str(VIDEOS / name), fps=fps):
        boxes = detector.detect(frame.gray)
        track_sizes.update(tracker.update(boxes))
        per_frame.append(len(boxes))
    return len(per_frame), per_frame, track_sizes


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    """A 100x120 image where every pixel is distinct enough to locate crops."""
    ys, xs = np.mgrid[0:100, 0:120]
    image = (xs * 2 + ys) % 256
    image[-2:] = 77  # the bottom two rows set fer's pad value
    return image.astype(np.uint8)


def test_detector_finds_faces_left_to_right() -> None:
    gray = cv2.imread(str(DATA / "faces" / "multi_face.jpg"), cv2.IMREAD_GRAYSCALE)
    boxes = HaarFaceDetector().detect(gray)
    assert len(boxes) >= 3
    assert [b.x for b in boxes] == sorted(b.x for b in boxes)
    assert all(isinstance(b.x, int) and b.w >= 50 and b.h >= 50 for b in boxes)
    single = cv2.imread(str(DATA / "faces" / "single_face.jpg"), cv2.IMREAD_GRAYSCALE)
    assert len(HaarFaceDetector().detect(single)) == 1


def test_detector_pickles_without_its_cascade() -> None:
    detector = HaarFaceDetector(min_neighbors=7)
    detector.load()
    copy = pickle.loads(pickle.dumps(detector))
    assert copy.min_neighbors == 7 and copy._cascade is None
    gray = cv2.imread(str(DATA / "faces" / "single_face.jpg"), cv2.IMREAD_GRAYSCALE)
    assert copy.detect(gray) == detector.detect(gray)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "fps"), [("pyfeat_single_face.mp4", 10.0), ("pyfeat_WolfgangLanger_Pexels.mp4", 5.0)]
)
def test_face_clips_have_faces_on_most_frames_and_one_main_track(name: str, fps: float) -> None:
    frames, per_frame, tracks = video_faces(name, fps)
    assert sum(1 for n in per_frame if n) >= 0.9 * frames
    (main_id, main_size), *_ = tracks.most_common()
    assert main_id == 0 and main_size >= 0.9 * sum(per_frame)


@pytest.mark.slow
def test_no_face_clip() -> None:
    # fer's settings find one false positive (a letter of a title card) on 1 of 40 frames
    frames, per_frame, _ = video_faces("pyfeat_no_face.mp4", 10.0)
    assert frames == 40 and sum(per_frame) <= 2
    _, strict, _ = video_faces("pyfeat_no_face.mp4", 10.0, min_neighbors=7)
    assert sum(strict) == 0


@pytest.mark.slow
def test_hamilton_clip_has_several_people() -> None:
    _, per_frame, tracks = video_faces("hamilton_short_clip.mp4", 10.0)
    assert max(per_frame) >= 2
    assert len(tracks) >= 3
    assert sum(1 for size in tracks.values() if size >= 5) >= 2


def test_square_box_grows_the_shorter_side_about_the_centre() -> None:
    assert square_box(FaceBox(10, 20, 30, 40)) == FaceBox(5, 20, 40, 40)
    assert square_box(FaceBox(10, 20, 41, 30)) == FaceBox(10, 15, 41, 41)
    assert square_box(FaceBox(1, 2, 3, 3)) == FaceBox(1, 2, 3, 3)


def test_crop_inside_the_image_is_box_plus_margin(gradient: np.ndarray) -> None:
    # a 20x20 box + 10 px on every side = 40x40, resized to 40: an exact copy
    crop = crop_face(gradient, FaceBox(40, 30, 20, 20), size=40, margin_px=10)
    np.testing.assert_array_equal(crop, gradient[20:60, 30:70])
    # a 20 wide, 30 high box is squared to 30x30 about its centre (x - 5)
    crop = crop_face(gradient, FaceBox(40, 30, 20, 30), size=50, margin_px=10)
    np.testing.assert_array_equal(crop, gradient[20:70, 25:75])
    assert crop_face(gradient, FaceBox(40, 30, 20, 20), size=64).shape == (64, 64)
    assert crop_face(gradient, FaceBox(40, 30, 20, 20), size=64).dtype == np.uint8


def test_crop_pads_with_the_mean_of_the_bottom_rows(gradient: np.ndarray) -> None:
    assert pad_value(gradient) == 77
    crop = crop_face(gradient, FaceBox(0, 0, 20, 20), size=40, margin_px=10)
    assert (crop[:10] == 77).all() and (crop[:, :10] == 77).all()
    np.testing.assert_array_equal(crop[10:, 10:], gradient[0:30, 0:30])
    corner = crop_face(gradient, FaceBox(110, 90, 20, 20), size=40, margin_px=10)
    np.testing.assert_array_equal(corner[:20, :20], gradient[80:100, 100:120])
    assert (corner[20:] == 77).all() and (corner[:, 20:] == 77).all()


@pytest.mark.parametrize(
    "box",
    [(-5, -8, 30, 50), (95, 70, 40, 20), (0, 0, 120, 100), (100, -20, 30, 30), (37, 41, 23, 17)],
)
def test_crop_matches_fers_padded_image_crop(box: tuple[int, int, int, int]) -> None:
    image = np.random.default_rng(7).integers(0, 256, (100, 120), dtype=np.uint8)
    expected = fer_crop(image, box, 64)
    np.testing.assert_array_equal(crop_face(image, FaceBox(*box), size=64), expected)


def test_clahe_applies_to_the_crop() -> None:
    image = np.random.default_rng(3).normal(120, 10, (100, 120)).clip(0, 255).astype(np.uint8)
    plain = crop_face(image, FaceBox(30, 30, 40, 40), size=64)
    enhanced = crop_face(image, FaceBox(30, 30, 40, 40), size=64, clahe=True)
    expected = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(plain)
    np.testing.assert_array_equal(enhanced, expected)
    assert enhanced.std() > plain.std()


def test_crop_rejects_colour_images(gradient: np.ndarray) -> None:
    with pytest.raises(ValueError, match="grayscale"):
        crop_face(np.dstack([gradient] * 3), FaceBox(0, 0, 10, 10), size=64)


def single_face_gray() -> np.ndarray:
    return cv2.imread(str(DATA / "faces" / "single_face.jpg"), cv2.IMREAD_GRAYSCALE)


def test_detect_scaled_finds_the_same_face_in_source_pixels() -> None:
    gray = single_face_gray()
    detector = HaarFaceDetector()
    (full,) = detector.detect(gray)
    width = gray.shape[1] // 2
    (small,) = detector.detect_scaled(gray, width)
    assert iou(full, small) >= 0.5, (full, small)
    assert detector.detect_scaled(gray, gray.shape[1]) == detector.detect(gray)
    assert detector.detect_scaled(gray, None) == detector.detect(gray)


def test_detect_near_follows_a_face_and_finds_none_on_a_blank_frame() -> None:
    gray = single_face_gray()
    detector = HaarFaceDetector()
    (full,) = detector.detect(gray)
    moved = FaceBox(full.x + full.w // 6, full.y - full.h // 6, full.w, full.h)
    near = detector.detect_near(gray, moved)
    assert near is not None and iou(near, full) >= 0.5, (near, full)
    assert detector.detect_near(np.full_like(gray, 128), full) is None
    assert detector.detect_near(gray, FaceBox(0, 0, 10, 10)) is None  # below min_size
