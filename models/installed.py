"""The weights a worker loads when the launcher names none: its own installation's.

A job on a remote runner (Dataflow, Flink, Spark, the portable runner) never hands its
workers a path of the launcher's machine. The stage settings name either weights the
user gave (`--weights gs://...`, opened as is) or `installed:NAME` for the worker's own
copy: the
model's file in the worker's cache (`$AFFECTFLOW_CACHE_DIR`; the worker image bakes every
default weight in, `deploy/dataflow/Dockerfile`) or in the installed package. Nothing is
downloaded there (`cache.offline`), and the copy must be the one the launcher recorded:
every `faces` row carries its sha256.
"""

from __future__ import annotations

from affectflow.models.cache import WeightsError, WeightsInfo, offline
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights
from affectflow.models.registry import get_model_spec

INSTALLED = "installed:"  # a reference, not a path: `weights_to_load` resolves it
MTCNN = "mtcnn"
WHERE = "a worker finds its weights in its image (deploy/dataflow/Dockerfile) or in --weights"


def installed_mtcnn_weights() -> str:
    """The face detector's weights of this installation; WeightsError if there are none."""
    with offline(WHERE):
        return str(fetch_mtcnn_weights())


def installed_model_weights(model: str, expected_sha256: str = "") -> WeightsInfo:
    """The emotion model's weights of this installation, checked against the launcher's
    sha256 when it recorded one; WeightsError if missing or different."""
    with offline(WHERE):
        weights = get_model_spec(model).fetch_weights()
    if expected_sha256 and weights.sha256 != expected_sha256:
        raise WeightsError(
            f"{model}'s weights here ({weights.path}, sha256 {weights.sha256[:12]}) are not "
            f"the launcher's (sha256 {expected_sha256[:12]}): rebuild the worker image with "
            "this version of affectflow, or pass --weights URI"
        )
    return weights


def installed(name: str) -> str:
    """The reference the launcher gives workers for `name`'s weights of their installation
    (`mtcnn`, or an emotion model of the registry)."""
    return f"{INSTALLED}{name}"


def weights_to_load(path: str, expected_sha256: str = "") -> str:
    """What a worker opens: `path` as given, or for an `installed` reference this
    installation's weights (WeightsError if it has none, or other ones)."""
    if not path.startswith(INSTALLED):
        return path
    name = path.removeprefix(INSTALLED)
    if name == MTCNN:
        return installed_mtcnn_weights()
    return installed_model_weights(name, expected_sha256).path
