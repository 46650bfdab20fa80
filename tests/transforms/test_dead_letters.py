"""Dead letters -> ErrorRecords: `request_of`, `dead_letter_to_error`, DeadLetterToError."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from affectflow.schemas.records import (
    ErrorRecord,
    FaceBox,
    FaceCrop,
    Stage,
    VideoFile,
    VideoRequest,
    VideoSummary,
)
from affectflow.transforms.dead_letters import (
    MAX_MESSAGE_CHARS,
    DeadLetterToError,
    dead_letter_to_error,
    request_of,
)

REQUEST = VideoRequest("url-abc", "https://example.org/v.mp4", "a", 3, {"note": "x"})
VIDEO = VideoFile(REQUEST, "/cache/url-abc.mp4", 2.0, 25.0, 640, 360)
SUMMARY = VideoSummary(VIDEO, 10, 2, 1, 2.0, 0.5)
FACE = FaceCrop("url-abc", "a", 5, 200, 0, FaceBox(1, 2, 3, 4), crop=np.zeros((64, 64), np.uint8))


def dead_letter(element: object, error: BaseException) -> tuple:
    """What `with_exception_handling` emits: (input, (class, repr, traceback lines))."""
    try:
        raise error
    except BaseException as caught:
        lines = traceback.format_exception(caught)
    return element, (type(error), repr(error), lines)


# ---------------------------------------------------------------- request_of


@pytest.mark.parametrize(
    "element",
    [REQUEST, VIDEO, SUMMARY],
    ids=["request", "video", "summary"],
)
def test_request_of_finds_the_request(element: object) -> None:
    assert request_of(element) is REQUEST


@pytest.mark.parametrize(
    "element",
    [
        FACE,
        ErrorRecord.for_request(REQUEST, Stage.FACES, "x"),
        "https://example.org/v.mp4",
        ("url-abc", REQUEST),
        None,
        {"request": REQUEST},
    ],
    ids=["face", "error", "str", "tuple", "none", "dict"],
)
def test_request_of_elements_without_one(element: object) -> None:
    assert request_of(element) is None


def test_request_of_ignores_a_request_attribute_of_another_type() -> None:
    class Holder:
        request = "https://example.org/v.mp4"
        video = None

    assert request_of(Holder()) is None


# ---------------------------------------------------------------- dead_letter_to_error


def test_a_dead_letter_with_a_request() -> None:
    error = dead_letter_to_error(dead_letter(SUMMARY, KeyError("fps")), Stage.FACES)
    assert error == ErrorRecord(
        stage=Stage.FACES,
        error_class="KeyError",
        message="unexpected error: KeyError('fps')",
        retryable=False,
        input=REQUEST.url,
        video_key="url-abc",
        url=REQUEST.url,
        cohort="a",
        row_number=3,
        attributes=dict(REQUEST.attributes),
    )


def test_a_dead_letter_without_a_request() -> None:
    error = dead_letter_to_error(dead_letter(FACE, ValueError("bad crop")), Stage.INFER)
    assert (error.stage, error.error_class, error.retryable) == (Stage.INFER, "ValueError", False)
    assert error.message == "unexpected error: ValueError('bad crop')"
    assert (error.video_key, error.cohort) == ("url-abc", "a")
    assert error.url is None and error.row_number is None
    assert error.input == repr(FACE)
    assert "crop=" not in error.input  # the pixels stay out of the errors table


def test_a_dead_letter_of_a_bare_value() -> None:
    error = dead_letter_to_error(dead_letter("row 4: ,,", ZeroDivisionError()), Stage.INGEST)
    assert (error.video_key, error.cohort, error.url) == (None, None, None)
    assert error.input == "'row 4: ,,'"
    assert error.error_class == "ZeroDivisionError"


def test_message_and_input_are_truncated() -> None:
    element = "x" * (3 * MAX_MESSAGE_CHARS)
    error = dead_letter_to_error(dead_letter(element, RuntimeError("y" * 5000)), Stage.FRAMES)
    assert len(error.message) == MAX_MESSAGE_CHARS
    assert error.message.startswith("unexpected error: RuntimeError('yyy")
    assert len(error.input) == MAX_MESSAGE_CHARS and error.input.startswith("'xxx")
    with_request = dead_letter_to_error(dead_letter(VIDEO, OSError("z" * 5000)), Stage.FRAMES)
    assert len(with_request.message) == MAX_MESSAGE_CHARS
    assert with_request.input == REQUEST.url


def test_error_class_of_a_class_or_of_a_name() -> None:
    class DecoderHiccup(Exception):
        pass

    assert dead_letter_to_error(dead_letter(FACE, DecoderHiccup()), Stage.FACES).error_class == (
        "DecoderHiccup"
    )
    named = dead_letter_to_error((FACE, ("cv2.error", "error('x')", [])), Stage.FACES)
    assert named.error_class == "cv2.error"


# ---------------------------------------------------------------- in a pipeline


class FailingFn(beam.DoFn):
    """Raises on every element but the request of row 0, like a stage with a bug."""

    def process(self, element: object) -> Iterator[object]:
        request = request_of(element)
        if request is not None and request.row_number == 0:
            yield element
            return
        if isinstance(element, FaceCrop):
            raise IndexError(f"track {element.track_id}")
        raise KeyError("width")


def check_messages(errors: list[ErrorRecord]) -> None:
    for error in errors:
        if not isinstance(error, ErrorRecord):
            raise BeamAssertException(repr(error))
        expected = "IndexError('track 0')" if error.video_key == "face" else "KeyError('width')"
        if error.message != f"unexpected error: {expected}":
            raise BeamAssertException(error.message)


def test_dead_letter_to_error_in_a_pipeline() -> None:
    ok = VideoRequest("ok", "https://example.org/ok.mp4", "a", 0)
    broken = VideoRequest("broken", "https://example.org/broken.mp4", "b", 1)
    broken_video = VideoFile(VideoRequest("video", "/v.mp4", "b", 2), "/v.mp4", 1.0, 25, 64, 64)
    face = FaceCrop("face", "c", 0, 0, 0, FaceBox(0, 0, 8, 8), crop=np.zeros((8, 8), np.uint8))
    pipeline = TestPipeline(runner="FnApiRunner")
    good, bad = (
        pipeline
        | beam.Create([ok, broken, broken_video, face])
        | beam.ParDo(FailingFn()).with_exception_handling()
    )
    errors = bad | DeadLetterToError(Stage.FRAMES)
    assert_that(good | "GoodKeys" >> beam.Map(lambda r: r.video_key), equal_to(["ok"]))
    assert_that(
        errors
        | "Keys"
        >> beam.Map(lambda e: (e.video_key, e.stage, e.error_class, e.url, e.cohort, e.row_number)),
        equal_to(
            [
                ("broken", Stage.FRAMES, "KeyError", "https://example.org/broken.mp4", "b", 1),
                ("video", Stage.FRAMES, "KeyError", "/v.mp4", "b", 2),
                ("face", Stage.FRAMES, "IndexError", None, "c", None),
            ]
        ),
        label="CheckErrors",
    )
    assert_that(errors, check_messages, label="CheckMessages")
    pipeline.run().wait_until_finish()
