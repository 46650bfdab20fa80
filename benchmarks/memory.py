"""Peak memory versus video length; prints JSON.

    python benchmarks/memory.py [--clip pyfeat_WolfgangLanger_Pexels.mp4] [--minutes 20]

Loops a bundled clip (~20 s) with OpenCV's VideoWriter (mp4v) into a temp file of about
`--minutes`, then runs the analyze job (FnApiRunner, one worker) once on the short clip
and once on the long one, each in its own subprocess, and reports each one's peak RSS
(ru_maxrss of the child). Flat memory: the two within 10%, both < 1.5 GB.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"


def loop_clip(source: Path, target: Path, minutes: float) -> float:
    """Write `source` repeated to about `minutes` into `target`; its duration in s."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    total = max(len(frames), round(minutes * 60 * fps))
    for index in range(total):
        writer.write(frames[index % len(frames)])
    writer.release()
    return total / fps


def child(video: str, folder: str) -> None:
    """Run the job on one video; print its summary and this process's peak RSS."""
    from affectflow.pipelines.analyze import run

    video_list = Path(folder) / "videos.csv"
    with video_list.open("w", newline="") as handle:
        csv.writer(handle).writerows([["url"], [video]])
    started = time.perf_counter()
    warehouse = str(Path(folder) / "out")
    summary = run([str(video_list), "--warehouse", warehouse, "--allow-local", "--cohort", "b"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "frames_sampled": summary.frames_sampled,
                "faces_detected": summary.faces_detected,
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )


def measure(video: Path, folder: Path) -> dict:
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(video), str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clip", default="pyfeat_WolfgangLanger_Pexels.mp4")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--child", nargs=2, metavar=("VIDEO", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        short = CLIPS / args.clip
        long = folder / "looped.mp4"
        started = time.perf_counter()
        long_s = loop_clip(short, long, args.minutes)
        write_s = time.perf_counter() - started
        runs = {"short": measure(short, folder / "short"), "long": measure(long, folder / "long")}
    ratio = runs["long"]["peak_rss_mb"] / runs["short"]["peak_rss_mb"]
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "clip": args.clip,
                "long_video_s": round(long_s, 1),
                "loop_write_seconds": round(write_s, 1),
                "runs": runs,
                "peak_ratio_long_to_short": round(ratio, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
