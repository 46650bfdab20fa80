"""Stage 3, frames: decode a video with OpenCV and sample grayscale frames by timestamp.

Sampling is by time, not by index: for each multiple of 1/fps the first source frame
at or after it is kept, so variable frame rates and odd source rates (23.976, 29.97)
give evenly spaced samples. Decoding runs forward: `grab()` every frame (cheap) and
`retrieve()` + grayscale only the kept ones; seeking per sample is 10-20x slower
(notes/yt-dlp.md). `iter_sampled_frames` is a generator that holds one frame at a time.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator

import cv2
import numpy as np

# Timestamps within this many ms before a sampling instant count as "at" it
# (container clocks in float ms: 29.97 fps gives 99.99999 for the 100 ms frame).
TIMESTAMP_TOLERANCE_MS = 1e-3
# Decoding falls short when it stops before this share of the duration, minus a slack.
MIN_DECODED_FRACTION = 0.9
DECODED_SLACK_S = 1.0


class FrameDecodeError(ValueError):
    """The video cannot be opened or decoded; the message says why."""


class DurationExceededError(FrameDecodeError):
    """Decoding reached a frame past the caller's `max_s` and stopped there."""


class FrameTooLargeError(FrameDecodeError):
    """The frames have more pixels than the caller's `max_pixels` (by the header, or by
    the first decoded frame): nothing more is decoded."""


