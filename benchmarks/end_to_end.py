"""End-to-end throughput of the analyze job on the bundled clips; prints JSON.

    python benchmarks/end_to_end.py [--workers 1] [--fps 10] [--repeat 1]

Measures sampled frames/s and faces/s of the whole job (FnApiRunner, local files, the
default model), and the peak RSS of this process and its children. Nothing here is a
test: numbers vary with the machine and its load.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video_list = write_list(folder, args.repeat)
        started = time.perf_counter()
        summary = run(
            [
                str(video_list),
                "--warehouse",
                str(folder / "out"),
                "--allow-local",
                "--fps",
                str(args.fps),
                "--workers",
                str(args.workers),
            ]
        )
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "end_to_end",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "workers": args.workers,
                "fps": args.fps,
                "videos": summary.videos_total,
                "frames_sampled": summary.frames_sampled,
                "faces_detected": summary.faces_detected,
                "seconds": round(seconds, 2),
                "sampled_frames_per_s": round(summary.frames_sampled / seconds, 2),
                "faces_per_s": round(summary.faces_detected / seconds, 2),
                "peak_rss_mb": {k: round(v, 1) for k, v in peak_rss_mb().items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
