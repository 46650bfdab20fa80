"""End-to-end throughput of the analyze job on the bundled clips; prints JSON.

    python benchmarks/end_to_end.py [--workers 1] [--fps 10] [--repeat 1] [--list FILE]
                                    [--one-thread] [ANALYZE OPTIONS, e.g. --detector haar]

Measures sampled frames/s and faces/s of the whole job (FnApiRunner, local files, the
default model), the CPU seconds of this process and its children (robust to a busy
machine; start-up included: difference two list lengths for the marginal cost), and the
peak RSS of this process and its children. `--list` runs a
given video list instead of the bundled clips; `--one-thread` holds OpenCV's Haar and
torch to one thread, as `--workers N > 1` does in each worker (where FFmpeg decoding
gets one thread too; here it keeps its default, which only favours this baseline). Nothing
here is a test: numbers vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

from affectflow.pipelines.analyze import run

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"


def write_list(folder: Path, repeat: int) -> Path:
    """A video list of every bundled clip, `repeat` times under distinct paths."""
    path = folder / "videos.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "cohort"])
        for copy in range(repeat):
            for clip in sorted(CLIPS.iterdir()):
                target = folder / f"{copy}-{clip.name}"
                shutil.copyfile(clip, target)  # a symlink would be the same video
                writer.writerow([str(target), f"c{copy % 2}"])
    return path


def peak_rss_mb() -> dict[str, float]:
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale,
    }


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", default="1", help="a count or auto (analyze's default)")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--list", default=None, help="video list to run (default: the clips)")
    parser.add_argument("--one-thread", action="store_true", help="OpenCV and torch: 1 thread")
    args, analyze_options = parser.parse_known_args()
    if args.one_thread:
        cv2.setNumThreads(1)
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video_list = Path(args.list) if args.list else write_list(folder, args.repeat)
        started, cpu_started = time.perf_counter(), cpu_seconds()
        argv = [str(video_list), "--warehouse", str(folder / "out"), "--allow-local"]
        argv += ["--fps", str(args.fps), "--workers", str(args.workers), *analyze_options]
        summary = run(argv)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
    print(
        json.dumps(
            {
                "benchmark": "end_to_end",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "workers": args.workers,
                "one_thread": args.one_thread or args.workers not in ("1", "auto"),
                "fps": args.fps,
                "analyze_options": analyze_options,
                "videos": summary.videos_total,
                "frames_sampled": summary.frames_sampled,
                "faces_detected": summary.faces_detected,
                "seconds": round(seconds, 2),
                "sampled_frames_per_s": round(summary.frames_sampled / seconds, 2),
                "faces_per_s": round(summary.faces_detected / seconds, 2),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_sampled_frame": round(1000 * cpu / max(summary.frames_sampled, 1), 2),
                "peak_rss_mb": {k: round(v, 1) for k, v in peak_rss_mb().items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
