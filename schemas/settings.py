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

from affectflow.schemas.knobs import (
    AT_LEAST_ONE,
    BASICS,
    COUNT,
    DETECTION,
    DOWNLOAD,
    FINGERPRINT,
    GIB,
    LABELS,
    NON_NEGATIVE,
    POSITIVE,
    PRIVACY,
    RUNNER,
    folder,
    gib_bytes,
    name_tuple,
    names,
    number,
    or_empty,
    pixels,
    setting,
    switch,
)

MAX_PIXELS = 3840 * 2160  # the largest frame decoded by default: 4K UHD
DETECTORS = ("mtcnn", "haar")


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
class DownloadSettings:
    """Fetching, validating and caching videos (`transforms.download`, `video_cache`).

    The limits (duration, size, pixels per frame, sites, time) only decide which videos
    fail; a video that failed for good is retried with `refresh --retry-failed`, not by a
    new fingerprint. `download_timeout_s` bounds one attempt, `download_deadline_s` all
    attempts of one video together (retries and back-off included). `max_duration_s`
    and `max_pixels` bound the face stage's decoding too (`DetectSettings`).
    """

    cache_dir: str = setting(
        "", "cache-dir", DOWNLOAD, "model and video cache (default: ~/.cache/affectflow)",
        type=folder, metavar="DIR", operational=True, option_default=None, convert=or_empty,
        shown="`~/.cache/affectflow`",
        doc="model weights and downloaded videos; on a remote runner the workers' folder "
        "for videos (the launcher keeps its own cache, deploy/README.md)",
    )  # fmt: skip
    max_height: int = setting(
        480, "max-height", DOWNLOAD, "highest video format downloaded (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="PX",
    )  # fmt: skip
    max_duration_s: float | None = setting(
        3600.0, "max-duration", DOWNLOAD, "longest video in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
        doc="longest video, seconds (by its header and by its frames' timestamps)",
    )  # fmt: skip
    max_filesize_bytes: int | None = setting(
        2 * GIB, "max-filesize", DOWNLOAD, "largest download in bytes (default: 2 GiB)",
        type=AT_LEAST_ONE, metavar="BYTES", operational=True, shown="2 GiB",
    )  # fmt: skip
    allowed_extractors: tuple[str, ...] | None = setting(
        None, "sites", DOWNLOAD, "comma-separated yt-dlp extractors to accept (default: all)",
        type=names, metavar="NAMES", convert=name_tuple, operational=True, shown="all",
        doc="comma-separated yt-dlp extractor names to accept, e.g. `youtube`",
    )  # fmt: skip
    socket_timeout_s: float = setting(
        20.0, "socket-timeout", DOWNLOAD, "network timeout in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
    )  # fmt: skip
    retries: int = setting(
        3, "retries", DOWNLOAD, "retries of retryable download errors (default: %(default)s)",
        type=COUNT, metavar="N", operational=True,
        doc="retries of retryable download errors (HTTP 429/5xx, timeouts, refused), with "
        "exponential back-off",
    )  # fmt: skip
    backoff_s: float = setting(
        2.0, "backoff-s", DOWNLOAD, "first retry delay, doubling (default: %(default)s)",
        type=NON_NEGATIVE, metavar="S", operational=True,
    )  # fmt: skip
    keep_title: bool = setting(
        False, "keep-title", PRIVACY, "store video titles (off: privacy)",
        action="store_true", operational=True,
    )  # fmt: skip
    channel_salt: str | None = setting(
        None, "channel-salt", PRIVACY, "key for hashing channel ids (default: env "
        "AFFECTFLOW_CHANNEL_SALT; none: channel ids not stored)",
        metavar="KEY", env="AFFECTFLOW_CHANNEL_SALT", operational=True,
        shown="env `AFFECTFLOW_CHANNEL_SALT`",
        doc="key for hashing channel ids; without it none are stored",
    )  # fmt: skip
    keep_videos: bool = setting(
        False, "keep-videos", DOWNLOAD, "keep downloaded videos in the cache",
        action="store_true", operational=True,
        doc="keep downloaded videos in the cache (default: deleted once analysed)",
    )  # fmt: skip
    cache_max_bytes: int | None = setting(
        None, "cache-max-gb", DOWNLOAD, "size cap of the video cache (default: none)",
        type=POSITIVE, metavar="GB", convert=gib_bytes, operational=True,
        doc="size cap of the video cache in GiB (oldest evicted first)",
    )  # fmt: skip
    download_timeout_s: float = setting(
        300.0, "download-timeout", DOWNLOAD, "longest time one attempt to fetch a video may "
        "take, in seconds (default: %(default)s)", type=POSITIVE, metavar="S", operational=True,
    )  # fmt: skip
    min_rate_bytes: float = setting(
        1024.0, "min-rate", DOWNLOAD, "slowest download accepted, bytes/s received, once 30 s "
        "passed since its first byte; 0: any (default: %(default)s)",
        type=NON_NEGATIVE, metavar="BYTES", operational=True,
        doc="slowest download accepted, bytes/s counted as they arrive on the socket over the "
        "time spent waiting for them, once 30 s of waiting passed (0: any): a server that "
        "drips one byte a second is cut then, while a download slowed by a busy machine is not",
    )  # fmt: skip
    concurrent_downloads: int = setting(
        4, "downloads", DOWNLOAD, "downloads at the same time per worker (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="downloads run at the same time per worker (one slow host does not idle the job)",
    )  # fmt: skip
    allow_private_addresses: bool = setting(
        False, "allow-private-addresses", DOWNLOAD, "follow redirects and page links to "
        "loopback, private and link-local hosts", action="store_true", operational=True,
        doc="follow redirects and page links to non-global hosts: loopback, link-local (cloud "
        "metadata), private, carrier-grade NAT (100.64/10), multicast, reserved; refused by "
        "default unless the list's URL is a host of that same kind. The address connected to "
        "is judged, IPv4 inside IPv6 unwrapped (`::ffff:a.b.c.d`, `::a.b.c.d`, 6to4, NAT64)",
    )  # fmt: skip
    download_deadline_s: float = setting(
        600.0, "download-deadline", DOWNLOAD, "longest time all attempts to fetch one video "
        "may take together, in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
        doc="longest time all attempts to fetch one video may take together (s), retries "
        "and back-off included",
    )  # fmt: skip
    max_pixels: int | None = setting(
        MAX_PIXELS, "max-pixels", DOWNLOAD, "largest frame decoded, as WIDTHxHEIGHT or pixels; "
        "a video with larger frames fails (default: 3840x2160)",
        type=pixels, metavar="WxH", operational=True, shown="3840x2160",
        doc="largest frame decoded, `WIDTHxHEIGHT` or a number of pixels: a video with larger "
        "frames fails (`MaxPixelsExceeded`), by its stream header before any frame is "
        "decoded, else by its first decoded frame",
    )  # fmt: skip
    # A file of one frame (a photo) is a one-frame video at t=0 rather than a failure:
    # what a video yields does not change, only whether a photo is accepted.
    still_images: bool = setting(
        False, "still-images", DOWNLOAD, "accept still images (jpg, png) as one-frame videos "
        "at t=0 (affectflow validate sets it)", action="store_true", operational=True,
        doc="accept photos (jpg, png) as one-frame videos at t=0 (`validate` turns it on); a "
        "track seen on every frame of a video shorter than `--min-track-frames` frames counts",
    )  # fmt: skip


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

    fps: float = setting(
        10.0, "fps", BASICS, "frames sampled per second (default: %(default)s)",
        type=POSITIVE, metavar="N", doc="frames sampled per second (by timestamp)",
    )  # fmt: skip
    trim_s: float = setting(
        0.0, "trim-s", DETECTION, "seconds dropped at the start and the end (default: %(default)s)",
        type=NON_NEGATIVE, metavar="S",
        doc="seconds dropped at the start and at the end of each video",
    )  # fmt: skip
    detector: str = setting(
        "mtcnn", "detector", DETECTION, "face detector; every box is then checked by MTCNN's "
        "ONet (default: %(default)s)", choices=DETECTORS,
        doc="face detector: `mtcnn` (a CNN; weights from the `facenet-pytorch` wheel, fetched "
        "once like the emotion model's) or `haar` (OpenCV's cascade, the paper's). Either way "
        'every box is checked by MTCNN\'s ONet ("Detection" below)',
    )  # fmt: skip
    scale_factor: float = setting(
        1.1, "scale-factor", DETECTION, "Haar scaleFactor (default: %(default)s)",
        type=number(float, 1, above=True), metavar="X", doc="Haar cascade scaleFactor",
    )  # fmt: skip
    min_neighbors: int = setting(
        5, "min-neighbors", DETECTION, "Haar minNeighbors (default: %(default)s)",
        type=COUNT, metavar="N", doc="Haar cascade minNeighbors",
    )  # fmt: skip
    min_face: int = setting(
        50, "min-face", DETECTION, "smallest face side in px (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="PX", doc="smallest face side in px (both detectors)",
    )  # fmt: skip
    detect_width: int | None = setting(
        0, "detect-width", DETECTION, "shrink frames to this width to search faces; 0: full "
        "size (default: %(default)s)", type=COUNT, metavar="PX",
        doc="face search on frames shrunk towards this width (never so far that a "
        "`--min-face` face falls under the detector's window: Haar 24 px, MTCNN 12 px); "
        "0: full size",
    )  # fmt: skip
    detect_every: int = setting(
        1, "detect-every", DETECTION, "search whole frames every k-th sampled frame (and when "
        "a track is lost), follow faces in between (default: %(default)s)",
        type=AT_LEAST_ONE, metavar="K",
        doc="face search on every k-th sampled frame and when a track is lost (tracked faces "
        "followed at full size in between); 1: every frame",
    )  # fmt: skip
    min_track_frames: int = setting(
        3, "min-track-frames", DETECTION, "sampled frames a face track needs to count "
        "(default: %(default)s)", type=AT_LEAST_ONE, metavar="N",
        doc="a face track counts once seen on this many sampled frames (drops one-frame "
        "false positives)",
    )  # fmt: skip
    min_face_score: float = setting(
        0.7, "min-face-score", DETECTION, "ONet P(face) a box needs to count as a face "
        "(default: %(default)s)", type=number(float, 0), metavar="P",
        doc="P(face) the ONet check must give a box; boxes below are counted "
        "(`faces_rejected`) and never labelled",
    )  # fmt: skip
    min_face_quality: float = setting(
        0.0, "min-face-quality", DETECTION, "drop faces whose quality (0-1: the weakest of "
        "P(face), size, sharpness) is below Q (default: %(default)s)",
        type=number(float, 0), metavar="Q", shown="0 (keep all)",
        doc="drop faces whose `quality` is below this (see the `faces` table)",
    )  # fmt: skip
    align: bool = switch(
        True, "align", DETECTION, "rotate and scale crops on the face's landmarks, eyes level "
        "(default: %(default)s)",
        doc="rotate and scale each crop on its five landmarks (eyes level) before the classifier",
    )  # fmt: skip
    crop_size: int = 64  # the model's (`ModelSpec.input_size`)
    crop_margin_px: int = 10  # the model's
    clahe: bool = False  # the model's unless `--clahe` (`pipelines/option_flags.py`)
    detector_weights_path: str = operational("")
    device: str = operational("cpu")  # set by `ClassifySettings.device`'s flag
    detect_batch: int = setting(
        1, "detect-batch", RUNNER, "frames per batched MTCNN whole-frame search (GPU runners: "
        "16-64; default: %(default)s)", type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="frames per batched MTCNN whole-frame search: set 16-64 with `--device cuda` (the "
        "detector runs on `--device`); same faces as 1",
    )  # fmt: skip
    # threads of the stage (OpenCV, torch, ONNX Runtime, FFmpeg); None: the cores available
    cv2_threads: int | None = operational()
    debug_crops_dir: str | None = setting(
        None, "debug-crops", PRIVACY, "write every face crop to DIR (debugging only: personal "
        "data)", type=folder, metavar="DIR", operational=True, shown="off",
        doc="write every face crop as PNG to DIR (debugging only: crops are personal data)",
    )  # fmt: skip
    max_duration_s: float | None = operational(3600.0)  # set by `DownloadSettings`'s flag
    max_pixels: int | None = operational(MAX_PIXELS)  # set by `DownloadSettings`'s flag
    process_timeout_s: float | None = setting(
        7200.0, "process-timeout", DETECTION, "longest time one video's decoding, detection and "
        "inference may take, in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
        doc="longest time one video's processing after its download (decoding, detection and "
        "its faces' inference) may take (s); past it the video fails (`ProcessTimeout`, stage "
        "`faces`)",
    )  # fmt: skip

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

    model: str = "affectflow-minixception"  # `--model` (`pipelines/option_flags.py`)
    weights_sha256: str = ""
    flip_average: bool = switch(
        False, "flip-average", LABELS, "average each face's class probabilities with its mirror "
        "image's (default: %(default)s)",
        doc="each face's class probabilities are the mean over its crop and the mirrored crop "
        "(two passes of the classifier)",
    )  # fmt: skip
    smooth_s: float = setting(
        0.5, "smooth-s", LABELS, "smoothed labels: mean probabilities of a track's face-frames "
        "within +-S/2 seconds; 0: off (default: %(default)s)", type=NON_NEGATIVE, metavar="S",
        doc="window of the smoothed labels: a face's smoothed probabilities are the mean over "
        "its track's face-frames within +-0.25 s of video time; 0: smoothed = per-frame",
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
    device: str = setting(
        "cpu", "device", RUNNER, "torch device (default: %(default)s)",
        choices=("cpu", "cuda"), operational=True,
        doc="`cuda` fails with a clear message when torch sees no GPU (at once on a local "
        "runner; on the workers, where the model loads, on a distributed one)",
    )  # fmt: skip
    torch_threads: int | None = operational()  # None: the cores available to the worker
    model_copies: int | None = setting(
        None, "model-copies", RUNNER, "model copies per worker machine (default: Beam's)",
        type=AT_LEAST_ONE, metavar="N", operational=True, shown="Beam's",
        doc="model copies per worker machine (GPU runners)",
    )  # fmt: skip

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
