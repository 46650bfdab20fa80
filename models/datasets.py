"""Labelled face data for training and evaluation: layouts, face crops, fingerprints.

Layouts:
- image folder: `<label>/<subject>/*.jpg`, or `<label>/*.jpg` with a subjects CSV
  (columns `file`, `subject`; `file` relative to the root, or a bare file name);
- CASME-II / SAMM: frame folders plus the coding sheet exported as CSV (subject, clip,
  onset, apex, offset, emotion; the datasets' own column names are accepted), sampled
  at the apex frame or every `stride`-th frame from onset to offset.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from affectflow.models.class_sets import ClassSet, canonical, custom_class_set
from affectflow.models.faces import HaarFaceDetector, crop_face, enhance_contrast
from affectflow.models.model_names import FRAME_PATTERNS

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SHEET_COLUMNS = {
    "subject": "subject",
    "clip": "clip",
    "filename": "clip",
    "onset": "onset",
    "onsetframe": "onset",
    "apex": "apex",
    "apexframe": "apex",
    "offset": "offset",
    "offsetframe": "offset",
    "emotion": "emotion",
    "estimatedemotion": "emotion",
}


@dataclasses.dataclass(frozen=True)
class Sample:
    """One labelled face image; `subject` is None when unknown."""

    path: str
    label: str
    subject: str | None = None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_subjects(csv_path: str | Path) -> dict[str, str]:
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "subject"} <= set(rows[0]):
        raise ValueError(f"{csv_path}: a subjects CSV needs the columns file, subject")
    return {row["file"].strip(): row["subject"].strip() for row in rows}


def read_image_folder(
    root: str | Path, class_set: ClassSet, subjects_csv: str | Path | None = None
) -> list[Sample]:
    """Samples of an image-folder layout; folders whose label is not in the set are skipped."""
    root = Path(root)
    subjects = _read_subjects(subjects_csv) if subjects_csv else {}
    samples: list[Sample] = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = class_set.assign(label_dir.name)
        if label is None:
            LOG.warning("skipping %s: not a label of the %s set", label_dir.name, class_set.name)
            continue
        for path in _images(label_dir):
            rel = path.relative_to(root).as_posix()
            subject = subjects.get(rel, subjects.get(path.name))
            samples.append(Sample(str(path), label, subject))
        for subject_dir in sorted(p for p in label_dir.iterdir() if p.is_dir()):
            samples += [Sample(str(p), label, subject_dir.name) for p in _images(subject_dir)]
    return _non_empty(samples, root)


def folder_class_set(root: str | Path) -> ClassSet:
    """The class set named by an image folder's label folders (those holding images).

    Labels are the folder names matched case-insensitively with synonyms folded
    (`canonical`: Happy/happiness -> happiness), in sorted order.
    """
    root = Path(root)
    labels = set()
    for label_dir in (p for p in root.iterdir() if p.is_dir()):
        folders = [label_dir, *(p for p in label_dir.iterdir() if p.is_dir())]
        if any(_images(folder) for folder in folders):
            labels.add(canonical(label_dir.name))
    if not labels:
        raise ValueError(f"{root}: no labelled images found")
    return custom_class_set(sorted(labels))


def _non_empty(samples: list[Sample], root: Path) -> list[Sample]:
    if not samples:
        raise ValueError(f"{root}: no labelled images found")
    return samples


def _column_key(name: str) -> str:
    return "".join(name.lower().split()).replace("_", "")


def _sheet_rows(sheet: str | Path) -> list[dict[str, str]]:
    with open(sheet, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = {f: SHEET_COLUMNS.get(_column_key(f)) for f in reader.fieldnames or []}
        rows = [
            {names[k]: (v or "").strip() for k, v in row.items() if names.get(k)} for row in reader
        ]
    needed = {"subject", "clip", "onset", "apex", "offset", "emotion"}
    if not rows or not needed <= set(rows[0]):
        raise ValueError(f"{sheet}: a coding sheet needs the columns {sorted(needed)}")
    return rows


def _frames(row: dict[str, str], frames: str, stride: int) -> list[int]:
    if frames == "apex":
        return [int(row["apex"])]
    if frames == "onset-offset":
        return list(range(int(row["onset"]), int(row["offset"]) + 1, stride))
    raise ValueError(f"frames must be 'apex' or 'onset-offset', not {frames!r}")


def read_coding_sheet(
    root: str | Path,
    sheet: str | Path,
    class_set: ClassSet,
    *,
    dataset: str = "casme2",
    frames: str = "apex",
    stride: int = 1,
    frame_pattern: str | None = None,
) -> list[Sample]:
    """Samples of a CASME-II / SAMM layout; rows without a usable label or frame are skipped."""
    root, pattern = Path(root), frame_pattern or FRAME_PATTERNS[dataset]
    samples, skipped, missing = [], 0, 0
    for row in _sheet_rows(sheet):
        label = class_set.assign(row["emotion"])
        try:
            numbers = _frames(row, frames, stride) if label else []
        except ValueError:  # "/" or empty frame numbers in the sheets
            numbers = []
        skipped += not numbers
        for frame in numbers:
            path = root / pattern.format(subject=row["subject"], clip=row["clip"], frame=frame)
            if not path.is_file():
                missing += 1
                continue
            samples.append(Sample(str(path), str(label), row["subject"]))
    if skipped or missing:
        LOG.warning(
            "coding sheet: %d rows skipped (label/frames), %d frames missing", skipped, missing
        )
    return _non_empty(samples, root)


def load_face(
    path: str, size: int, margin_px: int, clahe: bool, detector: HaarFaceDetector | None
) -> np.ndarray:
    """The (size, size) grayscale uint8 face of an image.

    With a detector, the largest detected face is cropped as the analyze job does; an
    image without a detection (or with no detector) is taken as a crop already: its
    centre square is resized.
    """
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ValueError(f"cannot read image {path}")
    boxes = detector.detect(gray) if detector is not None else []
    if boxes:
        box = max(boxes, key=lambda b: b.w * b.h)
        return crop_face(gray, box, size, margin_px=margin_px, clahe=clahe)
    return centre_square(gray, size, clahe)


def centre_square(gray: np.ndarray, size: int, clahe: bool = False) -> np.ndarray:
    """An image taken as a face crop already: its centre square resized to size x size."""
    height, width = gray.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    face = cv2.resize(gray[top : top + side, left : left + side], (size, size))
    return enhance_contrast(face) if clahe else face


def load_faces(
    samples: Sequence[Sample], size: int, margin_px: int, clahe: bool, detect: bool = True
) -> np.ndarray:
    """(N, size, size) uint8 faces of `samples` (see `load_face`)."""
    detector = HaarFaceDetector() if detect else None
    return np.stack([load_face(s.path, size, margin_px, clahe, detector) for s in samples])


def fingerprint(samples: Iterable[Sample]) -> str:
    """sha256 over the sorted (content hash, label, subject) of every sample."""
    items = sorted(
        f"{hashlib.sha256(Path(s.path).read_bytes()).hexdigest()}\t{s.label}\t{s.subject}"
        for s in samples
    )
    return hashlib.sha256("\n".join(items).encode()).hexdigest()
