"""Stages 3 and 4 as one Beam step: VideoFile -> face crops, a video summary, or a failure.

Decoding, detection and cropping run inside one DoFn so that frames never become
elements (they would be materialised at a stage boundary: notes/beam.md). Face crops
are yielded as they are found, so a long video never accumulates its crops.

Because faces stream out, a video that fails after it started giving faces keeps
them: one whose decode stops well short of its duration (a `frames` failure, known
only at the end), and one that raises an unexpected exception, caught by
`with_exception_handling(partial=True)` (partial keeps memory flat; the default would
buffer every output of the video). Faces rows can therefore carry a video_key whose
`videos` row says failed: readers that want complete videos only join on status.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import cv2
from apache_beam.metrics import Metrics

from affectflow.models.faces import HaarFaceDetector, crop_face
from affectflow.schemas.records import ErrorRecord, FaceCrop, Stage, VideoFile, VideoSummary
from affectflow.transforms.dead_letters import DeadLetterToError
from affectflow.transforms.frames import DecodeProgress, FrameDecodeError, iter_sampled_frames
from affectflow.transforms.tracking import FaceFinder, IoUTracker, TrackConfirmation

FAILED = "failed"
SUMMARIES = "summaries"
# A video fails when decoding stops before this share of its duration, minus a slack.
MIN_DECODED_FRACTION = 0.9
DECODED_SLACK_S = 1.0
# The fast path (benchmarks/detect.py): Haar on frames shrunk to 480 px wide (a 50 px
# face of a 640 px frame stays 37 px, well above the cascade's 24 px window; at 320 px
# small faces were lost), the whole frame searched every 4th sampled frame and on track
# loss, tracked faces followed at full size in between. On tests/data/videos at 10 fps
# it keeps 96% of all face hits of full-size every-frame Haar (98% of the confirmed
# ones) with about a third fewer whole-frame searches than 320 px every 2nd frame.
DETECT_WIDTH = 480
DETECT_EVERY = 4

# Per-video details at DEBUG; the one INFO line per video is `outcomes.CountStatusFn`.
PROGRESS = logging.getLogger("affectflow.progress")


@dataclasses.dataclass
class _Counts:
    frames: int = 0
    faces: int = 0


class DetectFacesFn(beam.DoFn):
    """One video -> FaceCrop per face per sampled frame, then its summary or a failure."""

    def __init__(
        self,
        fps: float = 10.0,
        trim_s: float = 0.0,
        crop_size: int = 64,
        crop_margin_px: int = 10,
        clahe: bool = False,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: tuple[int, int] = (50, 50),
        cv2_threads: int | None = None,
        min_track_frames: int = 3,
        detect_width: int | None = DETECT_WIDTH,
        detect_every: int = DETECT_EVERY,
        debug_crops_dir: str | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self._fps = fps
        self._detect_width = detect_width
        self._detect_every = detect_every
        self._min_track_frames = min_track_frames
        self._trim_s = trim_s
        self._crop_size = crop_size
        self._crop_margin_px = crop_margin_px
        self._clahe = clahe
        self._detector_args = (scale_factor, min_neighbors, tuple(min_size))
        self._cv2_threads = cv2_threads
        self._debug_crops_dir = debug_crops_dir

    def setup(self) -> None:
        if self._cv2_threads is not None:
            cv2.setNumThreads(self._cv2_threads)
        self._detector = HaarFaceDetector(*self._detector_args)
        self._detector.load()
        self._frames_sampled = Metrics.counter("affectflow", "frames_sampled")
        self._faces_detected = Metrics.counter("affectflow", "faces_detected")
        self._videos_analyzed = Metrics.counter("affectflow", "videos_analyzed")
        self._videos_failed = Metrics.counter("affectflow", "detect_failures")
        self._faces_unconfirmed = Metrics.counter("affectflow", "faces_unconfirmed")
        self._full_searches = Metrics.counter("affectflow", "frames_searched_whole")

    def process(self, video: VideoFile) -> Iterator[Any]:
        start = time.perf_counter()
        progress, counts = DecodeProgress(), _Counts()
        tracker = IoUTracker()
        finder = FaceFinder(self._detector, tracker, self._detect_width, self._detect_every)
        gate: TrackConfirmation[FaceCrop] = TrackConfirmation(self._min_track_frames)
        try:
            yield from self._faces(video, progress, counts, finder, gate)
        except FrameDecodeError as error:
            yield self._failure(video, Stage.FRAMES, error, start)
            return
        decoded_s = (progress.last_timestamp_ms or 0.0) / 1000.0
        problem = self._decode_problem(video, progress, decoded_s)
        if problem is not None:
            yield self._failure(video, Stage.FRAMES, problem, start)
            return
        summary = VideoSummary(
            video=video,
            frames_sampled=counts.frames,
            faces_detected=counts.faces,
            tracks=len(gate.confirmed),
            decoded_s=decoded_s,
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
    ) -> Iterator[FaceCrop]:
        """Faces of confirmed tracks, in frame order within each track."""
        request = video.request
        for frame in iter_sampled_frames(
            video.path,
            fps=self._fps,
            trim_s=self._trim_s,
            progress=progress,
            threads=self._cv2_threads,
        ):
            counts.frames += 1
            self._frames_sampled.inc()
            boxes = finder.find(frame.gray)
            for box, track_id in zip(boxes, finder.tracker.update(boxes), strict=True):
                crop = crop_face(
                    frame.gray, box, self._crop_size, self._crop_margin_px, clahe=self._clahe
                )
                face = FaceCrop(
                    video_key=request.video_key,
                    cohort=request.cohort,
                    frame_index=frame.frame_index,
                    timestamp_ms=frame.timestamp_ms,
                    track_id=track_id,
                    box=box,
                    crop=crop,
                )
                for ready in gate.add(track_id, face):
                    counts.faces += 1
                    self._faces_detected.inc()
                    if self._debug_crops_dir:
                        write_debug_crop(self._debug_crops_dir, ready)
                    yield ready
            gate.expire(finder.tracker.live_ids)
        gate.finish()
        self._faces_unconfirmed.inc(gate.dropped)
        self._full_searches.inc(finder.full_searches)

    def _decode_problem(
        self, video: VideoFile, progress: DecodeProgress, decoded_s: float
    ) -> str | None:
        """Why a video that opened did not decode far enough, or None when it did."""
        if progress.frames_decoded == 0:
            return "no frame decoded"
        if progress.frames_kept == 0 and self._trim_s > 0:
            return f"no frame left after trimming {self._trim_s:g} s from each end"
        expected_s = video.duration_s
        if not expected_s:
            return None
        if self._trim_s > 0:
            expected_s -= self._trim_s
        if decoded_s < MIN_DECODED_FRACTION * expected_s - DECODED_SLACK_S:
            return f"decoded only {decoded_s:.1f} of {expected_s:.1f} s"
        return None

    def _failure(
        self, video: VideoFile, stage: Stage, error: BaseException | str, start: float
    ) -> beam.pvalue.TaggedOutput:
        self._videos_failed.inc()
        record = ErrorRecord.for_request(video.request, stage, error, error_class=_class(error))
        PROGRESS.debug(
            "video_key=%s status=failed stage=%s error=%s seconds=%.1f",
            video.request.video_key,
            stage,
            record.message,
            time.perf_counter() - start,
        )
        return beam.pvalue.TaggedOutput(FAILED, record)


def write_debug_crop(root: str, face: FaceCrop) -> str:
    """Save a face crop as `<root>/<video_key>/<frame>-t<track>.png` (debugging only).

    Face crops are personal data: they are written only when a user asks with
    `--debug-crops DIR`. `video_key` is path-safe by construction (see ingest).
    """
    folder = os.path.join(root, face.video_key)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{face.frame_index:06d}-t{face.track_id}.png")
    if not cv2.imwrite(path, face.crop):
        raise OSError(f"could not write debug crop {path}")
    return path


def _class(error: BaseException | str) -> str:
    return type(error).__name__ if isinstance(error, BaseException) else "IncompleteDecode"


class DetectFaces(beam.PTransform):
    """PCollection[VideoFile] -> `(faces, summaries, failed)`.

    FaceCrop per detected face per sampled frame, one VideoSummary per analysed video,
    ErrorRecord (stage frames, or faces for unexpected errors) per failed video.
    `detect_width` (None or 0: full size) and `detect_every` choose the fast path
    (`tracking.FaceFinder`); `detect_width=None, detect_every=1` is full-size Haar.
    """

    def __init__(
        self,
        fps: float = 10.0,
        trim_s: float = 0.0,
        crop_size: int = 64,
        crop_margin_px: int = 10,
        clahe: bool = False,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: tuple[int, int] = (50, 50),
        cv2_threads: int | None = None,
        min_track_frames: int = 3,
        detect_width: int | None = DETECT_WIDTH,
        detect_every: int = DETECT_EVERY,
        debug_crops_dir: str | None = None,
    ) -> None:
        super().__init__()
        self._fn = DetectFacesFn(
            fps=fps,
            trim_s=trim_s,
            crop_size=crop_size,
            crop_margin_px=crop_margin_px,
            clahe=clahe,
            scale_factor=scale_factor,
            min_neighbors=min_neighbors,
            min_size=min_size,
            cv2_threads=cv2_threads,
            min_track_frames=min_track_frames,
            detect_width=detect_width,
            detect_every=detect_every,
            debug_crops_dir=debug_crops_dir,
        )

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
        failed = (outputs[FAILED], unexpected) | "AllFailed" >> beam.Flatten()
        return outputs["faces"], outputs[SUMMARIES], failed
