"""The settings of each stage: frozen, built once from the options, passed whole.

Each stage takes its own settings object (`DownloadVideos(DownloadSettings(...))`). A
setting is declared once, as its field here: `setting(default, flag, group, help, ...)`
(`schemas/knobs.py`) carries its flag, value type, `--help` line, README text and
whether it is operational; the parser (`pipelines/option_flags.py`), the options ->
settings mapping (`pipelines/stage_settings.py`, explicit only for derived fields) and
the README's options table (`pipelines/option_table.py`, a test compares) are built
from it, and the tests of every field (`tests/schemas/test_settings.py`) read it too.
Every field is part of the `analysis_id` fingerprint (`StageSettings.analysis_id`: "is
this video already done under these settings?") unless it is declared `operational`:
how the work runs or what it may refuse, not what an analysed video yields. A new field
therefore changes the fingerprint with no other edit; `tests/schemas/test_settings.py`
checks it for every field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from affectflow.schemas.download_settings import DownloadSettings
from affectflow.schemas.knobs import (
    AT_LEAST_ONE,
    BASICS,
    FINGERPRINT,
    GIB,
    LABELS,
    NEUTRAL,
    NON_NEGATIVE,
    RUN_ONLY,
    RUNNER,
    folder,
    operational,
    setting,
    switch,
)
from affectflow.schemas.video_settings import (
    DEFAULT_RUNTIME,
    DETECTORS,
    MAX_PIXELS,
    DetectSettings,
    MediaLimits,
    RuntimeSettings,
)

__all__ = [
    "DETECTORS",
    "GIB",
    "MAX_PIXELS",
    "ClassifySettings",
    "DetectSettings",
    "DownloadSettings",
    "IngestSettings",
    "MediaLimits",
    "RuntimeSettings",
    "StageSettings",
    "UnitSettings",
    "fingerprinted",
    "operational",
]


def fingerprinted(settings: Any) -> dict[str, Any]:
    """The fields of one settings object that decide what a video yields (a field at its
    `neutral` value yields what the code before it did, so it is left out)."""
    out = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        neutral = NEUTRAL in field.metadata and value == field.metadata[NEUTRAL]
        if field.metadata.get(FINGERPRINT, True) and not neutral:
            out[field.name] = value
    return out


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    """Reading the video list (`transforms.ingest`, `sources.video_list`)."""

    default_cohort: str | None = setting(
        None, "cohort", BASICS, "cohort of the rows that name none (.txt lists)",
        metavar="NAME", operational=True, shown="none",
        doc="cohort of the rows that name none (a .txt list, a CSV without a cohort column)",
    )  # fmt: skip
    allow_local: bool = setting(
        False, "allow-local", BASICS, "accept local paths and file:// URLs",
        action="store_true", operational=True,
        doc="accept local paths and file:// URLs in the list (relative to the list's folder)",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ClassifySettings:
    """Classifying face crops (`transforms.infer`): the model, how it runs, and the
    mirror average that steadies its labels.

    `flip_average`: each crop's class probabilities are the mean over the crop and its
    mirror image (`models.flip`; chosen by benchmarks/stability.py, README "Labels that
    hold still", as `UnitSettings.smooth_s`). `batch_size`: faces per
    inference batch, each batch from one video unless `batch_across_videos` (fuller
    batches on short clips, videos finishing in bursts). `runtime`: the device and
    threads, shared with the face stage.
    """

    model: str = "affectflow-minixception"  # `--model` (`pipelines/option_flags.py`)
    weights_sha256: str = ""
    flip_average: bool = switch(
        True, "flip-average", LABELS, "average each face's class probabilities with its mirror "
        "image's (default: %(default)s)",
        doc="each face's class probabilities are the mean over its crop and the mirrored crop "
        "(two passes of the classifier)",
    )  # fmt: skip
    weights_path: str = operational("")
    batch_size: int = setting(
        64, "batch-size", RUNNER, "faces per inference batch (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="faces per inference batch; a batch holds one video's faces, so each video "
        "finishes right after its detection",
    )  # fmt: skip
    batch_across_videos: bool = setting(
        False, "batch-across-videos", RUNNER, "fill inference batches across videos (off: a "
        "batch holds one video's faces, so each video finishes at once)",
        action="store_true", operational=True,
        doc="fill every batch across videos (Beam's batching): fuller batches on short clips "
        "(a GPU), but videos finish in bursts",
    )  # fmt: skip
    runtime: RuntimeSettings = dataclasses.field(default=DEFAULT_RUNTIME, metadata=RUN_ONLY)
    model_copies: int | None = setting(
        None, "model-copies", RUNNER, "model copies per worker machine (default: Beam's)",
        type=AT_LEAST_ONE, metavar="N", operational=True, shown="Beam's",
        doc="model copies per worker machine (GPU runners)",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class UnitSettings:
    """Finishing videos and committing them in units as the job goes (`transforms.units`).

    A finished video's faces are smoothed along their tracks here, where all of them are
    together (`models.smoothing`): the smoothed probabilities of a face are the mean
    probabilities of its track's face-frames within +-smooth_s/2 of it (a centred window
    of `smooth_s` seconds of video time; 0: its own; chosen by benchmarks/stability.py,
    README "Labels that hold still"), and its smoothed label follows them with a
    hysteresis of `smooth_margin` (0: their argmax). A unit is written once it
    holds `max_videos` finished videos or its first one finished `max_seconds` ago;
    `journal` is the local file each finished video is appended to for the driver's
    progress lines (None: workers log them instead).
    """

    smooth_s: float = setting(
        0.5, "smooth-s", LABELS, "smoothed labels: mean probabilities of a track's face-frames "
        "within +-S/2 seconds; 0: no window (default: %(default)s)", type=NON_NEGATIVE,
        metavar="S",
        doc="window of the smoothed labels: a face's smoothed probabilities are the mean over "
        "its track's face-frames within +-0.25 s of video time; 0: its own probabilities",
    )  # fmt: skip
    smooth_margin: float = setting(
        0.0, "smooth-margin", LABELS, "a track's smoothed label changes only when another "
        "class's smoothed probability leads it by M; 0: the argmax (default: %(default)s)",
        type=NON_NEGATIVE, metavar="M", neutral=0.0,
        doc="hysteresis of the smoothed labels: a track's first face takes the argmax of its "
        "smoothed probabilities, and its label changes only once another class's smoothed "
        "probability leads the current label's by at least this (fewer switches along a "
        "track; not fewer differences between detection settings: README \"Tie-aware "
        "labels\"); 0: the argmax on every face",
    )  # fmt: skip

    warehouse: str = setting(
        "", "warehouse", BASICS, "warehouse folder or URI, new or existing (default: "
        "%(default)s)", type=folder, metavar="DIR", operational=True, option_default="out",
        doc="warehouse folder or URI (`gs://`, `s3://`), new or existing",
    )  # fmt: skip
    max_videos: int = setting(
        20, "unit-videos", RUNNER, "commit finished videos in units of N (default: "
        "%(default)s)...", type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="finished videos are committed in units of this many, or when the oldest has "
        "waited `--unit-seconds`: a kill loses at most the videos in flight and one unit",
    )  # fmt: skip
    max_seconds: float = setting(
        120.0, "unit-seconds", RUNNER, "...or once the oldest has waited S s (default: "
        "%(default)s)", type=NON_NEGATIVE, metavar="S", operational=True,
        doc="a unit is committed once its oldest video has waited this long (a clock, also "
        "while a slow download holds the job)",
    )  # fmt: skip
    journal: str | None = operational()

    def __post_init__(self) -> None:
        if not self.smooth_s >= 0:
            raise ValueError(f"smooth_s must be >= 0 seconds, got {self.smooth_s}")
        if not self.smooth_margin >= 0:
            raise ValueError(f"smooth_margin must be >= 0, got {self.smooth_margin}")


@dataclasses.dataclass(frozen=True)
class StageSettings:
    """Every stage's settings for one job."""

    ingest: IngestSettings
    download: DownloadSettings
    detect: DetectSettings
    classify: ClassifySettings
    units: UnitSettings = UnitSettings()

    def fingerprint(self) -> dict[str, dict[str, Any]]:
        """What decides a video's results, per stage (stored in `runs.config`); a stage
        with only operational fields is left out. The weights are named by
        their sha256, or by their path or URI when their sha256 is unknown ("")."""
        stages = {
            field.name: fingerprinted(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }
        if self.classify.weights_path and not self.classify.weights_sha256:
            # Weights the launcher could not read: their URI is all that tells them apart.
            stages["classify"]["weights_path"] = self.classify.weights_path
        return {name: fields for name, fields in stages.items() if fields}

    def analysis_id(self) -> str:
        """16 hex digits of sha256 over `fingerprint()`: equal settings, equal id."""
        text = json.dumps(self.fingerprint(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
