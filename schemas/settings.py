"""The settings of each stage: frozen, built once from the options, passed whole.

Each stage takes its own settings object (`DownloadVideos(DownloadSettings(...))`). A
knob is still spelled in several places: its flag (`pipelines/option_flags.py`), its
field here, its line in `pipelines/stage_settings.py`, the README's options table, and
for an operational one its name in `tests/schemas/test_settings.py` (which checks that
every field follows its flag).
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

GIB = 1 << 30
MAX_PIXELS = 3840 * 2160  # the largest frame decoded by default: 4K UHD
DETECTORS = ("mtcnn", "haar")
FINGERPRINT = "fingerprint"


def operational(default: Any = None) -> Any:
    """A field left out of the fingerprint: threads, caches, retries, limits, privacy."""
    return dataclasses.field(default=default, metadata={FINGERPRINT: False})


def fingerprinted(settings: Any) -> dict[str, Any]:
    """The fields of one settings object that decide what a video yields."""
    return {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(settings)
        if field.metadata.get(FINGERPRINT, True)
    }


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    """Reading the video list (`transforms.ingest`, `sources.video_list`)."""

    default_cohort: str | None = operational()
    allow_local: bool = operational(False)


@dataclasses.dataclass(frozen=True)
class DownloadSettings:
    """Fetching, validating and caching videos (`transforms.download`, `video_cache`).

    The limits (duration, size, pixels per frame, sites, time) only decide which videos
    fail; a video that failed for good is retried with `refresh --retry-failed`, not by a
    new fingerprint. `download_timeout_s` bounds one attempt, `download_deadline_s` all
    attempts of one video together (retries and back-off included).
    """

    cache_dir: str = operational("")
    max_height: int = 480
    max_duration_s: float | None = operational(3600.0)
    max_filesize_bytes: int | None = operational(2 * GIB)
    allowed_extractors: tuple[str, ...] | None = operational()
    socket_timeout_s: float = operational(20.0)
    retries: int = operational(3)
    backoff_s: float = operational(2.0)
    keep_title: bool = operational(False)
    channel_salt: str | None = operational()
    keep_videos: bool = operational(False)
    cache_max_bytes: int | None = operational()
    download_timeout_s: float = operational(300.0)
    min_rate_bytes: float = operational(1024.0)
    concurrent_downloads: int = operational(4)
    allow_private_addresses: bool = operational(False)
    download_deadline_s: float = operational(600.0)
    max_pixels: int | None = operational(MAX_PIXELS)
    # A file of one frame (a photo) is a one-frame video at t=0 rather than a failure:
    # what a video yields does not change, only whether a photo is accepted.
    still_images: bool = operational(False)


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    """Sampling frames, finding and tracking faces, cropping them (`transforms.detect`).

    Defaults chosen on the bundled clips (benchmarks/detection.py, README "Detection"):
    MTCNN at full size on every sampled frame keeps 97% of the reference's faces on the
    stage-and-audience clip, where Haar keeps 41-44% and MTCNN every 4th frame with
    faces followed in between 88%. `detect_width` shrinks wide frames for the whole-frame
    search, never below the detector's window for `min_face`
    (`models.faces.search_scale`); it saves MTCNN nothing. Every box is checked by ONet
    (`min_face_score`, MTCNN's own last-stage threshold) and cropped on its landmarks
    (`align`). The crop fields come from the model. `max_duration_s` and `max_pixels`
    are the download stage's limits again: decoding stops past them, whatever the file's
    header says. `process_timeout_s`: the longest a video's processing after its download
    (decode, detect, and the inference fused with it) may take.
    """

    fps: float = 10.0
    trim_s: float = 0.0
    detector: str = "mtcnn"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 50
    detect_width: int | None = 0
    detect_every: int = 1
    min_track_frames: int = 3
    min_face_score: float = 0.7
    min_face_quality: float = 0.0
    align: bool = True
    crop_size: int = 64
    crop_margin_px: int = 10
    clahe: bool = False
    detector_weights_path: str = operational("")
    device: str = operational("cpu")
    detect_batch: int = operational(1)
    # threads of the stage (OpenCV, torch, ONNX Runtime, FFmpeg); None: the cores available
    cv2_threads: int | None = operational()
    debug_crops_dir: str | None = operational()
    max_duration_s: float | None = operational(3600.0)
    max_pixels: int | None = operational(MAX_PIXELS)
    process_timeout_s: float | None = operational(7200.0)

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}: {self.detector!r}")


@dataclasses.dataclass(frozen=True)
class ClassifySettings:
    """Classifying face crops (`transforms.infer`, `models.smoothing`): the model, how it
    runs, and what steadies its labels.

    `flip_average`: each crop's class probabilities are the mean over the crop and its
    mirror image (`models.flip`). `smooth_s`: the smoothed columns of a face are the mean
    probabilities of its track's face-frames within +-smooth_s/2 of it (a centred window
    of smooth_s seconds of video time); 0: smoothed = per-frame. Both chosen by
    benchmarks/stability.py (README, "Labels that hold still"). `batch_size`: faces per
    inference batch, each batch from one video unless `batch_across_videos` (fuller
    batches on short clips, videos finishing in bursts).
    """

    model: str = "affectflow-minixception"
    weights_sha256: str = ""
    flip_average: bool = False
    smooth_s: float = 0.5
    weights_path: str = operational("")
    batch_size: int = operational(64)
    batch_across_videos: bool = operational(False)
    device: str = operational("cpu")
    torch_threads: int | None = operational()  # None: the cores available to the worker
    model_copies: int | None = operational()

    def __post_init__(self) -> None:
        if not self.smooth_s >= 0:
            raise ValueError(f"smooth_s must be >= 0 seconds, got {self.smooth_s}")


@dataclasses.dataclass(frozen=True)
class UnitSettings:
    """Committing finished videos in units as the job goes (`transforms.units`).

    A unit is written once it holds `max_videos` finished videos or its first one
    finished `max_seconds` ago; `journal` is the local file each finished video is
    appended to for the driver's progress lines (None: workers log them instead).
    """

    warehouse: str = operational("")
    max_videos: int = operational(20)
    max_seconds: float = operational(120.0)
    journal: str | None = operational()


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
        with only operational fields (`units`) is left out. The weights are named by
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
