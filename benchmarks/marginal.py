"""Marginal CPU cost per sampled frame of the whole job, this code vs a baseline; JSON.

    python benchmarks/marginal.py [--baseline DIR] [--rounds 2] [--core 0] [-- OPTIONS]
    python benchmarks/marginal.py --all-cores [--copies 5] [--rounds 2] [-- OPTIONS]

Talking heads at 360, 540 and 720 p (the bundled Pexels clip, upscaled with OpenCV into
a temporary folder) and the bundled single-face clip: `end_to_end.py` runs a short list
(the single-face clip) and a long one (all four), each in its own process pinned to one
core (`taskset -c CORE`) with one thread (`--one-thread`), and the marginal cost is the
difference of their CPU seconds (process + children) over the difference of their
sampled frames: start-up cancels. `--baseline DIR` names a folder holding an older
checkout as `DIR/affectflow` (e.g. `git archive COMMIT | tar -x -C DIR/affectflow`): it is
put first on PYTHONPATH, and the two codes alternate round by round, so a load that
changes during the run touches both. CPU seconds, not wall time, so a shared machine
slows both little; ratios are what to quote. OPTIONS after `--` go to both jobs.

`--all-cores` runs the jobs as an analyst would (not pinned, the libraries' threads as
analyze sets them, `--workers auto`), with the long list holding `--copies` copies of the
four clips, and adds the marginal *wall* frames per second: on a quiet machine only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
CLIPS = HERE.parent / "tests" / "data" / "videos"
TALKING_HEAD = "pyfeat_WolfgangLanger_Pexels.mp4"
SHORT = "pyfeat_single_face.mp4"
HEIGHTS = (540, 720)


def upscaled(source: Path, height: int, target: Path) -> Path:
    """`source` resized to `height` px high (aspect kept), as an mp4v file."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    width = round(capture.get(cv2.CAP_PROP_FRAME_WIDTH) * height / capture.get(4) / 2) * 2
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC))
    capture.release()
    writer.release()
    return target


def copied(source: Path, target: Path) -> Path:
    """A byte copy of `source` (a distinct path is a distinct video to the job)."""
    shutil.copyfile(source, target)
    return target


def write_list(path: Path, videos: list[Path]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "cohort"])
        writer.writerows([str(video), "c"] for video in videos)
    return path


def run_job(code: str | None, video_list: Path, core: int | None, options: list[str]) -> dict:
    """One `end_to_end.py` run in its own process, pinned to `core` with one thread, or as
    analyze's defaults run it (`core` None); its JSON."""
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join([code, env.get("PYTHONPATH", "")])
    command = [sys.executable, str(HERE / "end_to_end.py"), "--list", str(video_list)]
    if core is None:
        command += ["--workers", "auto", *options]
    else:
        env["OMP_NUM_THREADS"] = "1"
        command = ["taskset", "-c", str(core), *command, "--one-thread", *options]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:  # the job's own error, not only CalledProcessError's exit status
        sys.exit(f"end_to_end.py failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout[done.stdout.index("{") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default=None, help="folder with an older affectflow/")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--all-cores", action="store_true", help="unpinned, analyze defaults")
    parser.add_argument("--copies", type=int, default=5, help="--all-cores: long list copies")
    args, options = parser.parse_known_args()
    options = [option for option in options if option != "--"]
    codes = {"this": None, **({"baseline": args.baseline} if args.baseline else {})}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        heads = [CLIPS / TALKING_HEAD]
        heads += [upscaled(CLIPS / TALKING_HEAD, h, folder / f"head{h}.mp4") for h in HEIGHTS]
        lists = {
            "short": write_list(folder / "short.csv", [CLIPS / SHORT]),
            "long": write_list(folder / "long.csv", [CLIPS / SHORT, *heads]),
        }
        if args.all_cores:
            copies = [
                copied(v, folder / f"{k}-{v.name}") for k in range(args.copies) for v in heads
            ]
            lists["long"] = write_list(folder / "long.csv", [CLIPS / SHORT, *copies])
        core = None if args.all_cores else args.core
        runs: dict[str, list[dict]] = {name: [] for name in codes}
        for _ in range(args.rounds):
            for name, code in codes.items():
                jobs = {size: run_job(code, path, core, options) for size, path in lists.items()}
                frames = jobs["long"]["frames_sampled"] - jobs["short"]["frames_sampled"]
                cpu = jobs["long"]["cpu_s"] - jobs["short"]["cpu_s"]
                runs[name].append(
                    {
                        "marginal_cpu_ms_per_frame": round(1000 * cpu / frames, 2),
                        "marginal_frames_per_cpu_s": round(frames / cpu, 1),
                        "frames": frames,
                        "faces_long": jobs["long"]["faces_detected"],
                        "short_job_cpu_s": jobs["short"]["cpu_s"],
                        "short_job_wall_s": jobs["short"]["seconds"],
                        "marginal_frames_per_wall_s": round(
                            frames / (jobs["long"]["seconds"] - jobs["short"]["seconds"]), 1
                        ),
                    }
                )
    best = {name: min(r["marginal_cpu_ms_per_frame"] for r in rs) for name, rs in runs.items()}
    report = {
        "benchmark": "marginal",
        "core": core,
        "cores_available": len(os.sched_getaffinity(0)),
        "options": options,
        "runs": runs,
    }
    report["best_ms_per_frame"] = best
    if "baseline" in best:
        report["speedup_vs_baseline"] = round(best["baseline"] / best["this"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
