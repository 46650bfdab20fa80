"""Record types that flow between the pipeline stages.

Plain frozen dataclasses (standard library only) so that Beam can pickle them across
worker processes. Each stage takes one of these and emits the next:

    VideoRequest --download--> VideoFile --faces--> FaceCrop --infer--> face row
                                                 \\-> VideoSummary --> videos row
    any stage failure -> ErrorRecord --> errors row + a `failed` videos row
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any


class VideoStatus(StrEnum):
    """Final status of one input row in the `videos` table."""

    OK = "ok"
    NO_FACES = "no_faces"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"  # a list row naming a video an earlier row of the list names
    FAILED = "failed"


# The tag of a stage's failed output (`beam.pvalue.TaggedOutput`): its ErrorRecords.
FAILED = "failed"

# The `errors.error_class` of a duplicate list row (its `videos` row: status duplicate).
DUPLICATE_ROW = "DuplicateRow"

# The start of the one line a worker's failed preflight gives (`transforms/preflight.py`);
# the launcher finds it in whatever the runner wrapped around it (`pipelines/failures.py`).
PREFLIGHT = "worker preflight:"


class Stage(StrEnum):
    """Pipeline stage names used in the `errors` table."""

    INGEST = "ingest"
    DOWNLOAD = "download"
    FRAMES = "frames"
    FACES = "faces"
    INFER = "infer"
    COMMIT = "commit"


@dataclasses.dataclass(frozen=True)
class VideoRequest:
    """One valid row of a video list.

    `video_key` is a stable, path-safe key derived from the URL (see
    `sources.video_keys.video_key_for`); it names the cached file and joins the tables.
    """

    video_key: str
    url: str
    cohort: str
    row_number: int
    attributes: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    is_local: bool = False
    # What the tables store as its `url`: a local file's path relative to the list's
    # folder, or its file name (never the analyst's absolute paths); None: `url` itself.
    stored_url: str | None = None

    @property
    def url_stored(self) -> str:
        return self.url if self.stored_url is None else self.stored_url


@dataclasses.dataclass(frozen=True)
class VideoFile:
    """A downloaded (or local) video that decoded end to end."""

    request: VideoRequest
    path: str
    duration_s: float | None
    fps: float | None
    width: int | None
    height: int | None
    extractor: str | None = None
    source_id: str | None = None
    upload_date: str | None = None
    channel_hash: str | None = None
    title: str | None = None
    from_cache: bool = False


@dataclasses.dataclass(frozen=True)
class FaceBox:
    """A face bounding box in source-frame pixels."""

    x: int
    y: int
    w: int
    h: int


@dataclasses.dataclass(frozen=True)
class FaceCrop:
    """One detected face on one sampled frame, ready for the classifier.

    `crop` is a uint8 grayscale numpy array (size set by the model's input size). The
    quality fields (`media.face_crops.face_quality`): `face_px` the side of the frame square
    the crop covers, `face_score` the ONet check's P(face), `sharpness` the variance of
    the crop's Laplacian, `quality` the weakest of the three on [0, 1]. `last_of_video`:
    no face of its video follows it.
    """

    video_key: str
    cohort: str
    frame_index: int
    timestamp_ms: int
    track_id: int
    box: FaceBox
    crop: Any = dataclasses.field(compare=False, repr=False)
    face_px: int | None = None
    face_score: float | None = None
    sharpness: float | None = None
    quality: float | None = None
    last_of_video: bool = False


@dataclasses.dataclass(frozen=True)
class VideoSummary:
    """What the face stage saw in one video; becomes its `videos` row."""

    video: VideoFile
    frames_sampled: int
    faces_detected: int
    tracks: int
    decoded_s: float
    seconds: float

    @property
    def status(self) -> VideoStatus:
        return VideoStatus.OK if self.faces_detected else VideoStatus.NO_FACES


@dataclasses.dataclass(frozen=True)
class ErrorRecord:
    """A dead letter: what failed, where, and whether a retry could help.

    `input` is the offending row or URL as text, so nothing is lost.
    """

    stage: Stage
    error_class: str
    message: str
    retryable: bool
    input: str
    video_key: str | None = None
    url: str | None = None
    cohort: str | None = None
    row_number: int | None = None
    attributes: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)

    @classmethod
    def for_request(
        cls,
        request: VideoRequest,
        stage: Stage,
        error: BaseException | str,
        *,
        retryable: bool = False,
        error_class: str | None = None,
    ) -> ErrorRecord:
        """An error about a valid request (download, decode, detect, infer)."""
        message = str(error) if isinstance(error, BaseException) else error
        if error_class is None:
            error_class = type(error).__name__ if isinstance(error, BaseException) else "Error"
        return cls(
            stage=stage,
            error_class=error_class,
            message=message,
            retryable=retryable,
            input=request.url_stored,
            video_key=request.video_key,
            url=request.url_stored,
            cohort=request.cohort,
            row_number=request.row_number,
            attributes=dict(request.attributes),
        )


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """Identifies one run of the analyze job; stamped on every row it writes.

    `analysis_id` fingerprints everything that changes results (model, weights,
    sampling, detector, crop): a video done under the same analysis_id is skipped.
    """

    run_id: str
    model_id: str
    weights_sha256: str
    analysis_id: str


@dataclasses.dataclass(frozen=True)
class VideoProbe:
    """What a video holds: from the container (`probe_video`), or checked against its
    packets (`validate_video`).

    `duration_s` is the header's duration (frames / fps), or the latest frame's time
    when that is larger (`validate_video`); `header_duration_s` is the header's own.
    """

    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    header_duration_s: float | None = None
