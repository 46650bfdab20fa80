"""Face search speed and recall on the bundled clips; prints JSON.

    python benchmarks/detect.py [--fps 10] [--detect-width 480] [--detect-every 4]
                                [--default-only]

For the same sampling: decode-only throughput (the limit), decode + full-size
every-frame Haar (the reference), decode + the Haar fast path (`tracking.FaceFinder`),
decode + the job's default search (MTCNN on every full-size frame, every box checked by
ONet), with seconds per stage, and the fast path's recall of the Haar reference's face
hits: raw (every reference box) and confirmed (boxes of tracks that pass the
`min_track_frames` gate, the faces the job keeps). A hit is a fast-path box with
IoU >= 0.5. Seconds are CPU seconds of this process (`time.process_time`: robust to a
busy machine), with one OpenCV and one torch thread. The MTCNN detector is loaded once,
before the timing, and shared by the clips' searches (as a job's worker shares one);
each clip gets its own finder and tracker. `--default-only` skips the Haar settings (run
it under an older checkout on PYTHONPATH to compare defaults side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from affectflow.media.frames import iter_sampled_frames
from affectflow.media.tracking import FaceFinder, IoUTracker, TrackConfirmation, iou
from affectflow.models.faces import HaarFaceDetector
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights
from affectflow.schemas.records import FaceBox
from affectflow.schemas.settings import DetectSettings

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
HIT_IOU = 0.5


def decode(fps: float) -> tuple[dict[str, list[np.ndarray]], float]:
    """Sampled grayscale frames of every clip, and the seconds decoding took."""
    started = time.process_time()
    frames = {
        clip.name: [frame.gray for frame in iter_sampled_frames(str(clip), fps=fps)]
        for clip in sorted(CLIPS.iterdir())
    }
    return frames, time.process_time() - started


def default_finders() -> Callable[[], FaceFinder]:
    """The job's default search (`DetectSettings()`): MTCNN, every box checked by ONet;
    one detector, loaded now, a new finder for each clip."""
    settings = DetectSettings()
    size = (settings.min_face, settings.min_face)
    mtcnn = MtcnnDetector(str(fetch_mtcnn_weights()), size, "cpu")
    mtcnn.load()
    width, every = settings.detect_width or None, settings.detect_every
    return lambda: FaceFinder(mtcnn, IoUTracker(), width, every, mtcnn, settings.min_face_score)


def haar_finder(width: int | None, every: int) -> FaceFinder:
    return FaceFinder(HaarFaceDetector(), IoUTracker(), width, every)


def search(
    frames: dict[str, list[np.ndarray]], make_finder: Callable[[], FaceFinder]
) -> tuple[dict[str, list[list[FaceBox]]], float, int]:
    """Boxes per frame per clip, seconds, and whole-frame searches, for one finder."""
    started, whole = time.process_time(), 0
    boxes: dict[str, list[list[FaceBox]]] = {}
    for name, grays in frames.items():
        finder = make_finder()
        boxes[name] = []
        for gray in grays:
            found = [face.box for face in finder.find(gray)]
            finder.tracker.update(found)
            boxes[name].append(found)
        whole += finder.full_searches
    return boxes, time.process_time() - started, whole


def confirmed(per_frame: list[list[FaceBox]], min_hits: int) -> set[tuple[int, FaceBox]]:
    """(frame number, box) of the boxes whose track passes the confirmation gate."""
    tracker, gate = IoUTracker(), TrackConfirmation[tuple[int, FaceBox]](min_hits)
    kept: set[tuple[int, FaceBox]] = set()
    for number, boxes in enumerate(per_frame):
        for box, track_id in zip(boxes, tracker.update(boxes), strict=True):
            kept.update(gate.add(track_id, (number, box)))
        gate.expire(tracker.live_ids)
    return kept


def recall(reference: dict, fast: dict, min_hits: int) -> dict[str, object]:
    raw = hits = gated = gated_hits = 0
    per_clip = {}
    for name, frames in reference.items():
        keep = confirmed(frames, min_hits)
        clip_hits = clip_total = 0
        for number, (ref_boxes, boxes) in enumerate(zip(frames, fast[name], strict=True)):
            for ref in ref_boxes:
                hit = any(iou(ref, box) >= HIT_IOU for box in boxes)
                raw, hits = raw + 1, hits + hit
                if (number, ref) in keep:
                    gated, gated_hits = gated + 1, gated_hits + hit
                    clip_total, clip_hits = clip_total + 1, clip_hits + hit
        per_clip[name] = [clip_hits, clip_total]
    return {
        "raw": round(hits / raw, 4) if raw else None,
        "confirmed": round(gated_hits / gated, 4) if gated else None,
        "reference_hits": raw,
        "reference_confirmed_hits": gated,
        "confirmed_per_clip": per_clip,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--detect-width", type=int, default=480, help="Haar fast path")
    parser.add_argument("--detect-every", type=int, default=4, help="Haar fast path")
    parser.add_argument("--min-track-frames", type=int, default=3)
    parser.add_argument("--default-only", action="store_true", help="skip the Haar settings")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    frames, decode_s = decode(args.fps)
    sampled = sum(len(grays) for grays in frames.values())
    _, default_s, _ = search(frames, default_finders())

    def rate(seconds: float) -> float:
        return round(sampled / seconds, 1)

    report = {
        "benchmark": "detect",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "fps": args.fps,
        "clips": len(frames),
        "frames_sampled": sampled,
        "seconds": {"decode": round(decode_s, 2), "default_mtcnn_checked": round(default_s, 2)},
        "sampled_frames_per_s": {
            "decode_only": rate(decode_s),
            "decode_plus_default_mtcnn": rate(decode_s + default_s),
        },
        "default_ratio_to_decode_only": round(decode_s / (decode_s + default_s), 3),
    }
    if not args.default_only:
        report |= haar_figures(args, frames, decode_s, rate)
    print(json.dumps(report, indent=2))


def haar_figures(args: argparse.Namespace, frames: dict, decode_s: float, rate) -> dict:
    """Full-size every-frame Haar, the Haar fast path, and the fast path's recall."""
    reference, full_s, _ = search(frames, lambda: haar_finder(None, 1))
    width, every = args.detect_width or None, args.detect_every
    fast, fast_s, whole = search(frames, lambda: haar_finder(width, every))
    return {
        "haar_seconds": {"full_every_frame": round(full_s, 2), "fast_path": round(fast_s, 2)},
        "haar_sampled_frames_per_s": {
            "decode_plus_full_haar": rate(decode_s + full_s),
            "decode_plus_fast_path": rate(decode_s + fast_s),
        },
        "fast_path": {
            "detect_width": args.detect_width,
            "detect_every": args.detect_every,
            "whole_frame_searches": whole,
            "ratio_to_decode_only": round(decode_s / (decode_s + fast_s), 3),
            "speedup_vs_full_haar": round((decode_s + full_s) / (decode_s + fast_s), 2),
            "recall": recall(reference, fast, args.min_track_frames),
        },
    }


if __name__ == "__main__":
    main()
