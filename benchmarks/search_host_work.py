"""Host CPU work per frame that the batched (GPU) face search leaves on the CPU; JSON.

    python benchmarks/search_host_work.py [--frames 64] [--height 720] [--rounds 3]

A GPU runner's search (`--detect-batch N --device cuda`) is bound by whatever of it runs on
the host. This measures, on the CPU, the frame work of one batch of the talking-head
clip's sampled frames (upscaled to `--height`, as `detect_batch.py` does) three ways, on
the same RNet/ONet boxes (those the batch's own search crops):

- `opencv_every_box`: the frames stacked for upload, every box cropped by OpenCV on the
  host (the GPU path as measured in session 3);
- `integrals_then_crops`: the frames stacked, their integral images, the crops off them
  on the host (the GPU path until `DeviceFrames`);
- `device_frames_host_share`: what `DeviceFrames` leaves on the host: one upload per frame
  and OpenCV's crops of the boxes it hands back (smaller than the crop, or a mean at x.5).

CPU seconds (`time.process_time`, one thread), best of `--rounds`, per frame. The
device's own work (pyramid, integral images, area means, the networks) is not in it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch
from detect_batch import sampled_grays

from affectflow.models import mtcnn_device
from affectflow.models.mtcnn import MtcnnDetector
from affectflow.models.mtcnn_boxes import box_crops, integrals
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights

Boxes = list[tuple[np.ndarray, int]]


def recorded_boxes(grays: list[np.ndarray], weights: str) -> tuple[Boxes, Boxes]:
    """(rows, crop size) of every crop call of one batched torch search, and of the
    crops `DeviceFrames` hands to OpenCV on the host."""
    every, host = [], []
    crops, opencv = mtcnn_device.DeviceFrames.crops, mtcnn_device.box_crops

    def recording_crops(self, rows: np.ndarray, size: int) -> torch.Tensor:
        every.append((rows.copy(), size))
        return crops(self, rows, size)

    def recording_opencv(frames: list[np.ndarray], rows: np.ndarray, size: int) -> np.ndarray:
        host.append((rows.copy(), size))
        return opencv(frames, rows, size)

    mtcnn_device.DeviceFrames.crops, mtcnn_device.box_crops = recording_crops, recording_opencv
    try:
        MtcnnDetector(weights, backend="torch").detect_batch(grays)
    finally:
        mtcnn_device.DeviceFrames.crops, mtcnn_device.box_crops = crops, opencv
    return every, host


def ways(grays: list[np.ndarray], every: Boxes, host: Boxes) -> dict[str, Callable[[], None]]:
    def opencv_every_box() -> None:
        np.stack(grays)
        for rows, size in every:
            box_crops(grays, rows, size)

    def integrals_then_crops() -> None:
        np.stack(grays)
        sums = integrals(grays)
        for rows, size in every:
            box_crops(grays, rows, size, sums)

    def device_frames_host_share() -> None:
        for gray in grays:
            torch.from_numpy(gray).clone()  # the per-frame copy an upload makes
        for rows, size in host:
            box_crops(grays, rows, size)

    return {
        f.__name__: f for f in (opencv_every_box, integrals_then_crops, device_frames_host_share)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    grays = sampled_grays(args.height)[: args.frames]
    every, host = recorded_boxes(grays, str(fetch_mtcnn_weights(args.cache_dir)))
    best: dict[str, float] = {}
    for _ in range(args.rounds):  # alternated
        for name, way in ways(grays, every, host).items():
            started = time.process_time()
            way()
            best[name] = min(best.get(name, np.inf), time.process_time() - started)
    report = {
        "benchmark": "search_host_work",
        "frames": len(grays),
        "height": args.height,
        "boxes": {str(size): len(rows) for rows, size in every},
        "boxes_cropped_on_host": {str(size): len(rows) for rows, size in host},
        "host_cpu_ms_per_frame": {k: round(v / len(grays) * 1000, 2) for k, v in best.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
