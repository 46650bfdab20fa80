"""Stages 3 and 4 as one Beam step: VideoFile -> face crops, a video summary, or a failure.

Decoding, detection and cropping run inside one DoFn so that frames never become
elements (they would be materialised at a stage boundary: notes/beam.md). Face crops
are yielded as they are found, so a long video never accumulates its crops.

Decoding stops at the first frame past `max_duration_s` (+1 s), whatever the header
says: a `frames` failure. The download stage refuses such files by their timestamps
already; this bounds the rest (e.g. a file cached before that check).

Because faces stream out, a video that fails after it started giving faces keeps
them: one whose decode stops well short of its duration or runs past the limit (a
`frames` failure, known only then), and one that raises an unexpected exception,
caught by `with_exception_handling(partial=True)` (partial keeps memory flat; the default would
buffer every output of the video). Faces rows can therefore carry a video_key whose
`videos` row says failed: readers that want complete videos only join on status.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Generator, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils.shared import Shared

from affectflow.media.face_crops import face_crop, write_debug_crop
from affectflow.media.frames import (
    DecodeProgress,
    DurationExceededError,
    FrameDecodeError,
    FrameTooLargeError,
    SampledFrame,
    iter_sampled_frames,
)
from affectflow.media.still_faces import face_detectors
from affectflow.media.tracking import FaceDetector, FaceFinder, IoUTracker, TrackConfirmation
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.threads import available_cores, set_threads
from affectflow.schemas.records import (
    FAILED,
    ErrorRecord,
    FaceBox,
    FaceCrop,
    Stage,
    VideoFile,
    VideoSummary,
)
from affectflow.schemas.settings import DetectSettings
from affectflow.transforms.dead_letters import DeadLetterToError
from affectflow.transforms.metrics import counter

SUMMARIES = "summaries"
# Decoding stops at the first frame this far past max_duration_s (container rounding).
MAX_DURATION_SLACK_S = 1.0

# Per-video details at DEBUG; the one line per video is printed from `transforms.units`.
PROGRESS = logging.getLogger("affectflow.progress")


class ProcessTimeoutError(Exception):
    """A video's processing after its download ran past `process_timeout_s`."""


@dataclasses.dataclass
class _Counts:
    frames: int = 0
    faces: int = 0


