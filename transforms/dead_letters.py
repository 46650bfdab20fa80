"""Turn Beam's dead letters into `ErrorRecord`s.

Stages catch the failures they expect (a dead URL, a corrupt file) and emit an
`ErrorRecord` on their `failed` output. Anything unexpected is caught by
`ParDo(...).with_exception_handling()`, whose bad output is
`(input, (exception_class, repr(exception), traceback_lines))`; `DeadLetterToError`
maps those into the same record so the errors table has one shape.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest

MAX_MESSAGE_CHARS = 2000


def request_of(element: Any) -> VideoRequest | None:
    """The `VideoRequest` an element of any stage came from, if it has one."""
    if isinstance(element, VideoRequest):
        return element
    request = getattr(element, "request", None)
    if isinstance(request, VideoRequest):
        return request
    video = getattr(element, "video", None)
    return request_of(video) if video is not None else None


def dead_letter_to_error(bad: tuple[Any, tuple[Any, str, Any]], stage: Stage) -> ErrorRecord:
    """Map one `with_exception_handling` dead letter to an `ErrorRecord`."""
    element, (exc_class, exc_repr, _traceback) = bad
    error_class = getattr(exc_class, "__name__", str(exc_class))
    message = f"unexpected error: {exc_repr}"[:MAX_MESSAGE_CHARS]
    request = request_of(element)
    if request is not None:
        return ErrorRecord.for_request(request, stage, message, error_class=error_class)
    return ErrorRecord(
        stage=stage,
        error_class=error_class,
        message=message,
        retryable=False,
        input=repr(element)[:MAX_MESSAGE_CHARS],
        video_key=getattr(element, "video_key", None),
        cohort=getattr(element, "cohort", None),
    )


class DeadLetterToError(beam.PTransform):
    """PCollection of dead letters -> PCollection[ErrorRecord]."""

    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self._stage = stage

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.Map(dead_letter_to_error, stage=self._stage)
