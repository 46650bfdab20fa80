"""Record -> row: each row function against its table schema, and a Parquet round trip."""

from __future__ import annotations

import dataclasses
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectflow.schemas.records import (
    ErrorRecord,
    FaceBox,
    FaceCrop,
    RunInfo,
    Stage,
    VideoFile,
    VideoRequest,
    VideoSummary,
)
from affectflow.schemas.rows import (
    error_row,
    face_row,
    failed_video_row,
    skipped_video_row,
    summary_video_row,
    with_smoothed,
)
from affectflow.schemas.tables import ERRORS, FACES, VIDEOS

RUN = RunInfo(run_id="20250102T030405Z-r", model_id="m1", weights_sha256="f" * 64, analysis_id="a1")
REQUEST = VideoRequest("url-0a", "https://example.org/v.mp4", "depressed", 4, {"note": "x"})
VIDEO = VideoFile(
    REQUEST,
    "/cache/url-0a.mp4",
    duration_s=12.5,
    fps=29.97,
    width=640,
    height=360,
    extractor="generic",
    source_id="v",
    upload_date="20210301",
    channel_hash="c" * 16,
    title=None,
)
SUMMARY = VideoSummary(
    VIDEO, frames_sampled=125, faces_detected=80, tracks=2, decoded_s=12.5, seconds=3.25
)
EMPTY = VideoSummary(
    VIDEO, frames_sampled=125, faces_detected=0, tracks=0, decoded_s=12.5, seconds=1.0
)
ERROR = ErrorRecord.for_request(REQUEST, Stage.DOWNLOAD, "HTTP Error 404", retryable=True)
BAD_ROW = ErrorRecord(Stage.INGEST, "BadRow", "no url column", False, input="row 7: ,x,")
LABELS = ("angry", "happy", "neutral")
FACE = FaceCrop("url-0a", "depressed", 30, 1001, 1, FaceBox(10, 20, 64, 66), crop=None)

REQUEST_COLUMNS = {
    "video_key", "url", "cohort", "status", "run_id", "row_number", "attributes",
    "model_id", "analysis_id", "unit_id", "run_date", "input_key",
}  # fmt: skip
# what a failed input leaves: the request's columns (its list's attributes too), nothing
# of the file
FAILED_COLUMNS = REQUEST_COLUMNS | {"error"}


def round_trip(rows: list[dict], schema: pa.Schema) -> list[dict]:
    """Rows -> Arrow -> Parquet bytes -> rows, as the sinks write and analysts read them."""
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    back = pq.read_table(io.BytesIO(sink.getvalue()))
    assert back.schema.equals(schema)
    return back.to_pylist()


# ---------------------------------------------------------------- videos


def test_summary_row_has_every_videos_column() -> None:
    row = summary_video_row(SUMMARY, RUN)
    assert set(row) == set(VIDEOS.names) and len(row) == len(VIDEOS.names)


def test_summary_row_duration_is_the_decoded_one_when_larger() -> None:
    # the file says 12.5 s: its decoded frames, not its header, decide when they run longer
    longer = dataclasses.replace(SUMMARY, decoded_s=20.0)
    assert summary_video_row(longer, RUN)["duration_s"] == 20.0
    assert summary_video_row(SUMMARY, RUN)["duration_s"] == 12.5
    unknown = dataclasses.replace(SUMMARY, video=dataclasses.replace(VIDEO, duration_s=None))
    assert summary_video_row(unknown, RUN)["duration_s"] == 12.5


def test_summary_row_values() -> None:
    row = summary_video_row(SUMMARY, RUN)
    assert row["status"] == "ok" and type(row["status"]) is str
    assert summary_video_row(EMPTY, RUN)["status"] == "no_faces"
    assert (row["video_key"], row["url"], row["cohort"], row["row_number"]) == (
        "url-0a",
        "https://example.org/v.mp4",
        "depressed",
        4,
    )
    assert (row["run_id"], row["model_id"], row["analysis_id"]) == (
        "20250102T030405Z-r",
        "m1",
        "a1",
    )
    assert (row["duration_s"], row["fps"], row["width"], row["height"]) == (12.5, 29.97, 640, 360)
    assert (row["extractor"], row["source_id"], row["upload_date"]) == ("generic", "v", "20210301")
    assert (row["channel_hash"], row["title"]) == ("c" * 16, None)
    assert (row["frames_sampled"], row["faces_detected"], row["tracks"]) == (125, 80, 2)
    assert row["seconds"] == 3.25
    assert row["attributes"] == {"note": "x"}
    row["attributes"]["note"] = "changed"  # a copy: the request is not touched
    assert REQUEST.attributes == {"note": "x"}


