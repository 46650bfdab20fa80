"""Which faces each detector setting finds on the bundled clips, against MTCNN; prints JSON.

    python benchmarks/detection.py [--fps 10] [--min-face 50] [--cache-dir DIR]
                                   [--configs haar:480:4,mtcnn:480:4,...]

The reference: MTCNN on every sampled frame at full size (faces of `--min-face` px and
up). Each setting `detector:detect_width:detect_every` runs as the job runs it
(`tracking.FaceFinder` with the ONet check at `--min-face-score`, `IoUTracker`, the
`min_track_frames` gate) and is reported per clip: faces kept; reference faces matched
(IoU >= 0.4) and recall; kept boxes that match no reference face; confirmed tracks none
of whose boxes matches one (false tracks); boxes the ONet check rejected; where each
reference face that was not kept got lost (`lost`: never proposed by the search, rejected
by the ONet check, or held back by the track gate) and the sides of the lost faces;
and the same setting without the check (`unchecked`: what the check removes). Time per
frame counts search + check, not decoding. One thread for OpenCV and torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
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
MATCH_IOU = 0.4
DEFAULT_CONFIGS = "haar:0:1,haar:480:4,mtcnn:0:1,mtcnn:480:4,mtcnn:0:4"


class RecordingChecker:
    """The ONet check, keeping the boxes and scores of its last call (rejected ones too)."""

    def __init__(self, checker: MtcnnDetector) -> None:
        self._checker = checker
        self.last: list = []

    def check(self, gray: np.ndarray, boxes: list[FaceBox]) -> list:
        self.last = self._checker.check(gray, boxes)
        return self.last


def run_setting(
    grays: list[np.ndarray],
    detector: object,
    checker: MtcnnDetector | None,
    args,
    setting: tuple[int | None, int],
    reference: list[list[FaceBox]],
) -> dict:
    """Kept (confirmed) boxes per frame, their track ids, what the check rejected and
    passed (before the track gate) per frame, rejections and seconds."""
    width, every = setting
    recorder = RecordingChecker(checker) if checker else None
    finder = FaceFinder(detector, IoUTracker(), width, every, recorder, args.min_face_score)
    gate = TrackConfirmation[tuple[int, int, FaceBox]](DetectSettings().min_track_frames)
    kept: list[tuple[int, int, FaceBox]] = []
    rejected: list[list[FaceBox]] = []
    passed: list[list[FaceBox]] = []
    started = time.perf_counter()
    for number, gray in enumerate(grays):
        faces = finder.find(gray)
        boxes = [face.box for face in faces]
        checks = recorder.last if recorder else []
        rejected.append([c.box for c in checks if c.score < args.min_face_score])
        passed.append(boxes)
        for box, track in zip(boxes, finder.tracker.update(boxes), strict=True):
            kept.extend(gate.add(track, (number, track, box)))
        gate.expire(finder.tracker.live_ids)
    seconds = time.perf_counter() - started
    return {
        "kept": kept,
        "rejected": finder.rejected,
        "seconds": seconds,
        "lost": lost(kept, rejected, passed, reference),
    }


def lost(kept: list, rejected: list, passed: list, reference: list[list[FaceBox]]) -> dict:
    """Reference faces not kept, by where they were lost, and their sides in px."""
    kept_by_frame: dict[int, list[FaceBox]] = {}
    for number, _, box in kept:
        kept_by_frame.setdefault(number, []).append(box)
    where = {"search": 0, "check": 0, "track_gate": 0}
    sides = []
    for number, refs in enumerate(reference):
        for ref in refs:
            if any(iou(ref, box) >= MATCH_IOU for box in kept_by_frame.get(number, [])):
                continue
            hit = any(iou(ref, box) >= MATCH_IOU for box in passed[number])
            reason = "track_gate" if hit else "search"
            if not hit and any(iou(ref, box) >= MATCH_IOU for box in rejected[number]):
                reason = "check"
            where[reason] += 1
            sides.append(max(ref.w, ref.h))
    return {**where, "sides_px": sorted(sides)}


def score(kept: list[tuple[int, int, FaceBox]], reference: list[list[FaceBox]]) -> dict:
    """Matches against the reference, unmatched boxes and false tracks."""
    by_frame: dict[int, list[FaceBox]] = {}
    track_ok: dict[int, bool] = {}
    unmatched = 0
    for number, track, box in kept:
        by_frame.setdefault(number, []).append(box)
        hit = any(iou(box, ref) >= MATCH_IOU for ref in reference[number])
        unmatched += not hit
        track_ok[track] = track_ok.get(track, False) or hit
    total = sum(len(refs) for refs in reference)
    matched = sum(
        any(iou(ref, box) >= MATCH_IOU for box in by_frame.get(number, []))
        for number, refs in enumerate(reference)
        for ref in refs
    )
    return {
        "faces": len(kept),
        "reference_faces": total,
        "matched": matched,
        "recall": round(matched / total, 3) if total else None,
        "unmatched_boxes": unmatched,
        "tracks": len(track_ok),
        "false_tracks": sum(not ok for ok in track_ok.values()),
    }


def detectors(args, weights: str) -> tuple[dict[str, object], MtcnnDetector]:
    size = (args.min_face, args.min_face)
    mtcnn = MtcnnDetector(weights, size)
    mtcnn.load()
    haar = HaarFaceDetector(min_size=size)
    haar.load()
    return {"haar": haar, "mtcnn": mtcnn}, mtcnn


def clip_report(grays: list[np.ndarray], args, found: dict, checker: MtcnnDetector) -> dict:
    started = time.perf_counter()
    reference = [checker.detect(gray) for gray in grays]
    report = {
        "frames": len(grays),
        "size": list(grays[0].shape[::-1]) if grays else None,
        "reference_ms_per_frame": round(1000 * (time.perf_counter() - started) / len(grays), 2),
    }
    for config in args.configs.split(","):
        name, width, every = config.split(":")
        detector = found[name]
        setting = (int(width) or None, int(every))
        checked = run_setting(grays, detector, checker, args, setting, reference)
        unchecked = run_setting(grays, detector, None, args, setting, reference)
        report[config] = {
            **score(checked["kept"], reference),
            "rejected_by_check": checked["rejected"],
            "lost": checked["lost"],
            "ms_per_frame": round(1000 * checked["seconds"] / len(grays), 2),
            "unchecked": score(unchecked["kept"], reference),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--min-face", type=int, default=DetectSettings().min_face)
    parser.add_argument("--min-face-score", type=float, default=DetectSettings().min_face_score)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--clips", default=None, help="comma-separated clip names")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    found, checker = detectors(args, str(fetch_mtcnn_weights(args.cache_dir)))
    clips = sorted(CLIPS.iterdir())
    if args.clips:
        clips = [clip for clip in clips if clip.name in args.clips.split(",")]
    report = {
        "benchmark": "detection",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "fps": args.fps,
        "min_face": args.min_face,
        "min_face_score": args.min_face_score,
        "match_iou": MATCH_IOU,
        "clips": {},
    }
    for clip in clips:
        grays = [frame.gray for frame in iter_sampled_frames(str(clip), fps=args.fps)]
        report["clips"][clip.name] = clip_report(grays, args, found, checker)
        print(json.dumps({clip.name: report["clips"][clip.name]}), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