class DetectFacesFn(beam.DoFn):
    """One video -> FaceCrop per face per sampled frame, then its summary or a failure."""

    def __init__(self, settings: DetectSettings) -> None:
        self._settings = settings
        self._shared = Shared()  # one MTCNN per worker process, whatever its DoFn copies

    def setup(self) -> None:
        settings = self._settings
        self._threads = settings.runtime.threads or available_cores()
        set_threads(self._threads)  # before MTCNN loads: ONNX Runtime takes torch's count
        detectors = face_detectors(settings, self._shared)  # one MTCNN per worker process
        self._detector: FaceDetector = detectors[0]
        self._checker: MtcnnDetector = detectors[1]
        self._frames_sampled = counter("frames_sampled")
        self._faces_detected = counter("faces_detected")
        self._videos_analyzed = counter("videos_analyzed")
        self._videos_failed = counter("detect_failures")
        self._faces_unconfirmed = counter("faces_unconfirmed")
        self._faces_rejected = counter("faces_rejected")
        self._faces_low_quality = counter("faces_low_quality")
        self._full_searches = counter("frames_searched_whole")

    def process(self, video: VideoFile) -> Iterator[Any]:
        start = time.perf_counter()
        progress, counts = DecodeProgress(), _Counts()
        tracker = IoUTracker()
        settings = self._settings
        finder = FaceFinder(
            self._detector,
            tracker,
            settings.detect_width,
            settings.detect_every,
            checker=self._checker,
            min_score=settings.min_face_score,
        )
        gate: TrackConfirmation[FaceCrop] = TrackConfirmation(settings.min_track_frames)
        limit_s = settings.process_timeout_s
        deadline = None if limit_s is None else start + limit_s
        faces = self._faces(video, progress, counts, finder, gate, deadline)
        error = yield from _held_back(faces)
        if error is not None:
            yield self._stopped(video, progress, error, start)
            return
        problem = progress.shortfall(video.duration_s, self._settings.trim_s)
        if problem is not None:
            yield self._failure(video, Stage.FRAMES, problem, start)
            return
        summary = VideoSummary(
            video=video,
            frames_sampled=counts.frames,
            faces_detected=counts.faces,
            tracks=len(gate.confirmed),
            decoded_s=progress.decoded_s,
            seconds=time.perf_counter() - start,
        )
        self._videos_analyzed.inc()
        PROGRESS.debug(
            "video_key=%s status=%s frames=%d faces=%d tracks=%d seconds=%.1f",
            video.request.video_key,
            summary.status,
            summary.frames_sampled,
            summary.faces_detected,
            summary.tracks,
            summary.seconds,
        )
        yield beam.pvalue.TaggedOutput(SUMMARIES, summary)

    def _faces(
        self,
        video: VideoFile,
        progress: DecodeProgress,
        counts: _Counts,
        finder: FaceFinder,
        gate: TrackConfirmation[FaceCrop],
        deadline: float | None,
    ) -> Iterator[FaceCrop]:
        """Faces of confirmed tracks, in frame order within each track; ProcessTimeoutError
        once `deadline` (perf_counter) passed: decoding, detection and the inference of
        the faces yielded (fused into this step) all count."""
        settings = self._settings
        limit_s = settings.limits.max_duration_s
        frames = iter_sampled_frames(
            video.path,
            fps=settings.fps,
            trim_s=settings.trim_s,
            progress=progress,
            threads=self._threads,
            max_s=None if limit_s is None else limit_s + MAX_DURATION_SLACK_S,
            max_pixels=settings.limits.max_pixels,
        )
        for frame, whole in self._searched(frames):
            if deadline is not None and time.perf_counter() > deadline:
                raise ProcessTimeoutError(
                    f"processing took over {settings.process_timeout_s:g} s "
                    f"(--process-timeout), stopped after {counts.frames} sampled frames"
                )
            counts.frames += 1
            self._frames_sampled.inc()
            checks = finder.find(frame.gray, whole)
            track_ids = finder.tracker.update([check.box for check in checks])
            for check, track_id in zip(checks, track_ids, strict=True):
                face = face_crop(video.request, frame, check, track_id, settings)
                if face.quality is not None and face.quality < settings.min_face_quality:
                    self._faces_low_quality.inc()
                    continue
                yield from self._confirmed(gate.add(track_id, face), counts)
            gate.expire(finder.tracker.live_ids)
        yield from self._confirmed(gate.finish(counts.frames), counts)
        self._faces_unconfirmed.inc(gate.dropped)
        self._faces_rejected.inc(finder.rejected)
        self._full_searches.inc(finder.full_searches)

    def _confirmed(self, faces: list[FaceCrop], counts: _Counts) -> Iterator[FaceCrop]:
        """Faces the track gate let through: counted (and written as debug crops)."""
        for face in faces:
            counts.faces += 1
            self._faces_detected.inc()
            if self._settings.debug_crops_dir:
                write_debug_crop(self._settings.debug_crops_dir, face)
            yield face

    def _searched(
        self, frames: Iterator[SampledFrame]
    ) -> Iterator[tuple[SampledFrame, list[FaceBox] | None]]:
        """Frames with their whole-frame MTCNN search done `detect_batch` at a time (GPU).

        (frame, None) one by one when batching is off or the detector is Haar.
        """
        size = self._settings.detect_batch
        if size <= 1 or not isinstance(self._detector, MtcnnDetector):
            yield from ((frame, None) for frame in frames)
            return
        while batch := list(itertools.islice(frames, size)):
            shape = batch[0].gray.shape
            if any(frame.gray.shape != shape for frame in batch):  # a size change mid-video
                yield from ((frame, None) for frame in batch)
                continue
            width = self._settings.detect_width
            found = self._detector.search_batch([frame.gray for frame in batch], width)
            yield from zip(batch, found, strict=True)

    def _stopped(
        self, video: VideoFile, progress: DecodeProgress, error: Exception, start: float
    ) -> beam.pvalue.TaggedOutput:
        """The failure of a video whose decoding or processing was stopped by `error`."""
        if isinstance(error, DurationExceededError):
            message = self._too_long(video, progress)
            return self._failure(video, Stage.FRAMES, message, start, "MaxDurationExceeded")
        if isinstance(error, FrameTooLargeError):
            return self._failure(video, Stage.FRAMES, error, start, "MaxPixelsExceeded")
        if isinstance(error, ProcessTimeoutError):
            return self._failure(video, Stage.FACES, error, start, "ProcessTimeout")
        return self._failure(video, Stage.FRAMES, error, start)

    def _too_long(self, video: VideoFile, progress: DecodeProgress) -> str:
        """Why decoding stopped: a frame past max_duration_s (the header said less)."""
        header = "no duration" if video.duration_s is None else f"{video.duration_s:.1f} s"
        return (
            f"decodes past {progress.decoded_s:.1f} s although its "
            f"header says {header}, over max_duration {self._settings.limits.max_duration_s:g} s"
        )

    def _failure(
        self,
        video: VideoFile,
        stage: Stage,
        error: BaseException | str,
        start: float,
        error_class: str | None = None,
    ) -> beam.pvalue.TaggedOutput:
        self._videos_failed.inc()
        error_class = error_class or _class(error)
        record = ErrorRecord.for_request(video.request, stage, error, error_class=error_class)
        PROGRESS.debug(
            "video_key=%s status=failed stage=%s error=%s seconds=%.1f",
            video.request.video_key,
            stage,
            record.message,
            time.perf_counter() - start,
        )
        return beam.pvalue.TaggedOutput(FAILED, record)


