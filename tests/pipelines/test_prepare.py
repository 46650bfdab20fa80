"""`affectflow prepare` and training on its crops, on a tiny fixture of bundled faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from affectflow.models.crop_sets import CropSet
from affectflow.models.crop_training import (
    crop_logits,
    fit_temperature,
    fold_temperature,
    train_on_crops,
)
from affectflow.models.recipe import CropRecipe
from affectflow.models.registry import FER_MINIXCEPTION
from affectflow.pipelines.cli import main

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


@pytest.fixture
def split_csv(tmp_path: Path, posed_faces: dict[Path, str]) -> Path:
    """The four labelled faces, one shrunk to a 48 px FER2013-like crop, and a blank image."""
    rows = [(str(path), label, path.name[:6]) for path, label in posed_faces.items()]
    gray = cv2.imread(str(FACES / "0-f15-hao-ph.jpg"), cv2.IMREAD_GRAYSCALE)
    small = tmp_path / "small.png"
    h, w = gray.shape
    side = min(h, w)
    cv2.imwrite(
        str(small),
        cv2.resize(gray[(h - side) // 2 :][:side, (w - side) // 2 :][:, :side], (48, 48)),
    )
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64), 128, np.uint8))
    rows += [(str(small), "happy", "small"), (str(blank), "neutral", "blank")]
    path = tmp_path / "tiny.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "subject"), *rows])
    return path


def test_prepare_crops_with_the_face_stage_then_trains(
    split_csv, tmp_path, model_cache_dir, mtcnn_weights, fer_weights, capsys
):
    out = tmp_path / "crops"
    code = main(["--quiet", "prepare", str(split_csv), "--out", str(out),
                 "--cache-dir", str(model_cache_dir)])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["tiny"]
    assert summary["how"] == {"aligned": 5, "whole": 1}
    crops = CropSet.load(out / "tiny.npz")
    assert crops.crops.shape == (6, 64, 64)
    assert crops.how.tolist()[-1] == "whole" and crops.labels.tolist()[-1] == "neutral"
    steadier = tmp_path / "steadier"
    code = main(["--quiet", "prepare", str(split_csv), "--out", str(steadier), "--cache-dir",
                 str(model_cache_dir), "--landmark-passes", "2"])  # fmt: skip
    looked_again = CropSet.load(steadier / "tiny.npz")
    assert code == 0 and looked_again.how.tolist() == crops.how.tolist()
    assert not np.array_equal(looked_again.crops, crops.crops)  # the landmarks moved
    capsys.readouterr()

    recipe = CropRecipe(epochs=2, epoch_size=12, batch_size=6, seed=1)
    init = torch.load(fer_weights.path, weights_only=True)
    model = train_on_crops(FER_MINIXCEPTION, [crops], recipe, init)
    moved = [not torch.equal(model.state_dict()[k], v) for k, v in init.items()]
    assert any(moved)
    logits = crop_logits(model, FER_MINIXCEPTION, crops.crops)
    assert logits.shape == (6, 7) and np.isfinite(logits).all()


def test_prepare_refuses_a_bad_split(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,emotion\nx.jpg,happy\n")
    assert main(["--quiet", "prepare", str(bad), "--out", str(tmp_path)]) == 2
    assert "path, label, subject" in capsys.readouterr().err


def test_temperature_is_fitted_and_folded_into_the_head(fer_weights):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 7)) * 3
    probs = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(7, p=p) for p in probs])
    assert fit_temperature(logits, targets) == pytest.approx(2.0, abs=0.15)

    model = FER_MINIXCEPTION.load(fer_weights)
    x = torch.rand(3, 1, 64, 64) * 2 - 1
    expected = torch.softmax(model.logits(x) / 1.7, dim=1)
    assert torch.allclose(fold_temperature(model, 1.7)(x), expected, atol=1e-6)
