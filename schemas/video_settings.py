"""The face stage's settings, and the limits and runtime it shares: the media limits
with the download stage (`schemas.download_settings`), the runtime (device, threads)
with the classify stage (whose settings, the other stages' and the whole job's
`StageSettings` are in `schemas.settings`, which re-exports these)."""

from __future__ import annotations

import dataclasses

from affectflow.schemas.knobs import (
    AT_LEAST_ONE,
    BASICS,
    COUNT,
    DETECTION,
    DOWNLOAD,
    NON_NEGATIVE,
    POSITIVE,
    PRIVACY,
    RUN_ONLY,
    RUNNER,
    folder,
    number,
    operational,
    pixels,
    setting,
    switch,
)

MAX_PIXELS = 3840 * 2160  # the largest frame decoded by default: 4K UHD
DETECTORS = ("mtcnn", "haar")


@dataclasses.dataclass(frozen=True)
class MediaLimits:
    """The longest video and the largest frame: the download stage refuses a file past
    them and the face stage stops decoding there (one object, held by both)."""

    max_duration_s: float | None = setting(
        3600.0, "max-duration", DOWNLOAD, "longest video in seconds (default: %(default)s)",
        type=POSITIVE, metavar="S", operational=True,
        doc="longest video, seconds (by its header and by its frames' timestamps)",
    )  # fmt: skip
    max_pixels: int | None = setting(
        MAX_PIXELS, "max-pixels", DOWNLOAD, "largest frame decoded, as WIDTHxHEIGHT or pixels; "
        "a video with larger frames fails (default: 3840x2160)",
        type=pixels, metavar="WxH", operational=True, shown="3840x2160",
        doc="largest frame decoded, `WIDTHxHEIGHT` or a number of pixels: a video with larger "
        "frames fails (`MaxPixelsExceeded`), by its stream header before any frame is "
        "decoded, else by its first decoded frame",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RuntimeSettings:
    """Where the models of a worker run: held by the face and the classify stages."""

    device: str = setting(
        "cpu", "device", RUNNER, "torch device (default: %(default)s)",
        choices=("cpu", "cuda"), operational=True,
        doc="`cuda` fails with a clear message when torch sees no GPU (at once on a local "
        "runner; on the workers, where the models load, on a distributed one); the face "
        "detector and the emotion model run on it",
    )  # fmt: skip
    # threads of each stage (OpenCV, torch, ONNX Runtime, FFmpeg); None: the cores available
    threads: int | None = operational()


DEFAULT_LIMITS, DEFAULT_RUNTIME = MediaLimits(), RuntimeSettings()


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
    (`align`), read after `landmark_passes` further ONet looks (steadier crops). The crop
    fields come from the model. `limits` are the download stage's (one object): decoding
    stops past them, whatever the file's header says; `runtime` the classify stage's
    (device, threads). `process_timeout_s`: the longest a video's processing after its
    download (decode, detect, and the inference fused with it) may take.
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
    landmark_passes: int = setting(
        0, "landmark-passes", DETECTION, "further ONet looks, each at the box the last one "
        "regressed, before a face's landmarks are read (default: %(default)s)",
        type=COUNT, metavar="N",
        doc="further ONet looks at each face, each at the box the previous look regressed, "
        "before its landmarks (and so its aligned crop) are read: steadier crops, ~0.9 ms of "
        'CPU per face per look ("Labels that hold still"); 0 = one look, the crops the '
        "default model was trained on (it reads 2-look crops less accurately)",
    )  # fmt: skip
    crop_size: int = 64  # the model's (`ModelSpec.input_size`)
    crop_margin_px: int = 10  # the model's
    clahe: bool = False  # the model's unless `--clahe` (`pipelines/option_flags.py`)
    detector_weights_path: str = operational("")
    limits: MediaLimits = dataclasses.field(default=DEFAULT_LIMITS, metadata=RUN_ONLY)
    runtime: RuntimeSettings = dataclasses.field(default=DEFAULT_RUNTIME, metadata=RUN_ONLY)
    detect_batch: int = setting(
        1, "detect-batch", RUNNER, "frames per batched MTCNN whole-frame search (GPU runners: "
        "16-64; default: %(default)s)", type=AT_LEAST_ONE, metavar="N", operational=True,
        doc="frames per batched MTCNN whole-frame search: set 16-64 with `--device cuda` (the "
        "detector runs on `--device`); same faces as 1",
    )  # fmt: skip
    debug_crops_dir: str | None = setting(
        None, "debug-crops", PRIVACY, "write every face crop to DIR (debugging only: personal "
        "data)", type=folder, metavar="DIR", operational=True, shown="off",
        doc="write every face crop as PNG to DIR (debugging only: crops are personal data)",
    )  # fmt: skip
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
