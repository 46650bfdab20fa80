"""Probe and validate a video file with OpenCV, cheaply.

yt-dlp does not check what it saves: a truncated or garbage file "downloads" fine,
and the container header of a truncated file still announces the full duration.
`validate_video` therefore decodes one frame a little before the expected end (one
seek and one read, no full decode) and checks where the decoder really landed.
"""

from __future__ import annotations

import dataclasses
import os

import cv2

# How far before the expected end the check frame lies: a fraction of the duration,
# capped, because headers often announce a few frames more than decode.
END_MARGIN_FRACTION = 0.2
END_MARGIN_MAX_S = 1.0
# How much shorter than the source's duration a file may be (yt-dlp rounds durations).
DURATION_TOLERANCE_S = 1.5
DURATION_TOLERANCE_FRACTION = 0.05


class InvalidVideoError(ValueError):
    """The file is not a complete, decodable video; `reason` says why, without the path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video (not yet checked by decoding)."""

    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int


def _open(path: str) -> cv2.VideoCapture:
    if not os.path.isfile(path):
        raise InvalidVideoError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise InvalidVideoError(path, "empty file (0 bytes)")
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InvalidVideoError(path, "not a video OpenCV can open (corrupt or truncated?)")
    return capture


def _count_frames(capture: cv2.VideoCapture) -> int:
    """Frames by decoding forward: only when the header has no frame count."""
    frames = 0
    while capture.grab():
        frames += 1
    return frames


def _probe(capture: cv2.VideoCapture, path: str) -> VideoProbe:
    fps = capture.get(cv2.CAP_PROP_FPS)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if width <= 0 or height <= 0 or not fps or fps <= 0:
        raise InvalidVideoError(path, f"no video stream (size {width}x{height}, fps {fps:g})")
    if frame_count <= 0:
        frame_count = _count_frames(capture)
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    if frame_count < 2:
        raise InvalidVideoError(path, f"{frame_count} frame(s): a still image, not a video")
    return VideoProbe(frame_count / fps, fps, width, height, frame_count)


def probe_video(path: str) -> VideoProbe:
    """Duration, fps, size and frame count from the container; raises InvalidVideoError."""
    capture = _open(path)
    try:
        return _probe(capture, path)
    finally:
        capture.release()


def _check_end(capture: cv2.VideoCapture, path: str, end_s: float) -> None:
    """Seek a little before `end_s`, decode one frame, and check where it came from."""
    margin_s = min(END_MARGIN_MAX_S, END_MARGIN_FRACTION * end_s)
    target_s = max(0.0, end_s - margin_s)
    capture.set(cv2.CAP_PROP_POS_MSEC, target_s * 1000.0)
    ok, frame = capture.read()
    landed_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
    if not ok or frame is None:
        raise InvalidVideoError(
            path, f"no frame decodes near {target_s:.2f} s of {end_s:.2f} s (truncated or corrupt)"
        )
    slack_s = 1.5 / capture.get(cv2.CAP_PROP_FPS)
    if landed_s + slack_s < target_s:
        raise InvalidVideoError(
            path, f"decodes only to {landed_s:.2f} s of {end_s:.2f} s (truncated or corrupt)"
        )


def validate_video(path: str, expected_duration_s: float | None = None) -> VideoProbe:
    """Probe `path` and check it decodes to (close to) its end; raises InvalidVideoError.

    The end is the container's duration, or the source's `expected_duration_s` (e.g.
    yt-dlp's metadata) when given: a file much shorter than that is rejected too.
    """
    capture = _open(path)
    try:
        probe = _probe(capture, path)
        end_s = probe.duration_s
        if expected_duration_s:
            tolerance_s = max(
                DURATION_TOLERANCE_S, DURATION_TOLERANCE_FRACTION * expected_duration_s
            )
            if probe.duration_s + tolerance_s < expected_duration_s:
                raise InvalidVideoError(
                    path,
                    f"holds {probe.duration_s:.2f} s but the source says "
                    f"{expected_duration_s:.2f} s (incomplete download)",
                )
            end_s = min(end_s, expected_duration_s)
        _check_end(capture, path, end_s)
        return probe
    finally:
        capture.release()
