"""MTCNN's three networks on ONNX Runtime: the detector's CPU path.

On one CPU thread ONNX Runtime runs the cascade's small convolutions and ceil-mode max
pools in about two thirds of torch's time per frame (`benchmarks/detect.py`). The folded
(grayscale) torch networks are exported to ONNX once per weights file and cached beside
it (`<weights>.gray.v4.<net>.onnx`, written atomically; kept in memory only when that
folder is read-only or a cached file does not load). Two rewrites make the graphs ONNX
Runtime runs fast, with the same values: each PReLU becomes `relu(x) + a * min(x, 0)`
(ONNX Runtime's own PRelu kernel took 30-45% of each network's time; `_SplitPReLU`
says how it stays in ONNX Runtime's blocked layout, 7-18% less time), and PNet's
two-way softmax becomes a sigmoid of the logits' difference, fused into its convolution
(PNet then returns P(face) alone: callers read the last channel); RNet's first layer gets
4 channels of zeros (`_widen_first_layer`). Outputs equal torch's
to within 1e-5 (`tests/models/test_mtcnn_onnx.py`). Each session runs on `threads`
intra-op threads that sleep when idle (no spinning on a shared machine).
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime
import torch
import torch.nn.functional as F
from torch import nn

from affectflow.models.cache import atomic_write_bytes
from affectflow.models.mtcnn_nets import MtcnnNets

_LOG = logging.getLogger(__name__)
OPSET = 17
EXPORT_VERSION = "v4"  # in the cached files' names: a new export rewrite, new files
# net -> (example input shape, output names, dynamic axes of the input "x")
_EXPORTS = {
    "pnet": ((1, 1, 64, 64), ("reg", "prob"), {0: "n", 2: "h", 3: "w"}),
    "rnet": ((2, 1, 24, 24), ("reg", "prob"), {0: "n"}),
    "onet": ((2, 1, 48, 48), ("reg", "points", "prob"), {0: "n"}),
}


class Cascade(NamedTuple):
    """The three networks: `OnnxNet`s, or torch modules ((N, 1, H, W) float tensor -> tuple
    of tensors). P(face) is the last channel of each network's probability output."""

    pnet: object
    rnet: object
    onet: object


class OnnxNet:
    """One network's ONNX Runtime session: (N, 1, H, W) float32 array -> list of arrays,
    the torch module's outputs."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})


def onnx_cascade(nets: MtcnnNets, weights_path: str, threads: int) -> Cascade:
    """`nets` (already folded to gray, on the CPU) as ONNX Runtime sessions."""
    stem = Path(weights_path)
    sessions = {}
    for name in _EXPORTS:
        cached = stem.with_name(f"{stem.stem}.gray.{EXPORT_VERSION}.{name}.onnx")
        sessions[name] = OnnxNet(_session(getattr(nets, name), name, cached, threads))
    return Cascade(**sessions)


def _options(threads: int) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _session(
    net: torch.nn.Module, name: str, cached: Path, threads: int
) -> onnxruntime.InferenceSession:
    """A session from the cached export, else from a fresh export (cached when it can be)."""
    if cached.is_file():
        try:
            return _load(cached.read_bytes(), threads)
        except Exception as error:  # a damaged cache file is replaced, not fatal
            _LOG.warning("Re-exporting %s: %s", cached, error)
    model = export(net, name)
    try:
        atomic_write_bytes(cached, model)
    except OSError as error:  # a read-only cache: the export stays in memory
        _LOG.info("Not caching %s: %s", cached, error)
    return _load(model, threads)


def _load(model: bytes, threads: int) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(
        model, _options(threads), providers=["CPUExecutionProvider"]
    )


def export(net: torch.nn.Module, name: str) -> bytes:
    """The ONNX bytes of one of the cascade's networks (`name`: pnet, rnet or onet)."""
    shape, outputs, axes = _EXPORTS[name]
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _rewritten(net, name).eval(),
            (torch.zeros(shape),),
            buffer,
            input_names=["x"],
            output_names=list(outputs),
            dynamic_axes={"x": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


class _SplitPReLU(nn.Module):
    """PReLU as `relu(x) + a * min(x, 0)`: the same values (one term is always 0), in ops
    ONNX Runtime runs fast (its PRelu kernel broadcasts slowly). On feature maps the
    second term is `-a * relu(-x)`, its two products per-channel batch norms (mean 0,
    variance 1, epsilon 0: exactly `-x` and `-a * y`), which ONNX Runtime turns into 1 x 1
    depthwise convolutions and keeps, with the relus and the sum, in its blocked (NCHWc)
    layout: no reordering to NCHW and back around every PReLU."""

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        self.weight = prelu.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return F.relu(x) + self.weight.view(1, -1) * torch.clamp(x, max=0)
        zeros, ones = torch.zeros_like(self.weight), torch.ones_like(self.weight)
        negated = F.relu(F.batch_norm(x, zeros, ones, -ones, zeros, False, 0.0, 0.0))
        return F.relu(x) + F.batch_norm(negated, zeros, ones, -self.weight, zeros, False, 0.0, 0.0)


class _FaceProbability(nn.Module):
    """A two-way softmax head's P(class 1) as `sigmoid(logit1 - logit0)`, the difference
    taken in the 1 x 1 convolution's weights (one output channel, sigmoid fused)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = nn.Conv2d(conv.in_channels, 1, 1).to(conv.weight.device)
        self.conv.weight.data = conv.weight.data[1:2] - conv.weight.data[0:1]
        self.conv.bias.data = conv.bias.data[1:2] - conv.bias.data[0:1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


def _rewritten(net: nn.Module, name: str) -> nn.Module:
    """A copy of `net` with the rewrites ONNX Runtime runs faster (module docstring)."""
    net = copy.deepcopy(net)
    if name == "rnet":
        _widen_first_layer(net, 32)
    for child, module in list(net.named_children()):
        if isinstance(module, nn.PReLU):
            setattr(net, child, _SplitPReLU(module))
    if name == "pnet":
        net.conv4_1, net.softmax4_1 = _FaceProbability(net.conv4_1), nn.Identity()
    return net


def _widen_first_layer(net: nn.Module, channels: int) -> None:
    """Give `conv1` (and `prelu1`, `conv2`'s inputs) `channels` channels, the new ones all
    zero: the same outputs, and a channel count ONNX Runtime's blocked layout takes
    whole (RNet's 28 -> 32: its first max pool then needs no reordering, 8-13% faster)."""
    conv1, prelu1, conv2 = net.conv1, net.prelu1, net.conv2
    extra = channels - conv1.out_channels
    wide1 = nn.Conv2d(conv1.in_channels, channels, conv1.kernel_size)
    wide1.weight.data = F.pad(conv1.weight.data, (0, 0, 0, 0, 0, 0, 0, extra))
    wide1.bias.data = F.pad(conv1.bias.data, (0, extra))
    wide_prelu = nn.PReLU(channels)
    wide_prelu.weight.data = F.pad(prelu1.weight.data, (0, extra))
    wide2 = nn.Conv2d(channels, conv2.out_channels, conv2.kernel_size)
    wide2.weight.data = F.pad(conv2.weight.data, (0, 0, 0, 0, 0, extra))
    wide2.bias.data = conv2.bias.data.clone()
    net.conv1, net.prelu1, net.conv2 = wide1, wide_prelu, wide2
