"""The workers' preflight: what a worker needs, checked on a worker before any download.

The launcher checks what it can from its own machine (`pipelines.analyze.prepare`); a
remote runner's workers have their own image, credentials and network. The graph's
first step (`ReadSettled`, "already done?") runs `preflight` on a worker first: it loads
the face detector's weights, opens the emotion model's, and reads the warehouse, so a
worker image without weights or a warehouse the workers cannot read fails the job in
seconds with one line (`PREFLIGHT ...`), not after the first videos were downloaded.
"""

from __future__ import annotations

from collections.abc import Callable

from apache_beam.io.filesystems import FileSystems

from affectflow.models.installed import MTCNN, installed, weights_to_load
from affectflow.models.mtcnn_weights import load_mtcnn_nets
from affectflow.schemas.records import PREFLIGHT
from affectflow.schemas.settings import StageSettings
from affectflow.transforms.infer import check_weights
from affectflow.warehouse.sql import NoWarehouse, connect


class PreflightError(RuntimeError):
    """A worker lacks something the job needs; the message is one line saying what."""


def _check(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except NoWarehouse:  # a first run: nothing done yet
        return
    except Exception as error:  # anything: the point is one line instead of a traceback
        reason = " ".join(str(error).split())[:400]
        raise PreflightError(f"{PREFLIGHT} {what}: {reason}") from None


def _open_weights(path: str, sha256: str) -> None:
    path = weights_to_load(path, sha256)
    check_weights(path)  # the handler's own message for a filesystem or file missing here
    with FileSystems.open(path) as handle:
        handle.read(1 << 16)


def _read_warehouse(warehouse: str) -> None:
    with connect(warehouse) as con:
        con.execute("select count(*) from runs").fetchall()


def preflight(settings: StageSettings, warehouse: str) -> None:
    """Raise PreflightError (one line) unless this worker has the weights and can read
    the warehouse."""
    detector = settings.detect.detector_weights_path or installed(MTCNN)
    model = settings.classify.weights_path or installed(settings.classify.model)
    sha256 = settings.classify.weights_sha256
    _check(
        f"the face detector ({detector})",
        lambda: load_mtcnn_nets(weights_to_load(detector)),
    )
    _check(f"the emotion model ({model})", lambda: _open_weights(model, sha256))
    _check(f"the warehouse {warehouse}", lambda: _read_warehouse(warehouse))
