"""The options of a job -> each stage's settings (`schemas.settings`), built once.

A field declared with its flag (`schemas.knobs.setting`) takes that option's value;
only the fields derived from something else are written out here: the model's crop
geometry and weights, the threads per worker, and the one limits and one runtime
object that several stages hold.
"""

from __future__ import annotations

from typing import Any

from affectflow.models.registry import ModelSpec
from affectflow.models.threads import worker_threads
from affectflow.pipelines.option_flags import STAGE_CLASSES
from affectflow.pipelines.options import AnalyzeOptions, is_local_runner
from affectflow.schemas.knobs import knobs
from affectflow.schemas.settings import StageSettings


def from_options(stage: str, opts: AnalyzeOptions, **derived: Any) -> Any:
    """The settings of `stage`: each flagged field from its option, `derived` the rest."""
    cls = STAGE_CLASSES[stage]
    values = {name: knob.value(getattr(opts, knob.dest)) for name, knob in knobs(cls)}
    return cls(**values, **derived)


def stage_settings(
    opts: AnalyzeOptions,
    spec: ModelSpec,
    weights_path: str,
    weights_sha256: str,
    detector_weights_path: str = "",
) -> StageSettings:
    """Each stage's settings from the options, the model and the face check's weights."""
    # Threads per worker from the cores this process may use; on a remote runner each
    # worker counts its own (None).
    threads = worker_threads(opts.workers) if is_local_runner(opts) else None
    limits = from_options("limits", opts)
    runtime = from_options("runtime", opts, threads=threads)
    detect = from_options(
        "detect",
        opts,
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=spec.clahe if opts.clahe is None else opts.clahe == "on",
        detector_weights_path=detector_weights_path,
        limits=limits,
        runtime=runtime,
    )
    classify = from_options(
        "classify",
        opts,
        model=spec.name,
        weights_sha256=weights_sha256,
        weights_path=weights_path,
        runtime=runtime,
    )
    return StageSettings(
        ingest=from_options("ingest", opts),
        download=from_options("download", opts, limits=limits),
        detect=detect,
        classify=classify,
        units=from_options("units", opts),
    )
