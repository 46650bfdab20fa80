"""Faces: Haar-cascade detection, fer-style square crop, CLAHE (the models' input).

`crop_face` reproduces how the `fer` package crops a face for its mini-Xception
(notes/fer-minixception.md): square the box by growing its shorter side about the
centre, add `margin_px` on every side, crop, resize to size x size (bilinear). Where
the box leaves the image, the crop is padded with a constant: the mean of the image's
bottom two rows, as fer's 40 px padding does (identical within 40 px of the image; fer
clamps beyond that, this pads as far as needed).
"""

from __future__ import annotations

import cv2
import numpy as np

from affectflow.schemas.records import FaceBox

CASCADE_FILE = "haarcascade_frontalface_default.xml"
CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILE_GRID = (8, 8)
# `detect_near` looks for faces of this share of the followed box's side.
NEAR_MIN_RATIO = 0.7
NEAR_MAX_RATIO = 1.4
HAAR_WINDOW = 24  # the cascade's window: the smallest face it sees at a scale


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade with fer's default settings.

    Cheap to construct: the cascade is loaded on first use (or by `load()`), so build
    one per worker (e.g. in `DoFn.setup`) rather than pickling a loaded one.
    """

    window = HAAR_WINDOW

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: tuple[int, int] = (50, 50),
    ) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = tuple(min_size)
        self._cascade: cv2.CascadeClassifier | None = None

    def load(self) -> cv2.CascadeClassifier:
        """Load the cascade (once); raises RuntimeError when OpenCV has none."""
        if self._cascade is None:
            path = cv2.data.haarcascades + CASCADE_FILE
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"cannot load the Haar cascade {path}")
            self._cascade = cascade
        return self._cascade

    def detect(self, gray: np.ndarray) -> list[FaceBox]:
        """Faces in a grayscale uint8 image, in its pixels, sorted left to right."""
        boxes = self._detect(gray, self.min_size)
        return sorted(boxes, key=lambda box: (box.x, box.y))

    def detect_scaled(self, gray: np.ndarray, width: int | None) -> list[FaceBox]:
        """`detect` on the frame shrunk towards `width` px wide, boxes in source px.

        The smallest face (`min_size`) shrinks with the frame, so the same faces qualify;
        the frame never shrinks so far that it falls under the cascade's 24 px window
        (`search_scale`).
        """
        height, source_width = gray.shape[:2]
        scale = search_scale(source_width, width, self.min_size[0], self.window)
        if scale >= 1.0:
            return self.detect(gray)
        small = cv2.resize(
            gray,
            (round(source_width * scale), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
        min_size = tuple(max(1, round(side * scale)) for side in self.min_size)
        found = self._detect(small, min_size)
        boxes = [scaled_box(box, 1 / scale) for box in found]
        return sorted(boxes, key=lambda box: (box.x, box.y))

    def detect_near(self, gray: np.ndarray, box: FaceBox, grow: float = 0.5) -> FaceBox | None:
        """The face of about `box`'s size near `box` (searched at full size), or None.

        Searches `box` grown by `grow` x its side on every side, for faces of 0.7 to 1.4
        times its side: a small, cheap search that follows a tracked face.
        """
        region = near_region(gray.shape, box, grow, self.min_size[0])
        if region is None:
            return None
        x1, y1, x2, y2, low = region
        high = round(max(box.w, box.h) * NEAR_MAX_RATIO)
        found = self._detect(gray[y1:y2, x1:x2], (low, low), (high, high))
        if not found:
            return None
        best = max(found, key=lambda face: face.w * face.h)
        return FaceBox(best.x + x1, best.y + y1, best.w, best.h)

    def _detect(
        self,
        gray: np.ndarray,
        min_size: tuple[int, ...],
        max_size: tuple[int, int] | None = None,
    ) -> list[FaceBox]:
        found = self.load().detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=min_size,
            maxSize=max_size or (0, 0),
            flags=cv2.CASCADE_SCALE_IMAGE,
        )
        return [FaceBox(int(x), int(y), int(w), int(h)) for x, y, w, h in found]

    def __getstate__(self) -> dict:
        """Pickle the settings only; the cascade reloads on the other side."""
        return {**self.__dict__, "_cascade": None}


def scaled_box(box: FaceBox, factor: float) -> FaceBox:
    """`box` with every coordinate multiplied by `factor` (rounded)."""
    return FaceBox(*(round(value * factor) for value in (box.x, box.y, box.w, box.h)))


def search_scale(source_width: int, width: int | None, min_face: int, window: int) -> float:
    """The factor a frame is shrunk by for a whole-frame search (1.0: full size).

    Towards `width` px wide (None or 0: full size), but never so far that a face of
    `min_face` px falls under the detector's `window` (Haar 24 px, MTCNN's PNet 12 px):
    a 1920 px frame with 50 px faces is searched at 922 px for Haar, not 480.
    """
    if not width or source_width <= width:
        return 1.0
    return min(1.0, max(width / source_width, window / max(min_face, 1)))


def near_region(
    shape: tuple[int, ...], box: FaceBox, grow: float, min_face: int
) -> tuple[int, int, int, int, int] | None:
    """(x1, y1, x2, y2, smallest face) of the search that follows `box`, or None.

    `box` grown by `grow` x its side on every side, clipped to the frame; faces from
    `NEAR_MIN_RATIO` x its side (at least `min_face`). None when nothing fits.
    """
    side = max(box.w, box.h)
    margin = round(side * grow)
    height, width = shape[:2]
    x1, y1 = max(0, box.x - margin), max(0, box.y - margin)
    x2, y2 = min(width, box.x + box.w + margin), min(height, box.y + box.h + margin)
    low = max(min_face, round(side * NEAR_MIN_RATIO))
    if x2 - x1 < low or y2 - y1 < low or round(side * NEAR_MAX_RATIO) < low:
        return None
    return x1, y1, x2, y2, low


def square_box(box: FaceBox) -> FaceBox:
    """fer's `tosquare`: grow the shorter side about the centre."""
    x, y, w, h = box.x, box.y, box.w, box.h
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return FaceBox(x, y, w, h)


