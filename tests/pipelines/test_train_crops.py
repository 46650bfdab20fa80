"""`affectflow train --crops`: the default model's recipe on prepared crops, on a tiny fixture.

The 48 bundled web photos (8 per class, `tests/data/faces/muxspace`) go through
`affectflow prepare`, then `affectflow train --crops` from random weights: a model that
learned reads its own training faces far above chance (1/6); one that did not, does not.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.models.crop_sets import CropSet
from affectflow.models.crop_training import crop_logits
from affectflow.models.registry import get_model_spec
from affectflow.pipelines.cli import main

WEB = Path(__file__).resolve().parents[1] / "data" / "faces" / "muxspace"
NO_AUGMENTATION = ["--shift", "0", "--scale", "0", "--rotation-deg", "0"]
NO_AUGMENTATION += ["--brightness", "0", "--contrast", "0"]


@pytest.fixture(scope="module")
def tiny_crops(tmp_path_factory: pytest.TempPathFactory, mtcnn_weights: str) -> Path:
    """The 48 web photos cropped by `affectflow prepare` (the analyze job's face stage)."""
    root = tmp_path_factory.mktemp("train-crops")
    split = root / "tiny.csv"
    with open(WEB / "labels.csv", newline="") as handle, split.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("path", "label", "subject"))
        for row in csv.DictReader(handle):
            writer.writerow((WEB / row["file"], row["label"], row["subject"]))
    assert main(["--quiet", "prepare", str(split), "--out", str(root / "crops")]) == 0
    return root / "crops" / "tiny.npz"


def uar(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([(pred[truth == c] == c).mean() for c in np.unique(truth)]))


def test_train_crops_learns_from_scratch_and_writes_loadable_weights(
    tiny_crops: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "w.pt"
    argv = ["--quiet", "train", "--crops", str(tiny_crops), "--val-crops", str(tiny_crops)]
    argv += ["--init", "scratch", "--epochs", "12", "--epoch-size", "96", "--batch-size", "16"]
    assert main([*argv, "--lr", "0.01", *NO_AUGMENTATION, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recipe"]["init"] == "scratch" and summary["recipe"]["epochs"] == 12

    spec = get_model_spec("affectflow-minixception")
    info = spec.fetch_weights(source=str(out))
    assert info.sha256 == summary["sha256"]
    crops = CropSet.load(tiny_crops)
    truth = crops.targets(spec.labels)
    pred = crop_logits(spec.load(info), spec, crops.crops).argmax(axis=1)
    assert uar(truth, pred) >= 0.6, uar(truth, pred)  # chance: 1/6
    assert summary["val"]["tiny"]["uar"] == pytest.approx(uar(truth, pred), abs=1e-3)


def test_train_crops_refuses_unusable_inputs(tiny_crops: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "w.pt")
    assert main(["--quiet", "train", "--crops", str(tmp_path / "none.npz"), "--out", out]) == 2
    assert "none.npz" in capsys.readouterr().err
    two = ["--quiet", "train", "--crops", str(tiny_crops), "--shares", "0.5,0.5", "--out", out]
    assert main(two) == 2
    assert "2 shares given for 1 crop sets" in capsys.readouterr().err
    odd = CropSet.load(tiny_crops)
    odd = CropSet(odd.crops, np.full(len(odd), "contempt"), odd.subjects, odd.paths, odd.how)
    odd_path = odd.save(tmp_path / "odd.npz")
    assert main(["--quiet", "train", "--crops", str(odd_path), "--out", out]) == 2
    assert "contempt" in capsys.readouterr().err
    assert not Path(out).exists()


def test_train_crops_wider_network_loads_through_the_registry(
    tiny_crops: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "w2.pt"
    argv = ["--quiet", "train", "--crops", str(tiny_crops), "--init", "scratch", "--width", "2"]
    argv += ["--epochs", "1", "--epoch-size", "32", "--batch-size", "16", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recipe"]["width"] == 2 and summary["device"] == "cpu"
    spec = get_model_spec("affectflow-minixception", weights=str(out))
    assert spec.model_params["width"] == 2
    model = spec.load(spec.fetch_weights(source=str(out)))
    assert model.conv1.out_channels == 16  # twice the published stem
    probs = model(torch.from_numpy(spec.batch_preprocess(CropSet.load(tiny_crops).crops[:3])))
    assert probs.shape == (3, 7) and torch.allclose(probs.sum(dim=1), torch.ones(3))


def test_train_crops_refuses_fer_start_for_a_wider_network_and_absent_cuda(
    tiny_crops: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "w.pt"
    base = ["--quiet", "train", "--crops", str(tiny_crops), "--out", str(out)]
    assert main([*base, "--width", "2"]) == 2  # init fer: fer's weights are width 1
    assert "width" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*base, "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "cuda" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
