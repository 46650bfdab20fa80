"""What the launcher checks of the emotion model's weights before a job starts.

The workers load the weights where they run, through Beam FileSystems
(`transforms.infer.ThreadBoundTorchHandler`), so `--weights` may be a URI they can read
(`gs://...`, `s3://...`): a torch state dict or checkpoint loaded as is. The launcher
checks what it can: a local path (or file://) as always (it exists, its sha256, a
checkpoint's class set); a URI through FileSystems when this machine has the scheme's
filesystem (a missing file stops the job; the file is read once for its sha256 and
class set). When it has not (no `apache-beam[gcp]` here, no credentials), one warning
line and the workers check it, unless the model's classes are in the checkpoint
(hybridmicronet): the job cannot be built without them.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile

from apache_beam.io.filesystems import FileSystems

from affectflow.models.cache import WeightsInfo
from affectflow.models.registry import ModelSpec
from affectflow.warehouse.layout import NotReadableHere, exists_here, is_remote, local_path

LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20


def launcher_weights(
    spec: ModelSpec, cache_dir: str | None, source: str | None
) -> tuple[ModelSpec, WeightsInfo]:
    """The model's spec for its weights and the weights the workers load (path or URI,
    sha256; "" when this machine cannot read them). ValueError says what to fix."""
    if source is None or not is_remote(source):
        weights = spec.fetch_weights(cache_dir, source=local_path(source) if source else None)
        return spec.for_weights(weights.path), weights
    try:
        if not exists_here(source):
            raise ValueError(f"--weights {source} does not exist")
        return _read_remote(spec, source)
    except NotReadableHere as error:
        reason = str(error)
    if spec.classes_from_weights:
        raise ValueError(
            f"--weights {source}: {spec.name} reads its classes from the checkpoint, and "
            f"this machine cannot read it ({reason}): install that here or give a local copy"
        )
    LOG.warning(
        "--weights %s: not checked here (%s); the workers open it when they load the model",
        source,
        reason,
    )
    return spec, WeightsInfo(path=source, sha256="")


def _read_remote(spec: ModelSpec, uri: str) -> tuple[ModelSpec, WeightsInfo]:
    """Read `uri` once through FileSystems: its sha256 and (a checkpoint) its spec."""
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(suffix=".pt") as copy:
        with FileSystems.open(uri) as remote:
            while chunk := remote.read(_CHUNK):
                digest.update(chunk)
                copy.write(chunk)
        copy.flush()
        spec = spec.for_weights(copy.name)
    return spec, WeightsInfo(path=uri, sha256=digest.hexdigest())
