"""MTCNN port, its weights, the ONet face check and eye alignment, on real photos."""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectflow.models import mtcnn_weights as mw
from affectflow.models.cache import WeightsError
from affectflow.models.faces import (
    HaarFaceDetector,
    aligned_crop,
    alignment_matrix,
    search_scale,
)
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.schemas.records import FaceBox

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


def gray(name: str) -> np.ndarray:
    return cv2.imread(str(FACES / name), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def mtcnn(mtcnn_weights: str) -> MtcnnDetector:
    detector = MtcnnDetector(mtcnn_weights, (40, 40))
    detector.load()
    return detector


def eye_angle(landmarks: np.ndarray) -> float:
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


@pytest.mark.parametrize(("name", "count"), [("single_face.jpg", 1), ("multi_face.jpg", 5)])
def test_finds_every_face_of_a_real_photo(mtcnn: MtcnnDetector, name: str, count: int) -> None:
    (faces,) = mtcnn.detect_batch([gray(name)])
    assert len(faces) == count
    for face in faces:  # eyes above the nose above the mouth, inside the box
        points = np.array(face.landmarks)
        assert points[0, 1] < points[2, 1] < points[3, 1] and points[0, 0] < points[1, 0]
        assert face.box.x <= points[:, 0].min() and points[:, 0].max() <= face.box.x + face.box.w
    assert mtcnn.detect(gray(name)) == sorted((f.box for f in faces), key=lambda b: (b.x, b.y))


def test_a_batch_of_frames_gives_each_frame_its_faces(mtcnn: MtcnnDetector) -> None:
    image = gray("multi_face.jpg")
    blank = np.full_like(image, 128)
    one, none, again = mtcnn.detect_batch([image, blank, image])
    assert len(one) == len(again) == 5 and none == []
    assert [f.box for f in one] == [f.box for f in again]


def test_onet_accepts_a_face_and_rejects_what_is_not_one(mtcnn: MtcnnDetector) -> None:
    image = gray("single_face.jpg")
    (haar_box,) = HaarFaceDetector().detect(image)
    background = FaceBox(0, 0, 120, 120)  # the photo's corner: wall, no face
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    face, wall = mtcnn.check(image, [haar_box, background])
    (static,) = mtcnn.check(noise, [haar_box])
    assert face.box == haar_box and face.score > 0.95
    assert wall.score < 0.5 and static.score < 0.5
    assert mtcnn.check(image, []) == []


def test_alignment_levels_the_eyes_of_a_rotated_face(mtcnn: MtcnnDetector) -> None:
    image = gray("single_face.jpg")
    height, width = image.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0)  # counter-clockwise
    rotated = cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    (face,) = mtcnn.detect_batch([rotated])[0]
    landmarks = np.array(face.landmarks)
    assert abs(eye_angle(landmarks) + 25) < 6  # the eyes are tilted by the rotation
    matrix = alignment_matrix(landmarks, 64)
    moved = landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert abs(eye_angle(moved)) < 2
    crop, side = aligned_crop(rotated, landmarks, 64)
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    # the aligned crop is itself an upright face, eyes level, where the template puts them
    (again,) = mtcnn.check(crop, [FaceBox(0, 0, 64, 64)])
    assert again.score > 0.9 and abs(eye_angle(np.array(again.landmarks))) < 5
    assert 150 < side < 400


def landmark_spread(detector: MtcnnDetector, image: np.ndarray, boxes: list[FaceBox]) -> float:
    """Mean distance of the landmarks from their mean over `boxes`, in inter-ocular distances."""
    points = np.array([check.landmarks for check in detector.check(image, boxes)])
    ocular = np.linalg.norm(points[:, 0] - points[:, 1], axis=1).mean()
    return float(np.linalg.norm(points - points.mean(axis=0), axis=2).mean() / ocular)


@pytest.mark.parametrize("name", ["single_face.jpg", "multi_face.jpg"])
def test_further_onet_looks_steady_the_landmarks(mtcnn_weights: str, name: str) -> None:
    """Boxes a few px apart (the same face found by two searches) give nearly the same
    landmarks once ONet looks again at its own regressed box: half the spread or less
    (0.39-0.51 of it on these six faces), same scores, same boxes."""
    image = gray(name)
    once = MtcnnDetector(mtcnn_weights, (40, 40))
    steady = MtcnnDetector(mtcnn_weights, (40, 40), landmark_passes=2)
    for face in once.detect(image):
        k = max(2, round(0.05 * max(face.w, face.h)))  # 5% of the side
        moved = [
            FaceBox(face.x + dx, face.y + dy, face.w + dw, face.h + dw)
            for dx in (-k, 0, k)
            for dy in (-k, 0, k)
            for dw in (-k, 0, k)
        ]
        assert landmark_spread(steady, image, moved) < 0.6 * landmark_spread(once, image, moved)
        plain, again = once.check(image, moved), steady.check(image, moved)
        assert [c.score for c in plain] == [c.score for c in again]
        assert [c.box for c in again] == moved
    with pytest.raises(ValueError, match="landmark_passes"):
        MtcnnDetector(mtcnn_weights, landmark_passes=-1)


def test_small_faces_survive_the_shrunk_search_of_a_wide_frame() -> None:
    """A 1920 px frame with 50-80 px faces: shrunk to 480 px they fell under Haar's window."""
    photo = cv2.resize(gray("multi_face.jpg"), None, fx=0.6, fy=0.6)
    canvas = np.full((1080, 1920), int(photo.mean()), np.uint8)
    canvas[300 : 300 + photo.shape[0], 700 : 700 + photo.shape[1]] = photo
    haar = HaarFaceDetector()
    assert search_scale(1920, 480, 50, 24) == pytest.approx(0.48)
    assert search_scale(640, 480, 50, 24) == pytest.approx(0.75)
    assert search_scale(640, None, 50, 24) == search_scale(400, 480, 50, 24) == 1.0
    full = haar.detect(canvas)
    shrunk = haar.detect_scaled(canvas, 480)
    assert len(full) >= 3 and len(shrunk) >= len(full) - 1


def test_detector_pickles_without_its_networks(mtcnn: MtcnnDetector) -> None:
    copy = pickle.loads(pickle.dumps(mtcnn))
    assert copy._nets is None and copy.min_size == (40, 40)
    assert len(copy.detect(gray("single_face.jpg"))) == 1


def test_weights_are_verified_and_cached(mtcnn_weights: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(mw.MTCNN_WHEEL_ENV, raising=False)
    cache = Path(mtcnn_weights).parents[2]
    assert mw.fetch_mtcnn_weights(cache, python_executable="/nonexistent") == Path(mtcnn_weights)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for member, _ in mw.MTCNN_MEMBERS.values():
            wheel.writestr(member, b"not the weights")
    fake = tmp_path / "facenet_pytorch-2.6.0-py3-none-any.whl"
    fake.write_bytes(buffer.getvalue())
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        mw.fetch_mtcnn_weights(tmp_path / "cache", source=fake)
    monkeypatch.setenv(mw.MTCNN_WHEEL_ENV, str(tmp_path / "missing.whl"))
    with pytest.raises(WeightsError, match="does not exist"):
        mw.fetch_mtcnn_weights(tmp_path / "cache")
    (tmp_path / "bad.whl").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a wheel"):
        mw.fetch_mtcnn_weights(tmp_path / "cache", source=tmp_path / "bad.whl")
