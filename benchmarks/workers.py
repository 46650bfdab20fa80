"""Two worker processes versus one, on equal-length looped clips; prints JSON.

    python benchmarks/workers.py [--videos 4] [--seconds 40] [--trials 2]
                                 [--clip pyfeat_WolfgangLanger_Pexels.mp4] [--fps 10]

Loops a bundled 360p talking-head clip with OpenCV (mp4v) into `--videos` files of
`--seconds` each (equal lengths: FnApiRunner splits the reshuffled video list between
the workers once, by count, so unequal videos would measure the split, not the
workers), then runs benchmarks/end_to_end.py on that list, each run in its own
subprocess, for: 1 worker with OpenCV and torch at one thread, 1 worker with their
default threads (OpenCV's Haar uses every core by itself), and 2 workers (one thread
each). The configurations alternate `--trials` times; the best run of each counts
(the machine is shared), every run and the load average before it are listed. A run
of each configuration on one 2.4 s clip estimates the fixed start-up cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
END_TO_END = HERE / "end_to_end.py"
CLIPS = HERE.parent / "tests" / "data" / "videos"
SHORT_CLIP = CLIPS / "pyfeat_single_face.mp4"
CONFIGS = {
    "1 worker, 1 thread": (1, True),
    "1 worker, default threads": (1, False),
    "2 workers": (2, True),
}


def loop_clip(source: Path, target: Path, seconds: float) -> float:
    """Write `source` looped to about `seconds` into `target` (mp4v); its duration in s."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    total = max(len(frames), round(seconds * fps))
    for index in range(total):
        writer.write(frames[index % len(frames)])
    writer.release()
    return total / fps


def write_list(folder: Path, clip: Path, videos: int, seconds: float) -> tuple[Path, float]:
    """A list of `videos` looped copies of `clip` (distinct files); each one's duration."""
    first = folder / f"0-{clip.stem}.mp4"
    duration = loop_clip(clip, first, seconds)
    paths = [first]
    for copy in range(1, videos):
        paths.append(folder / f"{copy}-{clip.stem}.mp4")
        paths[-1].write_bytes(first.read_bytes())
    return write_csv(folder / "videos.csv", paths), duration


def write_csv(video_list: Path, paths: list[Path]) -> Path:
    video_list.write_text("url,cohort\n" + "".join(f"{path},bench\n" for path in paths))
    return video_list


def run_once(video_list: Path, workers: int, one_thread: bool, fps: float) -> dict:
    command = [sys.executable, str(END_TO_END), "--list", str(video_list)]
    command += ["--workers", str(workers), "--fps", str(fps)]
    if one_thread:
        command.append("--one-thread")
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout[done.stdout.index("{") :])
    return {**result, "load_before": round(load, 2)}


def measure(video_list: Path, trials: int, fps: float) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for _ in range(trials):
        for name, (workers, one_thread) in CONFIGS.items():
            runs[name].append(run_once(video_list, workers, one_thread, fps))
    return runs


def best_runs(runs: dict[str, list[dict]]) -> dict[str, dict]:
    return {name: min(trials, key=lambda r: r["seconds"]) for name, trials in runs.items()}


def summary(runs: dict[str, list[dict]], overhead: dict[str, float]) -> dict:
    return {
        name: {
            "best_seconds": run["seconds"],
            "sampled_frames_per_s": run["sampled_frames_per_s"],
            "faces_per_s": run["faces_per_s"],
            "peak_rss_mb": run["peak_rss_mb"],
            "one_video_2_4_s_seconds": overhead[name],
            "all_seconds": [r["seconds"] for r in runs[name]],
            "load_before": [r["load_before"] for r in runs[name]],
        }
        for name, run in best_runs(runs).items()
    }


def speedups(runs: dict[str, list[dict]]) -> dict[str, float]:
    """Best 2-worker run against the best run of each 1-worker baseline."""
    best = best_runs(runs)
    two = best["2 workers"]["seconds"]
    return {
        f"vs {name}": round(run["seconds"] / two, 2)
        for name, run in best.items()
        if CONFIGS[name][0] == 1
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each video")
    parser.add_argument("--clip", default="pyfeat_WolfgangLanger_Pexels.mp4")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video_list, duration = write_list(folder, CLIPS / args.clip, args.videos, args.seconds)
        short_list = write_csv(folder / "short.csv", [SHORT_CLIP])
        overhead = {
            name: run_once(short_list, workers, one_thread, args.fps)["seconds"]
            for name, (workers, one_thread) in CONFIGS.items()
        }
        runs = measure(video_list, args.trials, args.fps)
    first = next(iter(runs.values()))[0]
    if first["videos"] != args.videos or not first["frames_sampled"]:
        raise SystemExit(f"the job did not analyse the videos: {first}")
    report = {
        "benchmark": "workers",
        "machine": {"cpus": os.cpu_count()},
        "input": {
            "videos": first["videos"],
            "clip": args.clip,
            "looped_to_s": round(duration, 1),
            "fps": args.fps,
            "frames_sampled": first["frames_sampled"],
            "note": "equal copies of one looped 640x360 talking-head clip (mp4v)",
        },
        "trials": args.trials,
        "two_workers_speedup": speedups(runs),
        "runs": summary(runs, overhead),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
