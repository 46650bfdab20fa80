"""MTCNN face search in batches of frames (`--detect-batch`), per device; prints JSON.

    python benchmarks/detect_batch.py [--devices cpu,cuda] [--batches 1,16,64] [--rounds 3]
                                      [--height 720] [--cache-dir DIR]

The sampled frames (10 fps) of the bundled talking-head clip, upscaled to `--height`
(720 p: a Dataflow worker's typical input), searched whole as the job's default does
(`MtcnnDetector.search_batch`, every face from `--min-face` 50 px, all three nets), on
each device in batches of each size: sampled frames per second of the search alone
(decoding excluded; the frames are in memory), the best of `--rounds` passes after one
warm-up pass. The boxes of every setting are compared with the CPU's one-by-one search
(ONNX Runtime, the default): `max_box_diff_px` is the largest corner difference of the
matched boxes, `box_count_diff` the frames whose count of faces differs. On a GPU each
row also gives the kernels' busy time per frame (torch's profiler, one more pass) beside
the wall time per frame: where the first is far below the second, the host bounds it
(`search_host_work.py` measures the host's share of the crops).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from affectflow.media.frames import iter_sampled_frames
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
TALKING_HEAD = CLIP / "pyfeat_WolfgangLanger_Pexels.mp4"


def sampled_grays(height: int, fps: float = 10.0) -> list[np.ndarray]:
    """The clip's sampled frames, grey, resized to `height` px high."""
    grays = []
    for frame in iter_sampled_frames(str(TALKING_HEAD), fps):
        scale = height / frame.gray.shape[0]
        grays.append(
            cv2.resize(frame.gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        )
    return grays


def search(detector: MtcnnDetector, grays: list[np.ndarray], batch: int) -> list[list]:
    """Every frame searched, `batch` frames per call."""
    found: list[list] = []
    for start in range(0, len(grays), batch):
        found += detector.search_batch(grays[start : start + batch], None)
    return found


def compare(found: list[list], reference: list[list]) -> dict[str, float]:
    """Frames whose face count differs, and the largest corner difference otherwise."""
    counts = sum(len(a) != len(b) for a, b in zip(found, reference, strict=True))
    diffs = [
        max(abs(box.x - ref.x), abs(box.y - ref.y), abs(box.w - ref.w), abs(box.h - ref.h))
        for faces, refs in zip(found, reference, strict=True)
        if len(faces) == len(refs)
        for box, ref in zip(faces, refs, strict=True)
    ]
    return {"box_count_diff": counts, "max_box_diff_px": round(max(diffs, default=0.0), 2)}


def timed(detector: MtcnnDetector, grays: list[np.ndarray], batch: int, rounds: int) -> float:
    """Best frames/s of `rounds` passes (after one warm-up pass)."""
    search(detector, grays, batch)
    best = 0.0
    for _ in range(rounds):
        if detector.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        search(detector, grays, batch)
        if detector.device == "cuda":
            torch.cuda.synchronize()
        best = max(best, len(grays) / (time.perf_counter() - started))
    return round(best, 1)


def kernel_share(detector: MtcnnDetector, grays: list[np.ndarray], batch: int) -> dict:
    """One pass under torch's profiler: the GPU kernels' busy time per frame against the
    wall time per frame (far below it: the host bounds the search). Never raises: an
    error is reported as a field, so the other rows survive on a lent machine."""
    try:
        activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.profiler.profile(activities=activities) as profile:
            search(detector, grays, batch)
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
        busy = sum(event.self_device_time_total for event in profile.key_averages()) / 1e6
        per_frame = 1000 / len(grays)
        return {"kernel_ms_per_frame": round(busy * per_frame, 3),
                "profiled_wall_ms_per_frame": round(wall * per_frame, 3)}  # fmt: skip
    except Exception as error:  # a measurement aid, not the measurement
        return {"kernel_share_error": repr(error)[:200]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    weights = str(fetch_mtcnn_weights(args.cache_dir))
    grays = sampled_grays(args.height)
    reference = search(MtcnnDetector(weights), grays, 1)
    rows = []
    for device in args.devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            rows.append({"device": "cuda", "skipped": "torch sees no CUDA device"})
            continue
        detector = MtcnnDetector(weights, device=device)
        for batch in (int(b) for b in args.batches.split(",")):
            fps = timed(detector, grays, batch, args.rounds)
            row = {"device": device, "batch": batch, "frames_per_s": fps}
            if device == "cuda":
                row |= kernel_share(detector, grays, batch)
            rows.append({**row, **compare(search(detector, grays, batch), reference)})
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    report = {
        "benchmark": "detect_batch",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "gpu": gpu},
        "frames": len(grays),
        "height": args.height,
        "faces_reference": sum(len(f) for f in reference),
        "rows": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
