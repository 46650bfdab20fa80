"""The `fer` side of benchmarks/peer_fer.py; runs inside the peer virtualenv, prints JSON.

    python peer_fer_child.py --versions
    python peer_fer_child.py VIDEO --frequency K --outdir DIR [--cores N] [--keras] [--mtcnn]

Runs `fer.classes.Video(VIDEO).analyze(FER(mtcnn=False), frequency=K)` (Haar, every K-th
frame, nothing saved; `--mtcnn`: `FER(mtcnn=True)`, facenet-pytorch's MTCNN) and prints
its timings, peak RSS and every sampled frame's faces.
Imports nothing from affectflow: the peer venv has only fer and its dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from typing import Any


def pin_cores(cores: int) -> list[int]:
    """Keep this process on its first `cores` CPUs (0: all); the CPUs kept."""
    allowed = sorted(os.sched_getaffinity(0))
    if cores > 0:
        allowed = allowed[:cores]
        os.sched_setaffinity(0, allowed)
    return allowed


def versions() -> dict[str, str]:
    import cv2
    import fer
    import fer.classes  # fails here, not mid-benchmark, if Video cannot load
    import fer.fer
    import tensorflow as tf

    return {"fer": fer.__version__, "tensorflow": tf.__version__, "opencv": cv2.__version__}


class RecordingDetector:
    """Delegates to a fer.FER and keeps each call's faces, in call (= sampled frame) order."""

    def __init__(self, detector: Any) -> None:
        self._detector = detector
        self.calls: list[list[dict]] = []

    def _get_labels(self) -> dict:
        return self._detector._get_labels()

    def detect_emotions(self, frame: Any) -> list[dict]:
        faces = self._detector.detect_emotions(frame)
        self.calls.append(faces)
        return faces


def _face(face: dict) -> dict:
    emotions = face["emotions"]
    return {
        "box": [int(v) for v in face["box"]],
        "label": max(emotions, key=emotions.get),
    }


def shim_torchvision() -> str | None:
    """facenet-pytorch imports torchvision for `batched_nms` alone (and `to_tensor`, used
    only when cropping faces out, which fer does not ask for). PyPI's torchvision wheels
    are CUDA builds whose operators do not load beside a CPU torch: where it does not
    import, the same NMS is given by OpenCV's `cv2.dnn.NMSBoxes` (C++, IoU as torchvision
    computes it, kept indices by decreasing score). Returns the shim's description."""
    import sys
    import types

    import cv2
    import torch

    try:
        from torchvision.ops.boxes import batched_nms as native

        native(torch.zeros((1, 4)), torch.ones(1), torch.zeros(1, dtype=torch.int64), 0.5)
        return None  # a torchvision that works: no shim
    except Exception:
        pass

    def batched_nms(boxes, scores, idxs, iou_threshold):
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64)
        shifted = boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]
        x1, y1, x2, y2 = shifted.double().unbind(1)
        rects = torch.stack([x1, y1, x2 - x1, y2 - y1], 1).tolist()
        kept = cv2.dnn.NMSBoxes(rects, scores.double().tolist(), 0.0, float(iou_threshold))
        return torch.as_tensor(list(kept), dtype=torch.int64).reshape(-1)

    package = types.ModuleType("torchvision")
    ops, boxes_module = (
        types.ModuleType("torchvision.ops"),
        types.ModuleType("torchvision.ops.boxes"),
    )
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes_module.batched_nms = batched_nms
    package.ops, ops.boxes, package.transforms = ops, boxes_module, transforms
    transforms.functional = functional
    for module in (package, ops, boxes_module, transforms, functional):
        sys.modules[module.__name__] = module
    return "torchvision.ops.boxes.batched_nms by cv2.dnn.NMSBoxes (no CPU torchvision wheel)"


def analyze(video: str, frequency: int, outdir: str, keras: bool, mtcnn: bool) -> dict:
    """Time fer's own video analysis of `video`; its frames, faces and timings."""
    started = time.perf_counter()
    import cv2

    shims = []
    try:
        cv2.waitKey(1)
    except cv2.error:  # headless OpenCV: fer calls these with display=False too
        cv2.waitKey = lambda delay=0: -1
        cv2.destroyAllWindows = lambda: None
        shims.append("cv2.waitKey/destroyAllWindows no-ops (headless OpenCV, display=False)")
    from fer.classes import Video
    from fer.fer import FER

    if mtcnn:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores pinned, as ours
        shimmed = shim_torchvision()
        shims += [shimmed] if shimmed else []
    detector = RecordingDetector(FER(mtcnn=mtcnn, use_tflite=not keras))
    loaded = time.perf_counter()
    Video(video, outdir=outdir).analyze(
        detector,
        display=False,
        output="pandas",
        frequency=frequency,
        save_frames=False,
        save_video=False,
        annotate_frames=False,
        zip_images=False,
    )
    done = time.perf_counter()
    return {
        "model": "keras hdf5" if keras else "quantized TFLite (fer's default)",
        "detector": "facenet-pytorch MTCNN" if mtcnn else "OpenCV Haar",
        "shims": shims,
        "load_seconds": round(loaded - started, 2),
        "analyze_seconds": round(done - loaded, 2),
        "frames_sampled": len(detector.calls),
        "faces_detected": sum(len(faces) for faces in detector.calls),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "frames": [[_face(face) for face in faces] for faces in detector.calls],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?")
    parser.add_argument("--versions", action="store_true")
    parser.add_argument("--frequency", type=int, default=1)
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--keras", action="store_true", help="the hdf5 model, not TFLite")
    parser.add_argument("--mtcnn", action="store_true", help="FER(mtcnn=True), not Haar")
    args = parser.parse_args()
    if args.versions or not args.video:
        print(json.dumps(versions()))
        return
    cpus = pin_cores(args.cores)
    result = analyze(args.video, args.frequency, args.outdir, args.keras, args.mtcnn)
    print(json.dumps({"cpus": cpus, **versions(), **result}))


if __name__ == "__main__":
    main()