def crop_region(box: FaceBox, margin_px: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2), end exclusive, of the squared box plus the margin on every side."""
    sq = square_box(box)
    return sq.x - margin_px, sq.y - margin_px, sq.x + sq.w + margin_px, sq.y + sq.h + margin_px


def pad_value(gray: np.ndarray) -> float:
    """fer's padding value: the mean of the bottom two rows."""
    return float(cv2.mean(gray[-2:])[0])


def crop_face(
    gray: np.ndarray, box: FaceBox, size: int, margin_px: int = 10, clahe: bool = False
) -> np.ndarray:
    """The size x size uint8 crop of `box` (fer's geometry); CLAHE on the crop if asked.

    CLAHE (clip 2.0, 8x8 tiles) runs after the resize, on the model's input.
    """
    if gray.ndim != 2:
        raise ValueError(f"crop_face needs a grayscale image, got shape {gray.shape}")
    x1, y1, x2, y2 = crop_region(box, margin_px)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty crop region for {box} with margin {margin_px}")
    face = cv2.resize(
        _padded_crop(gray, x1, y1, x2, y2), (size, size), interpolation=cv2.INTER_LINEAR
    )
    return enhance_contrast(face) if clahe else face


def enhance_contrast(face: np.ndarray) -> np.ndarray:
    """CLAHE (clip 2.0, 8x8 tiles) of a uint8 grayscale crop."""
    return cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILE_GRID).apply(face)


def _padded_crop(gray: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """gray[y1:y2, x1:x2], with the parts outside the image filled with `pad_value`."""
    height, width = gray.shape
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(x2, width), min(y2, height)
    if cx2 <= cx1 or cy2 <= cy1:  # wholly outside the image
        value = np.clip(round(pad_value(gray)), 0, 255)
        return np.full((y2 - y1, x2 - x1), value, dtype=np.uint8)
    inside = gray[cy1:cy2, cx1:cx2]
    borders = (cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2)  # top, bottom, left, right
    if not any(borders):
        return inside
    return cv2.copyMakeBorder(inside, *borders, cv2.BORDER_CONSTANT, value=pad_value(gray))


# Where the five MTCNN landmarks (left eye, right eye, nose, left and right mouth corner)
# fall in the model's crop, as fractions of its side: the medians over 166 upright faces
# of tests/data (Haar box, fer's square + 10 px margin; median face 260 px), made
# left-right symmetric. An aligned crop maps a face's landmarks onto these points, so it
# keeps the geometry the classifier was trained on, with the eyes level.
LANDMARK_TEMPLATE = np.array(
    [[0.3276, 0.4143], [0.6724, 0.4143], [0.5, 0.5818], [0.3512, 0.7668], [0.6488, 0.7668]]
)


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The 2 x 3 similarity (rotation, scale, shift) taking the 5 landmarks to the template.

    Least squares over the five points (Umeyama 1991): the eye line ends up level, the
    face at the size and place the model's crop expects.
    """
    source = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    target = LANDMARK_TEMPLATE * size
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    # complex form: dst ~ a * src with a = scale * e^(i angle)
    zs, zd = src[:, 0] + 1j * src[:, 1], dst[:, 0] + 1j * dst[:, 1]
    denominator = float(np.vdot(zs, zs).real)
    if denominator <= 0:
        raise ValueError("the landmarks coincide: no alignment")
    a = np.vdot(zs, zd) / denominator
    rotation = np.array([[a.real, -a.imag], [a.imag, a.real]])
    shift = dst_mean - rotation @ src_mean
    return np.hstack([rotation, shift[:, None]])


def aligned_crop(gray: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """The size x size crop with the landmarks on `LANDMARK_TEMPLATE`, and its side in source px.

    Outside the image the crop is filled with `pad_value`, as `crop_face` pads.
    """
    matrix = alignment_matrix(landmarks, size)
    face = cv2.warpAffine(
        gray,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=pad_value(gray),
    )
    side = round(size / float(np.hypot(matrix[0, 0], matrix[1, 0])))
    return face, side
