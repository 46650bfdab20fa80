"""Probe and validate a video file with OpenCV, cheaply.

yt-dlp does not check what it saves: a truncated or garbage file "downloads" fine,
and the container header of a truncated file still announces the full duration; a
hostile one may announce 5 s for 2 hours. `validate_video` therefore reads the video
stream's packets to the end without decoding them (OpenCV's raw stream mode: 21 ms for
a 5-minute 640x360 file, 2% of decoding it: benchmarks/probe.py) and checks their
latest presentation time against the header: a file whose frames stop well before its
announced end is truncated; one whose frames run past it is longer than it says (its
duration is then the frames'). Timestamps, not frame numbers over a frame rate, so
variable-frame-rate files pass. The first frame is decoded too: the video decodes.
"""

from __future__ import annotations

import dataclasses
import os

import cv2

from affectflow.schemas.records import VideoProbe

# How far before the expected end the last frame may lie: a fraction of the duration,
# capped, because headers count the last frame's display time and round up.
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


class FrameTooLargeError(InvalidVideoError):
    """The video's frames have more pixels than the caller allows (`max_pixels`)."""


def check_pixels(path: str, width: int, height: int, max_pixels: int | None, where: str) -> None:
    """Raise FrameTooLargeError when a `width` x `height` frame is over `max_pixels`."""
    if max_pixels is not None and width * height > max_pixels:
        raise FrameTooLargeError(
            path,
            f"its {where} says {width}x{height} = {width * height:,} pixels per frame, "
            f"over --max-pixels {max_pixels:,}",
        )


@dataclasses.dataclass(frozen=True)
class PacketSpan:
    """The video packets read, and the latest presentation time among them (s)."""

    packets: int
    end_s: float


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


def scan_packets(path: str, stop_after_s: float | None = None) -> PacketSpan:
    """Read the video stream's packets without decoding them; raises InvalidVideoError.

    Stops at the first packet whose time passes `stop_after_s` (the span then ends
    there). A stream without timestamps counts 1/fps per packet.
    """
    capture = _open(path)
    try:
        capture.set(cv2.CAP_PROP_FORMAT, -1)  # raw packets; if refused, grab() decodes
        fps = capture.get(cv2.CAP_PROP_FPS)
        packets, end_ms = 0, 0.0
        while capture.grab():
            packets += 1
            end_ms = max(end_ms, capture.get(cv2.CAP_PROP_POS_MSEC))
            if stop_after_s is not None and end_ms > stop_after_s * 1000.0:
                break
        if end_ms <= 0 and packets > 1 and fps > 0:
            end_ms = (packets - 1) * 1000.0 / fps
        return PacketSpan(packets, end_ms / 1000.0)
    finally:
        capture.release()


def _probe(capture: cv2.VideoCapture, path: str) -> VideoProbe:
    """The header's figures; a frame count of 0 (unknown) is left for the caller."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    if width <= 0 or height <= 0 or not fps or fps <= 0:
        raise InvalidVideoError(path, f"no video stream (size {width}x{height}, fps {fps:g})")
    return VideoProbe(frame_count / fps, fps, width, height, frame_count, frame_count / fps)


def _with_frames(probe: VideoProbe, path: str, frame_count: int, still: bool = False) -> VideoProbe:
    if frame_count < (1 if still else 2):
        raise InvalidVideoError(path, f"{frame_count} frame(s): a still image, not a video")
    return dataclasses.replace(probe, frame_count=frame_count)


def probe_video(path: str) -> VideoProbe:
    """Duration, fps, size and frame count from the container; raises InvalidVideoError.

    Packets are counted (not decoded) only when the header gives no frame count.
    """
    capture = _open(path)
    try:
        probe = _probe(capture, path)
    finally:
        capture.release()
    frames = probe.frame_count or scan_packets(path).packets
    return _with_frames(probe, path, frames)


def _first_frame_decodes(path: str, max_pixels: int | None = None) -> None:
    capture = _open(path)
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise InvalidVideoError(path, "its first frame does not decode (corrupt?)")
    check_pixels(path, frame.shape[1], frame.shape[0], max_pixels, "first decoded frame")


def _check_end(path: str, span: PacketSpan, end_s: float) -> None:
    """Raise when the frames stop well before `end_s` (a truncated file)."""
    margin_s = min(END_MARGIN_MAX_S, END_MARGIN_FRACTION * end_s)
    if span.packets == 0:
        raise InvalidVideoError(
            path, f"no frame of {end_s:.2f} s is readable (truncated or corrupt)"
        )
    if span.end_s < end_s - margin_s:
        raise InvalidVideoError(
            path, f"decodes only to {span.end_s:.2f} s of {end_s:.2f} s (truncated or corrupt)"
        )


def _check_expected(path: str, duration_s: float, expected_s: float) -> None:
    """Raise when the file is much shorter than its source says (yt-dlp rounds)."""
    tolerance_s = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_FRACTION * expected_s)
    if duration_s + tolerance_s < expected_s:
        raise InvalidVideoError(
            path,
            f"holds {duration_s:.2f} s but the source says {expected_s:.2f} s"
            " (incomplete download)",
        )


def validate_video(
    path: str,
    expected_duration_s: float | None = None,
    max_duration_s: float | None = None,
    max_pixels: int | None = None,
    *,
    still: bool = False,
) -> VideoProbe:
    """Probe `path` and check its frames run to (close to) its end; raises InvalidVideoError.

    The end is the container's duration, or the source's `expected_duration_s` (e.g.
    yt-dlp's metadata) when given: a file much shorter than that is rejected too. The
    probe's `duration_s` is the latest frame's time when that is past the header's.
    Frames are read up to the first one past `max_duration_s`: such a video is returned
    without the end check, for the caller to refuse (as one whose header says more).
    Frames over `max_pixels` (by the stream's header, before any packet is read, then by
    the first decoded frame) raise FrameTooLargeError.
    `still`: a file of one frame (a photo) is accepted as a one-frame video.
    """
    capture = _open(path)
    try:
        header = _probe(capture, path)
    finally:
        capture.release()
    check_pixels(path, header.width, header.height, max_pixels, "stream header")
    span = scan_packets(path, stop_after_s=max_duration_s)
    probe = _with_frames(header, path, span.packets, still)
    probe = dataclasses.replace(probe, duration_s=max(header.duration_s, span.end_s))
    if probe.frame_count == 1:
        _first_frame_decodes(path)
        return probe
    if max_duration_s is not None and span.end_s > max_duration_s:
        return probe
    end_s = header.duration_s
    if expected_duration_s:
        _check_expected(path, probe.duration_s, expected_duration_s)
        end_s = min(end_s, expected_duration_s)
    _check_end(path, span, end_s)
    _first_frame_decodes(path, max_pixels)
    return probe