def test_skipped_row_has_the_request_columns_only() -> None:
    row = skipped_video_row(REQUEST, RUN)
    assert set(row) == REQUEST_COLUMNS and set(VIDEOS.names) > REQUEST_COLUMNS
    assert row["status"] == "skipped" and type(row["status"]) is str
    assert (row["video_key"], row["url"], row["cohort"], row["row_number"]) == (
        "url-0a",
        "https://example.org/v.mp4",
        "depressed",
        4,
    )
    assert row["attributes"] == {"note": "x"} and row["analysis_id"] == "a1"


def test_failed_row_has_the_request_columns() -> None:
    row = failed_video_row(ERROR, RUN)
    assert set(row) == FAILED_COLUMNS
    assert row["attributes"] == {"note": "x"}  # reports name a failed video by its note
    assert failed_video_row(BAD_ROW, RUN)["attributes"] == {}
    assert row["status"] == "failed" and type(row["status"]) is str
    assert (row["video_key"], row["url"], row["cohort"], row["row_number"]) == (
        "url-0a",
        "https://example.org/v.mp4",
        "depressed",
        4,
    )
    assert (row["run_id"], row["model_id"], row["analysis_id"]) == (
        "20250102T030405Z-r",
        "m1",
        "a1",
    )


def test_failed_row_of_an_input_without_url_names_its_input() -> None:
    row = failed_video_row(BAD_ROW, RUN)
    assert (row["video_key"], row["url"], row["cohort"], row["row_number"]) == (
        None,
        "row 7: ,x,",
        None,
        None,
    )


def test_videos_rows_round_trip_through_parquet() -> None:
    rows = [
        summary_video_row(SUMMARY, RUN),
        summary_video_row(EMPTY, RUN),
        skipped_video_row(REQUEST, RUN),
        failed_video_row(ERROR, RUN),
        failed_video_row(BAD_ROW, RUN),
    ]
    back = round_trip(rows, VIDEOS)
    assert [r["status"] for r in back] == ["ok", "no_faces", "skipped", "failed", "failed"]
    assert back[0]["attributes"] == [("note", "x")]  # a Parquet map reads back as pairs
    for row, read in zip(rows, back, strict=True):
        expected = {name: row.get(name) for name in VIDEOS.names}
        if expected["attributes"] is not None:
            expected["attributes"] = list(expected["attributes"].items())
        assert read == expected
    # the columns a skipped or failed row leaves out are null
    assert back[2]["frames_sampled"] is None and back[3]["duration_s"] is None


# ---------------------------------------------------------------- errors


def test_error_row_has_every_errors_column() -> None:
    row = error_row(ERROR, RUN)
    assert set(row) == set(ERRORS.names) and len(row) == len(ERRORS.names)


def test_error_row_values() -> None:
    row = error_row(ERROR, RUN)
    assert row == {
        "video_key": "url-0a",
        "url": "https://example.org/v.mp4",
        "cohort": "depressed",
        "row_number": 4,
        "stage": "download",
        "error_class": "Error",
        "message": "HTTP Error 404",
        "retryable": True,
        "input": "https://example.org/v.mp4",
        "run_id": "20250102T030405Z-r",
        "unit_id": None,
        "run_date": None,
        "input_key": "url-0a#4",  # its video and its list row (`rows.item_key`)
    }
    assert type(row["stage"]) is str


def test_errors_rows_round_trip_through_parquet() -> None:
    rows = [error_row(ERROR, RUN), error_row(BAD_ROW, RUN)]
    assert round_trip(rows, ERRORS) == rows


# ---------------------------------------------------------------- faces


def test_face_row_has_every_faces_column() -> None:
    row = face_row(FACE, [0.2, 0.5, 0.3], LABELS, RUN)
    assert set(row) == set(FACES.names) and len(row) == len(FACES.names)


