"""The records that flow between stages: statuses, ErrorRecord.for_request, frozen, pickled."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
from apache_beam.internal import pickler

from affectflow.schemas.records import (
    ErrorRecord,
    FaceBox,
    FaceCrop,
    RunInfo,
    Stage,
    VideoFile,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)

REQUEST = VideoRequest("url-0a", "https://example.org/v.mp4", "a", 4, {"note": "x"})
VIDEO = VideoFile(REQUEST, "/cache/url-0a.mp4", 2.4, 25.0, 640, 360, extractor="generic")
CROP = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
RECORDS = {
    "request": REQUEST,
    "video": VIDEO,
    "box": FaceBox(1, 2, 3, 4),
    "face": FaceCrop("url-0a", "a", 5, 200, 0, FaceBox(1, 2, 3, 4), crop=CROP),
    "summary": VideoSummary(VIDEO, 12, 3, 1, 2.4, 0.5),
    "error": ErrorRecord.for_request(REQUEST, Stage.FACES, ValueError("bad")),
    "run": RunInfo("20250101T000000Z-r", "m", "0" * 64, "a1"),
}


# ---------------------------------------------------------------- statuses and stages


def test_statuses_and_stages_are_their_strings() -> None:
    assert [str(s) for s in VideoStatus] == ["ok", "no_faces", "skipped", "duplicate", "failed"]
    assert [str(s) for s in Stage] == ["ingest", "download", "frames", "faces", "infer", "commit"]
    for member in [*VideoStatus, *Stage]:
        assert isinstance(member, str) and member == member.value
        assert f"{member}" == member.value
        assert json.dumps(member) == f'"{member.value}"'
        assert type(member)(member.value) is member
    with pytest.raises(ValueError):
        Stage("inference")


def test_summary_status_follows_the_faces() -> None:
    assert RECORDS["summary"].status is VideoStatus.OK
    empty = dataclasses.replace(RECORDS["summary"], faces_detected=0, tracks=0)
    assert empty.status is VideoStatus.NO_FACES


# ---------------------------------------------------------------- ErrorRecord.for_request


def test_for_request_from_an_exception() -> None:
    error = ErrorRecord.for_request(REQUEST, Stage.DOWNLOAD, OSError("disk full"))
    assert error == ErrorRecord(
        stage=Stage.DOWNLOAD,
        error_class="OSError",
        message="disk full",
        retryable=False,
        input="https://example.org/v.mp4",
        video_key="url-0a",
        url="https://example.org/v.mp4",
        cohort="a",
        row_number=4,
        attributes=dict(REQUEST.attributes),
    )


def test_for_request_from_a_message() -> None:
    error = ErrorRecord.for_request(REQUEST, Stage.FRAMES, "decoded only 1.0 of 2.4 s")
    assert (error.error_class, error.message) == ("Error", "decoded only 1.0 of 2.4 s")


def test_for_request_keeps_a_given_class_and_retryable() -> None:
    error = ErrorRecord.for_request(
        REQUEST, Stage.DOWNLOAD, TimeoutError("slow"), retryable=True, error_class="Timeout"
    )
    assert (error.error_class, error.message, error.retryable) == ("Timeout", "slow", True)
    named = ErrorRecord.for_request(REQUEST, Stage.INFER, "x", error_class="IncompleteDecode")
    assert named.error_class == "IncompleteDecode" and named.retryable is False


# ---------------------------------------------------------------- frozen and picklable


@pytest.mark.parametrize("name", list(RECORDS))
def test_records_are_frozen(name: str) -> None:
    record = RECORDS[name]
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


@pytest.mark.parametrize(
    "dumps, loads",
    [(pickle.dumps, pickle.loads), (pickler.dumps, pickler.loads)],
    ids=["pickle", "beam"],
)
@pytest.mark.parametrize("name", list(RECORDS))
def test_records_survive_pickling(name: str, dumps, loads) -> None:
    record = RECORDS[name]
    back = loads(dumps(record))
    assert back == record and type(back) is type(record)
    assert back is not record


def test_a_face_crop_keeps_its_pixels_through_pickling() -> None:
    face = RECORDS["face"]
    back = pickler.loads(pickler.dumps(face))
    assert back.crop.dtype == np.uint8 and np.array_equal(back.crop, CROP)


def test_pickled_statuses_stay_members() -> None:
    error = pickle.loads(pickle.dumps(RECORDS["error"]))
    assert error.stage is Stage.FACES


def test_equal_faces_need_not_have_equal_pixels() -> None:
    face = RECORDS["face"]
    assert dataclasses.replace(face, crop=None) == face
    assert hash(dataclasses.replace(face, crop=None)) == hash(face)


@pytest.mark.parametrize("name", ["box", "face", "error", "run", "request", "video", "summary"])
def test_frozen_records_are_hashable(name: str) -> None:
    record = RECORDS[name]
    assert hash(record) == hash(pickle.loads(pickle.dumps(record)))
