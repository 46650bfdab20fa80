"""The fixed splits: deterministic, disjoint, stratified, written and read back as CSVs."""

from __future__ import annotations

import csv
from collections import Counter

import cv2
import numpy as np
import pytest

from affectflow.models.data_splits import (
    fer_splits,
    muxspace_splits,
    read_split,
    subject_of,
    write_all_splits,
)


def _image(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 8), value, np.uint8))


@pytest.fixture
def fer(tmp_path):
    root = tmp_path / "fer"
    for folder, count in (("angry", 30), ("happy", 50), ("disgust", 10)):
        for i in range(count):
            _image(root / folder / f"Training_{folder}{i}.jpg", i)
    return root


@pytest.fixture
def mux(tmp_path):
    root = tmp_path / "mux"
    rows = [("image", "emotion", "annotator")]
    for p in range(40):
        for i in range(1, 4):
            name = f"Person_{p:02d}_{i:04d}.jpg"
            emotion = ("anger", "happiness", "neutral", "NEUTRAL")[(p + i) % 4]
            _image(root / "images" / name, p)
            rows.append((name, emotion, "a"))
    _image(root / "images" / "odd-one.jpg", 1)
    rows += [("odd-one.jpg", "contempt", "a"), ("Person_00_0001.jpg", "sadness", "b")]
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


def test_subject_is_the_name_without_its_number():
    assert subject_of("George_W_Bush_0012.jpg") == "George_W_Bush"
    assert subject_of("HrithikRoshan_7.jpg") == "HrithikRoshan"
    assert subject_of("facial-expressions_2868588k.jpg") == "facial-expressions_2868588k"


def test_fer_split_is_image_disjoint_stratified_and_fixed(fer):
    first, again = fer_splits(fer), fer_splits(fer)
    assert first == again
    train, val = first["train"], first["val"]
    assert not {s.path for s in train} & {s.path for s in val}
    assert len(train) + len(val) == 90
    assert Counter(s.label for s in val) == {"angry": 3, "happy": 5, "disgust": 1}
    assert fer_splits(fer, seed=1)["val"] != val


def test_muxspace_split_is_subject_disjoint(mux):
    splits = muxspace_splits(mux)
    assert splits == muxspace_splits(mux)
    subjects = {name: {s.subject for s in samples} for name, samples in splits.items()}
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    everything = [s for samples in splits.values() for s in samples]
    assert len(everything) == 120  # contempt left out, the repeated row's first label kept
    first = next(s for s in everything if s.path.endswith("Person_00_0001.jpg"))
    assert first.label == "happy"
    for label in ("angry", "happy", "neutral"):
        counts = {name: sum(s.label == label for s in found) for name, found in splits.items()}
        assert counts["train"] > counts["val"] > 0 and counts["test"] > 0, counts


def test_split_csvs_round_trip(fer, mux, tmp_path):
    summary = write_all_splits(fer, mux, tmp_path / "out")
    assert set(summary) == {
        "fer-train",
        "fer-val",
        "muxspace-train",
        "muxspace-val",
        "muxspace-test",
    }
    back = read_split(tmp_path / "out" / "muxspace-val.csv")
    assert len(back) == summary["muxspace-val"]["images"]
    assert all(s.subject and s.label in {"angry", "happy", "neutral"} for s in back)