def test_face_row_values() -> None:
    row = face_row(FACE, [0.2, 0.5, 0.3], LABELS, RUN)
    assert row["label"] == "happy" and row["score"] == 0.5
    assert row["scores"] == {"angry": 0.2, "happy": 0.5, "neutral": 0.3}
    assert all(type(p) is float for p in row["scores"].values())
    assert (row["video_key"], row["cohort"], row["frame_index"], row["timestamp_ms"]) == (
        "url-0a",
        "depressed",
        30,
        1001,
    )
    assert row["track_id"] == 1
    assert (row["bbox_x"], row["bbox_y"], row["bbox_w"], row["bbox_h"]) == (10, 20, 64, 66)
    assert (row["model_id"], row["weights_sha256"], row["run_id"]) == ("m1", "f" * 64, RUN.run_id)


def test_face_row_label_is_the_first_of_equal_top_scores() -> None:
    assert face_row(FACE, [0.4, 0.4, 0.2], LABELS, RUN)["label"] == "angry"
    assert face_row(FACE, [0.1, 0.45, 0.45], LABELS, RUN)["label"] == "happy"


def test_face_row_needs_one_probability_per_label() -> None:
    with pytest.raises(ValueError):
        face_row(FACE, [0.5, 0.5], LABELS, RUN)


def test_faces_rows_round_trip_through_parquet() -> None:
    rows = [face_row(FACE, [0.25, 0.5, 0.25], LABELS, RUN), face_row(FACE, [1, 0, 0], LABELS, RUN)]
    back = round_trip(rows, FACES)
    assert [r["label"] for r in back] == ["happy", "angry"]
    assert back[0]["scores"] == [("angry", 0.25), ("happy", 0.5), ("neutral", 0.25)]
    for row, read in zip(rows, back, strict=True):
        as_pairs = {k: list(row[k].items()) for k in ("scores", "smoothed_scores")}
        assert read == {**row, **as_pairs}


def test_face_row_smoothed_columns_repeat_the_frame_until_smoothed() -> None:
    row = face_row(FACE, [0.2, 0.5, 0.3], LABELS, RUN)
    assert (row["smoothed_label"], row["smoothed_score"]) == ("happy", 0.5)
    assert row["smoothed_scores"] == row["scores"] and row["smoothed_scores"] is not row["scores"]
    smoothed = with_smoothed(row, [0.6, 0.3, 0.1])
    assert (smoothed["smoothed_label"], smoothed["smoothed_score"]) == ("angry", 0.6)
    assert smoothed["smoothed_scores"] == {"angry": 0.6, "happy": 0.3, "neutral": 0.1}
    assert (smoothed["label"], smoothed["scores"]) == (row["label"], row["scores"])
    with pytest.raises(ValueError):
        with_smoothed(row, [0.5, 0.5])


def test_a_duplicate_row_is_an_input_of_its_own_not_the_video_it_repeats() -> None:
    """A resumed run that committed the duplicate (row 7) has not done row 2's video."""
    from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest
    from affectflow.schemas.rows import item_key

    request = VideoRequest("url-0123456789abcdef", "https://e.org/v.mp4", "a", 2, {})
    duplicate = ErrorRecord(
        Stage.INGEST, "BadRow", "duplicate of row 2 (url-0123456789abcdef)", False,
        input="https://e.org/v.mp4", video_key=request.video_key, url=request.url,
        cohort="a", row_number=7,
    )  # fmt: skip
    assert item_key(request) == "url-0123456789abcdef#2"
    assert item_key(duplicate) == "url-0123456789abcdef#7"


def test_a_row_without_a_video_keeps_its_list_row_as_input_key() -> None:
    """Refused rows of one URL stay distinct inputs: the key is computed once, stored."""
    refused = dataclasses.replace(ERROR, video_key=None, url="https://u:p@example.org/v")
    row = error_row(refused, RUN)
    assert row["input_key"] == "row:depressed:4:https://example.org/v"  # redacted
    assert failed_video_row(refused, RUN)["input_key"] == row["input_key"]
    other_row = dataclasses.replace(refused, row_number=5)
    assert error_row(other_row, RUN)["input_key"] != row["input_key"]
