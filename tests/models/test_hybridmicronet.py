"""HybridMicroNet: shapes of the paper's Table 2, backbone loading, checkpoints, registry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from affectflow.models.class_sets import BINARY, CASME2
from affectflow.models.faces import HaarFaceDetector, crop_face
from affectflow.models.hybridmicronet import (
    HybridMicroNet,
    load_backbone,
    read_checkpoint_metadata,
    save_checkpoint,
)
from affectflow.models.registry import MODEL_SPECS, get_model_spec

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"


@pytest.fixture(scope="module")
def real_input() -> torch.Tensor:
    """One real face, cropped and preprocessed as the analyze job does for this model."""
    spec = get_model_spec("hybridmicronet")
    gray = cv2.imread(str(FACES / "single_face.jpg"), cv2.IMREAD_GRAYSCALE)
    box = HaarFaceDetector().detect(gray)[0]
    crop = crop_face(gray, box, spec.input_size, spec.crop_margin_px, spec.clahe)
    return torch.from_numpy(spec.batch_preprocess(crop[None]))


@pytest.mark.slow
def test_head_shapes_follow_table_2(real_input: torch.Tensor) -> None:
    model = HybridMicroNet(num_classes=2).eval()
    shapes = {}
    for name in ("conv", "pool", "stages.0", "stages.1"):
        module = model.head.get_submodule(name)
        module.register_forward_hook(lambda m, i, o, n=name: shapes.__setitem__(n, o.shape[1:]))
    with torch.no_grad():
        features = model.features(real_input)
        probs = model(real_input)
    assert real_input.shape == (1, 3, 224, 224)
    assert features.shape == (1, 512, 7, 7)
    assert shapes == {
        "conv": (16, 4, 4),
        "pool": (16, 1, 1),
        "stages.0": (16, 1, 1),
        "stages.1": (32, 1, 1),
    }
    assert probs.shape == (1, 2) and float(probs.sum()) == pytest.approx(1, abs=1e-6)
    # parameter counts of Table 2 (biased 3x3 convs, dense 32 -> 2)
    stage0, stage1 = model.head.stages
    assert sum(p.numel() for p in stage0.conv1.parameters()) == 2320
    assert sum(p.numel() for p in stage1.conv1.parameters()) == 4640
    assert sum(p.numel() for p in stage1.conv2.parameters()) == 9248
    assert sum(p.numel() for p in model.head.dense.parameters()) == 66
    assert isinstance(stage0.projection, torch.nn.Identity)
    assert isinstance(stage1.projection, torch.nn.Sequential)  # 1x1 conv + BN, 16 -> 32


def test_fer_backbone_head_takes_the_trunks_channels() -> None:
    """On the mini-Xception's 4x4x128 map the conv gives 2x2x16; the pool still gives 1x1."""
    model = HybridMicroNet(7, backbone="fer-minixception").eval()
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        features = model.features(x)
        conv = model.head.conv(model.head.pad(features))
        pooled = model.head.pool(conv)
        probs = model(x)
    assert features.shape == (2, 128, 4, 4) and conv.shape == (2, 16, 2, 2)
    assert pooled.shape == (2, 16, 1, 1) and probs.shape == (2, 7)
    assert model.head.conv.in_channels == 128 and model.head.pool.padding == 1
    assert HybridMicroNet(2).head.pool.padding == 0  # VGG-16: 4x4 -> 1x1 unpadded
    # every row after the first conv is Table 2's, whatever the backbone
    fer_rest = sum(p.numel() for p in model.head.stages.parameters())
    vgg_rest = sum(p.numel() for p in HybridMicroNet(7).head.stages.parameters())
    assert fer_rest == vgg_rest
    with pytest.raises(ValueError, match="unknown backbone"):
        HybridMicroNet(2, backbone="resnet50")


def test_padding_is_filled_with_one() -> None:
    head = HybridMicroNet(2).head
    padded = head.pad(torch.zeros(1, 512, 7, 7))
    assert padded.shape[-2:] == (13, 13)
    assert padded[0, 0, 0, 0] == 1 and padded[0, 0, 3, 3] == 0


