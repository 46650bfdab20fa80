"""What the download stage's validation costs next to decoding; prints JSON.

    python benchmarks/probe.py [--minutes 5]

Writes a long clip (the Pexels clip's frames over and over, 640x360, mp4v, with
OpenCV) into a temporary folder, then times `probe.validate_video` (its packets read
without decoding, plus the first frame decoded), the same with `max_duration_s` at a
tenth of the clip (reading stops there), and decoding every frame as the detect stage
does (`grab()` each frame).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2

from affectflow.media.probe import validate_video

CLIP = Path(__file__).resolve().parent.parent / "tests/data/videos/pyfeat_WolfgangLanger_Pexels.mp4"


def write_long_clip(path: Path, minutes: float) -> int:
    """The clip's frames repeated for `minutes` at its own rate; returns the frame count."""
    source = cv2.VideoCapture(str(CLIP))
    fps = source.get(cv2.CAP_PROP_FPS)
    frames = []
    while (frame := source.read()[1]) is not None:
        frames.append(frame)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    total = int(minutes * 60 * fps)
    for index in range(total):
        writer.write(frames[index % len(frames)])
    writer.release()
    return total


def timed(call) -> tuple[object, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def decode_all(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.grab():
        frames += 1
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.mp4"
        frames = write_long_clip(path, args.minutes)
        probe, validate_s = timed(lambda: validate_video(str(path)))
        limit_s = args.minutes * 6
        _, bounded_s = timed(lambda: validate_video(str(path), max_duration_s=limit_s))
        decoded, decode_s = timed(lambda: decode_all(path))
        result = {
            "clip": {"minutes": args.minutes, "frames": frames, "bytes": os.path.getsize(path)},
            "validate_s": round(validate_s, 4),
            "validate_with_max_duration_s": {"limit_s": limit_s, "seconds": round(bounded_s, 4)},
            "decode_every_frame_s": round(decode_s, 3),
            "validate_over_decode": round(validate_s / decode_s, 4),
            "frames_counted": probe.frame_count,
            "frames_decoded": decoded,
            "cpus": os.cpu_count(),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