def _held_back(faces: Iterator[FaceCrop]) -> Generator[FaceCrop, None, Exception | None]:
    """The faces one behind, the video's last marked `last_of_video` (inference then
    classifies its batch at once, not when the next video's faces come); returns the
    error that stopped decoding or processing, if one did."""
    previous, stopped = None, None
    try:
        for face in faces:
            if previous is not None:
                yield previous
            previous = face
    except (FrameDecodeError, ProcessTimeoutError) as error:
        stopped = error
    if previous is not None:
        yield dataclasses.replace(previous, last_of_video=True)
    return stopped


def _class(error: BaseException | str) -> str:
    return type(error).__name__ if isinstance(error, BaseException) else "IncompleteDecode"


class DetectFaces(beam.PTransform):
    """PCollection[VideoFile] -> `(faces, summaries, failed)`.

    FaceCrop per detected face per sampled frame, one VideoSummary per analysed video,
    ErrorRecord (stage frames, or faces for unexpected errors) per failed video.
    `settings.detect_width` (None or 0: full size) and `detect_every` choose the fast
    path (`tracking.FaceFinder`); `detect_width=None, detect_every=1` is full-size Haar.
    """

    def __init__(self, settings: DetectSettings, *, split_failures: bool = False) -> None:
        """`split_failures`: `failed` as a tuple of PCollections, not flattened into one."""
        super().__init__()
        self._fn = DetectFacesFn(settings)
        self._split_failures = split_failures

    def expand(
        self, videos: beam.PCollection
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        detect = beam.ParDo(self._fn).with_output_types(
            FaceCrop, summaries=VideoSummary, failed=ErrorRecord
        )
        outputs = videos | "Detect" >> detect.with_outputs(
            SUMMARIES, FAILED, main="faces"
        ).with_exception_handling(partial=True)
        unexpected = outputs["bad"] | "UnexpectedErrors" >> DeadLetterToError(Stage.FACES)
        if self._split_failures:  # no Flatten: batch runners run one after its inputs finish
            failed = (outputs[FAILED], unexpected)
        else:
            failed = (outputs[FAILED], unexpected) | "AllFailed" >> beam.Flatten()
        return outputs["faces"], outputs[SUMMARIES], failed