def test_backbone_is_frozen_by_default() -> None:
    model = HybridMicroNet(5)
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert not model.train().features.training
    tuned = HybridMicroNet(5, freeze_backbone=False)
    assert all(p.requires_grad for p in tuned.features.parameters())


def test_torchvision_vgg16_state_dict_loads(tmp_path: Path, caplog) -> None:
    source = HybridMicroNet(2)
    state = {f"features.{k}": v for k, v in source.features.state_dict().items()}
    assert "features.28.weight" in state and state["features.0.weight"].shape == (64, 3, 3, 3)
    state["classifier.0.weight"] = torch.zeros(4, 25088)  # ignored, as in torchvision's
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model = HybridMicroNet(2)
    assert load_backbone(model, path)
    assert torch.equal(model.features[28].weight, source.features[28].weight)
    assert not load_backbone(model, None)
    assert "randomly initialised" in caplog.text
    torch.save({"head.x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="features"):
        load_backbone(model, tmp_path / "bad.pth")


@pytest.mark.slow
def test_checkpoint_round_trip_and_registry(tmp_path: Path, real_input: torch.Tensor) -> None:
    model = HybridMicroNet(len(CASME2.labels)).eval()
    path = tmp_path / "hmn.pt"
    save_checkpoint(model, path, {"class_set": CASME2.to_json(), "preprocessing": {"clahe": True}})
    meta = read_checkpoint_metadata(path)
    assert meta["class_set"]["labels"] == list(CASME2.labels)
    assert meta["backbone"] == "vgg16"  # first-format checkpoints name none: VGG-16
    # what Beam's PytorchModelHandlerTensor does: build from params, plain load_state_dict
    spec = get_model_spec("hybridmicronet", weights=str(path))
    assert spec.labels == CASME2.labels and spec.valence["repression"] == "negative"
    assert spec.model_params == {"num_classes": 5}
    assert (spec.input_size, spec.channels, spec.clahe) == (224, 3, True)
    loaded = spec.build()
    loaded.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(real_input), model(real_input))
    assert loaded.metadata["class_set"]["name"] == "casme2"
    base = MODEL_SPECS["hybridmicronet"]
    assert (base.input_size, base.channels, base.clahe) == (224, 3, True)
    assert base.pixel_mean == (0.485, 0.456, 0.406)
    assert base.fetch_weights(source=str(path)).path == str(path)
    with pytest.raises(ValueError, match="--weights"):
        base.fetch_weights()
    torch.save(model.features.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a hybridmicronet checkpoint"):
        base.fetch_weights(source=str(tmp_path / "plain.pt"))


def test_fer_backbone_checkpoint_specialises_the_spec(tmp_path: Path) -> None:
    model = HybridMicroNet(2, backbone="fer-minixception").eval()
    path = tmp_path / "fer.pt"
    meta = {"backbone": "fer-minixception", "class_set": BINARY.to_json()}
    save_checkpoint(model, path, {**meta, "preprocessing": {"clahe": False}})
    assert torch.load(path, weights_only=True)["features.blocks.3.bn2.weight"].shape == (128,)
    spec = get_model_spec("hybridmicronet", weights=str(path))
    assert (spec.input_size, spec.channels, spec.clahe, spec.crop_margin_px) == (64, 1, False, 10)
    assert spec.pixel_mean == (0.5,) and spec.pixel_std == (0.5,)  # the default model's
    assert spec.model_params == {"num_classes": 2, "backbone": "fer-minixception"}
    loaded = spec.build()
    loaded.load_state_dict(torch.load(path, weights_only=True))
    x = torch.from_numpy(spec.batch_preprocess(np.full((1, 64, 64), 128, np.uint8)))
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(x), model(x))


def test_preprocess_repeats_gray_to_three_channels() -> None:
    spec = get_model_spec("hybridmicronet")
    x = spec.preprocess(np.full((224, 224), 255, np.uint8))
    assert x.shape == (3, 224, 224)
    assert np.allclose(x[:, 0, 0], (1 - np.array(spec.pixel_mean)) / np.array(spec.pixel_std))
