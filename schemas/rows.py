"""Record -> table row: one function per kind of row, matching `schemas.tables`.

URLs and messages are stored redacted (`schemas.redact`): no credentials, query
secrets or channel ids reach a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from affectflow.schemas.records import (
    DUPLICATE_ROW,
    ErrorRecord,
    FaceCrop,
    RunInfo,
    VideoFile,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)
from affectflow.schemas.redact import redact_text, redact_url

Row = dict[str, Any]


def _request_columns(request: VideoRequest, status: VideoStatus, run: RunInfo) -> Row:
    return {
        "video_key": request.video_key,
        "url": redact_url(request.url_stored),
        "cohort": request.cohort,
        "status": str(status),
        "run_id": run.run_id,
        "row_number": request.row_number,
        "attributes": dict(request.attributes),
        "model_id": run.model_id,
        "analysis_id": run.analysis_id,
        "unit_id": None,  # set when the row's unit is written (transforms/units.py)
        "run_date": None,  # set when the run's rows are partitioned (warehouse/partitions.py)
        "input_key": item_key(request),
    }


def _file_columns(video: VideoFile) -> Row:
    return {
        "duration_s": video.duration_s,
        "extractor": video.extractor,
        "source_id": video.source_id,
        "upload_date": video.upload_date,
        "channel_hash": video.channel_hash,
        "title": video.title,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
    }


def summary_video_row(summary: VideoSummary, run: RunInfo) -> Row:
    """The `videos` row of an analysed video (status ok or no_faces).

    `duration_s` is the file's (its header's, or its last frame's time when later:
    `media.probe.validate_video`), or the decoded duration when that is larger still.
    """
    duration_s = summary.video.duration_s
    if duration_s is None or summary.decoded_s > duration_s:
        duration_s = summary.decoded_s
    return {
        **_request_columns(summary.video.request, summary.status, run),
        **_file_columns(summary.video),
        "duration_s": duration_s,
        "frames_sampled": summary.frames_sampled,
        "faces_detected": summary.faces_detected,
        "tracks": summary.tracks,
        "seconds": summary.seconds,
        "error": None,
    }


def skipped_video_row(request: VideoRequest, run: RunInfo) -> Row:
    """The `videos` row of a video already analysed under the same analysis_id."""
    return _request_columns(request, VideoStatus.SKIPPED, run)


def failed_video_row(error: ErrorRecord, run: RunInfo) -> Row:
    """The `videos` row of an input that failed at some stage (see its `errors` row); a
    duplicate list row's has status `duplicate`."""
    duplicate = error.error_class == DUPLICATE_ROW
    return {
        "video_key": error.video_key,
        "url": redact_text(error.url if error.url is not None else error.input),
        "cohort": error.cohort,
        "status": str(VideoStatus.DUPLICATE if duplicate else VideoStatus.FAILED),
        "run_id": run.run_id,
        "row_number": error.row_number,
        "attributes": dict(error.attributes),
        "model_id": run.model_id,
        "analysis_id": run.analysis_id,
        "error": redact_text(failure_text(error)),
        "unit_id": None,
        "run_date": None,
        "input_key": item_key(error),
    }


def failure_text(error: ErrorRecord) -> str:
    """`stage: message`, as a failed video's row and progress line show its errors row."""
    return f"{error.stage}: {error.message}"


def error_row(error: ErrorRecord, run: RunInfo) -> Row:
    """The `errors` row of a dead letter."""
    return {
        "video_key": error.video_key,
        "url": redact_text(error.url),
        "cohort": error.cohort,
        "row_number": error.row_number,
        "stage": str(error.stage),
        "error_class": error.error_class,
        "message": redact_text(error.message),
        "retryable": error.retryable,
        "input": redact_text(error.input),
        "run_id": run.run_id,
        "unit_id": None,
        "run_date": None,
        "input_key": item_key(error),
    }


def _top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.__getitem__)


def face_row(
    face: FaceCrop, probabilities: Sequence[float], labels: Sequence[str], run: RunInfo
) -> Row:
    """The `faces` row of one classified face; its smoothed columns repeat the frame's own
    until `with_smoothed` sets them from its track."""
    scores = {label: float(p) for label, p in zip(labels, probabilities, strict=True)}
    top = _top(scores)
    return {
        "video_key": face.video_key,
        "cohort": face.cohort,
        "frame_index": face.frame_index,
        "timestamp_ms": face.timestamp_ms,
        "track_id": face.track_id,
        "bbox_x": face.box.x,
        "bbox_y": face.box.y,
        "bbox_w": face.box.w,
        "bbox_h": face.box.h,
        "label": top,
        "score": scores[top],
        "scores": scores,
        "model_id": run.model_id,
        "weights_sha256": run.weights_sha256,
        "run_id": run.run_id,
        "smoothed_label": top,
        "smoothed_score": scores[top],
        "smoothed_scores": dict(scores),
        "face_px": face.face_px,
        "face_score": face.face_score,
        "sharpness": face.sharpness,
        "quality": face.quality,
        "unit_id": None,
        "run_date": None,
    }


def with_smoothed(row: Row, probabilities: Sequence[float], label: str | None = None) -> Row:
    """`row` with its smoothed columns set from `probabilities` (in the order of `scores`):
    `smoothed_label` is `label` (None: their argmax), `smoothed_score` its probability."""
    scores = {name: float(p) for name, p in zip(row["scores"], probabilities, strict=True)}
    top = _top(scores) if label is None else label
    return {**row, "smoothed_label": top, "smoothed_score": scores[top], "smoothed_scores": scores}


def item_key(record: VideoRequest | ErrorRecord) -> str:
    """The input row a record stands for: `<video key>#<row number>` of a video's row, else
    (a refused list row, a duplicate included: it carries no video key)
    `row:<cohort>:<row>:<url>` of its stored (redacted) row. The one definition: stored
    as the `input_key` column of its `videos` and `errors` rows, which the views, the
    compaction of units (`warehouse.units`) and a resumed run read (`warehouse/committed.sql`
    derives it only for rows written before the column)."""
    if isinstance(record, VideoRequest) or record.video_key is not None:
        row = record.row_number
        return record.video_key if row is None else f"{record.video_key}#{row}"
    text = redact_text(record.url if record.url is not None else record.input)
    parts = ("row", record.cohort, record.row_number, text)
    return ":".join(str(part) for part in parts if part is not None)