def _check_pixels(width: int, height: int, max_pixels: int | None, where: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise FrameTooLargeError(
            f"{where} {width}x{height} = {width * height:,} pixels per frame, "
            f"over --max-pixels {max_pixels:,}"
        )


@dataclasses.dataclass(frozen=True)
class SampledFrame:
    """One kept frame: its source frame number, time and grayscale pixels (H x W uint8)."""

    frame_index: int
    timestamp_ms: int
    gray: np.ndarray = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass
class DecodeProgress:
    """Filled in while `iter_sampled_frames` runs: how far decoding got.

    `last_timestamp_ms` is the time of the last frame decoded (kept or not); None
    before the first. `duration_s` is the container's duration (frames / fps), if known.
    """

    frames_decoded: int = 0
    frames_kept: int = 0
    last_timestamp_ms: float | None = None
    source_fps: float | None = None
    duration_s: float | None = None

    @property
    def decoded_s(self) -> float:
        """The time of the last frame decoded, in seconds (0 before the first)."""
        return (self.last_timestamp_ms or 0.0) / 1000.0

    def shortfall(self, expected_s: float | None, trim_s: float = 0.0) -> str | None:
        """Why decoding, finished, did not get through `expected_s` seconds (less the
        `trim_s` margins), or None when it did: the frames' timestamps decide."""
        if self.frames_decoded == 0:
            return "no frame decoded"
        if self.frames_kept == 0 and trim_s > 0:
            return f"no frame left after trimming {trim_s:g} s from each end"
        if not expected_s:
            return None
        expected_s -= trim_s
        if self.decoded_s < MIN_DECODED_FRACTION * expected_s - DECODED_SLACK_S:
            return f"decoded only {self.decoded_s:.1f} of {expected_s:.1f} s"
        return None


def open_video(path: str, threads: int | None = None) -> cv2.VideoCapture:
    """An opened `cv2.VideoCapture` (FFmpeg backend); raises FrameDecodeError.

    `threads`: FFmpeg decoder threads (None: FFmpeg's default, one per core).
    """
    if not os.path.isfile(path):
        raise FrameDecodeError(f"cannot open video {path}: no such file")
    params = [cv2.CAP_PROP_N_THREADS, threads] if threads else []
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise FrameDecodeError(f"cannot open video {path}: not a video OpenCV can decode")
    return capture


def _positive(value: float) -> float | None:
    return value if math.isfinite(value) and value > 0 else None


def _container_info(capture: cv2.VideoCapture, progress: DecodeProgress) -> None:
    progress.source_fps = _positive(capture.get(cv2.CAP_PROP_FPS))
    frame_count = _positive(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if progress.source_fps and frame_count:
        progress.duration_s = frame_count / progress.source_fps


def _timestamp_ms(
    capture: cv2.VideoCapture, index: int, previous_ms: float | None, source_fps: float | None
) -> float:
    """The grabbed frame's time: the container's when sane, else index / source fps."""
    container_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
    sane = math.isfinite(container_ms) and container_ms >= 0
    if sane and (previous_ms is None or container_ms > previous_ms):
        return container_ms
    if source_fps:
        return index * 1000.0 / source_fps
    return float(index)  # no clock at all: 1 ms per frame, so every frame is kept


def iter_sampled_frames(
    path: str,
    fps: float = 10.0,
    trim_s: float = 0.0,
    *,
    progress: DecodeProgress | None = None,
    threads: int | None = None,
    max_s: float | None = None,
    max_pixels: int | None = None,
) -> Iterator[SampledFrame]:
    """Yield grayscale frames sampled at `fps` by timestamp, decoding forward once.

    `trim_s` > 0 drops equal margins: frames before `trim_s` and after
    `duration - trim_s` (the container's duration). A video whose frame rate is below
    `fps` keeps every frame. Pass a `DecodeProgress` to learn how far decoding got,
    `threads` to bound the decoder's threads. Decoding stops with DurationExceededError
    at the first frame whose timestamp passes `max_s` (a header may lie about the
    duration). Frames over `max_pixels` raise FrameTooLargeError, by the stream's header
    before decoding and by the first decoded frame. Raises FrameDecodeError when the file
    cannot be opened or trimmed.
    """
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if trim_s < 0:
        raise ValueError(f"trim_s must be >= 0, got {trim_s}")
    progress = progress if progress is not None else DecodeProgress()
    capture = open_video(path, threads)
    try:
        _container_info(capture, progress)
        width, height = (
            capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
        )
        _check_pixels(int(width), int(height), max_pixels, "the stream's header says")
        start_ms, end_ms = 0.0, math.inf
        if trim_s > 0:
            if progress.duration_s is None:
                raise FrameDecodeError(f"cannot trim {path}: the container gives no duration")
            start_ms, end_ms = trim_s * 1000.0, (progress.duration_s - trim_s) * 1000.0
        max_ms = math.inf if max_s is None else max_s * 1000.0
        yield from _sample(capture, fps, start_ms, end_ms, max_ms, progress, max_pixels)
    finally:
        capture.release()


def _sample(
    capture: cv2.VideoCapture,
    fps: float,
    start_ms: float,
    end_ms: float,
    max_ms: float,
    progress: DecodeProgress,
    max_pixels: int | None = None,
) -> Iterator[SampledFrame]:
    """The sampling loop over an opened capture (see `iter_sampled_frames`)."""
    period_ms = 1000.0 / fps
    next_ms = 0.0
    index = -1
    while capture.grab():
        index += 1
        ts = _timestamp_ms(capture, index, progress.last_timestamp_ms, progress.source_fps)
        progress.frames_decoded += 1
        progress.last_timestamp_ms = ts
        if index == 0 and max_pixels is not None:
            ok, first = capture.retrieve()
            if ok and first is not None:
                _check_pixels(first.shape[1], first.shape[0], max_pixels, "the first frame is")
        if ts > max_ms:
            raise DurationExceededError(f"a frame at {ts / 1000:.1f} s, past {max_ms / 1000:g} s")
        if ts > end_ms:
            break
        if ts < start_ms or ts + TIMESTAMP_TOLERANCE_MS < next_ms:
            continue
        ok, frame = capture.retrieve()
        if not ok or frame is None:
            continue  # a frame that does not decode: the next one stands in for this instant
        next_ms = (math.floor((ts + TIMESTAMP_TOLERANCE_MS) / period_ms) + 1) * period_ms
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        del frame
        progress.frames_kept += 1
        yield SampledFrame(index, round(ts), gray)
