"""The whole job alone and beside competing busy processes, alternated; prints JSON.

    python benchmarks/shared_machine.py [--compete N] [--rounds 2] [--list FILE] [-- OPTIONS]

Runs `end_to_end.py` (analyze's defaults, not pinned: the job picks its own threads from
the cores it may use) on `--list` (default: the bundled 20 s talking-head clip), once on
its own and once while `--compete` processes (default: one per available core) spin in
pure Python, alternating `--rounds` times. On a machine of C cores, N spinning processes
leave the job about C / (C + N) of it: a job that shares fairly takes about (C + N) / C
times as long beside them, and its CPU seconds stay what they were alone. One whose
thread pools spin or oversubscribe takes far longer and burns CPU seconds waiting (the
issue saw 3 min 19 s against 19 s). Run it on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIP = HERE.parent / "tests" / "data" / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"
SPIN = "while True: pass"


def run_job(video_list: Path, options: list[str], compete: int) -> dict:
    """One end_to_end.py run, with `compete` spinning processes alive throughout."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(compete)]
    try:
        command = [sys.executable, str(HERE / "end_to_end.py"), "--list", str(video_list)]
        done = subprocess.run(
            [*command, "--workers", "auto", *options], capture_output=True, text=True, check=True
        )
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    report = json.loads(done.stdout[done.stdout.index("{") :])
    keys = ("seconds", "cpu_s", "frames_sampled", "faces_detected")
    return {"compete": compete, **{k: report[k] for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compete", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--list", default=None, help="video list (default: the 20 s clip)")
    args, options = parser.parse_known_args()
    options = [option for option in options if option != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        video_list = Path(args.list) if args.list else Path(tmp) / "one.csv"
        if not args.list:
            with video_list.open("w", newline="") as handle:
                csv.writer(handle).writerows([("url", "cohort"), (str(CLIP), "c")])
        runs = [
            run_job(video_list, options, compete)
            for _ in range(args.rounds)
            for compete in (0, args.compete)
        ]
    alone = min(r["seconds"] for r in runs if r["compete"] == 0)
    shared = min(r["seconds"] for r in runs if r["compete"] == args.compete)
    cores = len(os.sched_getaffinity(0))
    report = {
        "benchmark": "shared_machine",
        "cores": cores,
        "compete": args.compete,
        "options": options,
        "runs": runs,
        "best_seconds": {"alone": alone, "shared": shared},
        "slowdown": round(shared / alone, 2),
        "fair_share_slowdown": round((cores + args.compete) / cores, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
