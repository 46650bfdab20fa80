"""Remake the crafted test videos in tests/data/crafted/ (see tests/data/SOURCES.md).

    pip install av && python tests/data/make_crafted_videos.py

PyAV (FFmpeg's encoders) is needed only here, never by affectflow or its tests. The
frames are the bundled Carphone clip's (tests/data/videos/carphone_pristine.mp4).

- `vfr_vp8.webm`, `vfr_vp9.webm`, `vfr_h264.mkv`, `vfr_h264.mp4`: variable frame rate,
  4 s: a frame every 33 ms for 2 s, then gaps of 200 ms and 33 ms alternating (valid
  files that an end check by frame rate took for truncated ones).
- `lying_duration.mkv`: 20 s at 4 fps (80 frames), 88x72, whose Matroska header (the
  Segment Duration and the stream's DURATION tag) says 2 s.
"""

from __future__ import annotations

import fractions
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

DATA = Path(__file__).resolve().parent
OUT = DATA / "crafted"
SOURCE = DATA / "videos" / "carphone_pristine.mp4"
MS = fractions.Fraction(1, 1000)
VFR_GAPS_MS = (33, 200)
VFR_SECONDS = 4.0
LIE_SECONDS, LIE_FPS, LIE_HEADER_S = 20.0, 4, 2.0
MATROSKA_DURATION = b"\x44\x89\x88"  # Segment Duration: an 8-byte float, in ms


def source_frames() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(SOURCE))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def write(
    path: Path,
    codec: str,
    frames: Sequence[np.ndarray],
    pts_ms: Sequence[int],
    size: tuple[int, int],
    rate: int = 30,
) -> None:
    """Encode `frames` at the given presentation times (ms), resized to `size` (w, h)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = MS
        for frame, pts in zip(frames, pts_ms, strict=True):
            picture = av.VideoFrame.from_ndarray(cv2.resize(frame, size), format="bgr24")
            picture.pts, picture.time_base = pts, MS
            out.mux(stream.encode(picture))
        out.mux(stream.encode())


def vfr_times() -> list[int]:
    """Every 33 ms for the first half, then gaps of 200 ms and 33 ms alternating."""
    times, now = [], 0
    while now < VFR_SECONDS * 1000:
        times.append(now)
        late = now >= VFR_SECONDS * 500
        now += VFR_GAPS_MS[len(times) % 2] if late else VFR_GAPS_MS[0]
    return times


def lie_about_duration(path: Path, true_s: float, header_s: float) -> None:
    """Rewrite the Matroska Segment Duration and DURATION tag to say `header_s`."""
    data = bytearray(path.read_bytes())
    at = data.index(MATROSKA_DURATION) + len(MATROSKA_DURATION)
    assert abs(struct.unpack(">d", data[at : at + 8])[0] - true_s * 1000) < 300
    data[at : at + 8] = struct.pack(">d", header_s * 1000)
    tag = re.search(rb"\d\d:\d\d:\d\d\.\d{9}", data)  # the DURATION tag's value
    assert tag is not None
    minutes, seconds = divmod(header_s, 60)
    data[tag.start() : tag.end()] = f"00:{minutes:02.0f}:{seconds:012.9f}".encode()
    path.write_bytes(bytes(data))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    frames = source_frames()
    times = vfr_times()
    picked = [frames[i % len(frames)] for i in range(len(times))]
    for name, codec in [
        ("vfr_vp8.webm", "libvpx"),
        ("vfr_vp9.webm", "libvpx-vp9"),
        ("vfr_h264.mkv", "libx264"),
        ("vfr_h264.mp4", "libx264"),
    ]:
        write(OUT / name, codec, picked, times, (176, 144))
    count = int(LIE_SECONDS * LIE_FPS)
    lie = OUT / "lying_duration.mkv"
    lie_frames = [frames[i % len(frames)] for i in range(count)]
    times = [i * 1000 // LIE_FPS for i in range(count)]
    write(lie, "libx264", lie_frames, times, (88, 72), rate=LIE_FPS)
    lie_about_duration(lie, LIE_SECONDS, LIE_HEADER_S)
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
