"""Horizontal-flip test-time averaging: a face and its mirror image, classified together.

A face's expression is (nearly) left-right symmetric, a classifier's errors are not: the
mean of the class probabilities of a crop and of its mirror image is steadier under a
few pixels of box shift (benchmarks/stability.py) at twice the inference cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class FlipAveraged(nn.Module):
    """`model_class(**params)` whose output is the mean over the input and its mirror.

    Built like the model it wraps (`FlipAveraged(model_class=MiniXception, num_classes=7)`,
    as Beam's PyTorch handler builds models) and loaded with the wrapped model's own state
    dict. The model must return probabilities (softmax): their mean is a distribution.
    """

    def __init__(self, model_class: type[nn.Module], **params: Any) -> None:
        super().__init__()
        self.model = model_class(**params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (model(x) + model(x mirrored along W)) / 2, in one batch."""
        both = self.model(torch.cat((x, torch.flip(x, dims=(-1,)))))
        plain, mirrored = both.chunk(2)
        return (plain + mirrored) / 2

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Load the wrapped model's state dict (its keys, no prefix)."""
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)
