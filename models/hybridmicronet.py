"""HybridMicroNet (Sharma et al. 2023): VGG-16 conv features + a small residual head.

Input: (N, 3, 224, 224) ImageNet-normalised crops; output: softmax probabilities.
The backbone is `features` laid out exactly like torchvision's `vgg16().features`, so a
user's ImageNet state dict (`features.N.weight`, classifier keys ignored) loads from a
path. The head follows the shapes of the paper's Table 2 (notes/hybridmicronet.md):
pad 3 filled with 1, conv 7x7/16 stride 2 (7x7x512 -> 4x4x16), BN, ReLU, max-pool 3x3/2
(-> 1x1), residual stages of 16 and 32 filters (1x1 conv + BN projection where the
width changes), global average pooling, dense.

A checkpoint is one torch state dict whose `_extra_state` entry is the training
metadata as a JSON string, so `torch.load(weights_only=True)` and Beam's
`PytorchModelHandlerTensor` (plain `load_state_dict`) both read it as it is.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LOG = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "affectflow-hybridmicronet/1"
INPUT_SIZE = 224
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip
HEAD_PAD = 3
HEAD_PAD_VALUE = 1.0  # "the value 1 was assigned to each of these padded pixels"
STAGE_WIDTHS = (16, 32)
PathArg = str | os.PathLike[str]


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
    """VGG-16 feature map (N, 512, 7, 7) -> logits (N, num_classes)."""

    def __init__(self, num_classes: int, in_channels: int = 512) -> None:
        super().__init__()
        self.pad = nn.ConstantPad2d(HEAD_PAD, HEAD_PAD_VALUE)
        self.conv = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 7, stride=2)
        self.bn = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.pool = nn.MaxPool2d(3, stride=2)
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
    """VGG-16 backbone + residual head, returning softmax probabilities.

    Args:
        num_classes: size of the class set (2, 5 for CASME-II, 8 for SAMM, ...).
        freeze_backbone: keep VGG-16 fixed (the paper's setting); False fine-tunes it.
    """

    def __init__(self, num_classes: int = 2, freeze_backbone: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = vgg16_features()
        self.head = HybridHead(num_classes)
        self.metadata_json = "{}"
        self.backbone_frozen = freeze_backbone
        self.features.requires_grad_(not freeze_backbone)

    def train(self, mode: bool = True) -> HybridMicroNet:
        super().train(mode)
        if self.backbone_frozen:
            self.features.eval()
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) -> (N, num_classes) unnormalised scores."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) -> (N, num_classes) probabilities summing to 1."""
        return torch.softmax(self.logits(x), dim=1)

    def get_extra_state(self) -> str:
        return self.metadata_json

    def set_extra_state(self, state: Any) -> None:
        self.metadata_json = str(state)

    @property
    def metadata(self) -> dict:
        return json.loads(self.metadata_json)


def load_backbone(model: HybridMicroNet, path: PathArg | None) -> bool:
    """Load ImageNet VGG-16 conv weights (torchvision keys) from `path`; True if loaded.

    With no path the backbone keeps its random initialisation, with a warning.
    """
    if path is None:
        LOG.warning(
            "hybridmicronet: no VGG-16 backbone weights given (--backbone-weights): the "
            "backbone is randomly initialised; results will be far below the paper's"
        )
        return False
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
    model.features.load_state_dict(features, strict=True)
    return True


def save_checkpoint(model: HybridMicroNet, path: PathArg, metadata: dict) -> None:
    """Write the state dict with `metadata` (JSON-serialisable) as its `_extra_state`."""
    model.metadata_json = json.dumps(
        {"format": CHECKPOINT_FORMAT, **metadata}, sort_keys=True, default=str
    )
    torch.save(model.state_dict(), path)


def read_checkpoint_metadata(path: PathArg) -> dict:
    """The metadata of a checkpoint written by `save_checkpoint`; ValueError otherwise."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path}: not a readable torch checkpoint ({error})") from error
    raw = state.get("_extra_state") if isinstance(state, dict) else None
    metadata = json.loads(raw) if isinstance(raw, str) else {}
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a hybridmicronet checkpoint (write one with `train`)")
    return metadata
