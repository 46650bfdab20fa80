"""Peak memory versus video length; prints JSON.

    python benchmarks/memory.py [--clip pyfeat_WolfgangLanger_Pexels.mp4] [--minutes 20]

Writes the bundled clip (~20 s) once and looped to about `--minutes` into temp files, with
ffmpeg (`-stream_loop`, stream copy) when it is on PATH, else OpenCV's VideoWriter (mp4v;
then the short video is re-encoded the same way, so both decode the same codec). Runs the
analyze job (FnApiRunner, one worker, default settings) on each in its own subprocess and
reports each one's peak RSS (ru_maxrss of that process). Flat memory: the two within 10%,
both < 1.5 GB.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
LIMIT_MB = 1500.0
TOLERANCE = 0.10


def video_facts(path: Path) -> tuple[int, float]:
    """Frames (counted by decoding, not the container's guess) and fps of a video."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = 0
    while capture.grab():
        frames += 1
    capture.release()
    return frames, fps


def loop_with_ffmpeg(ffmpeg: str, source: Path, target: Path, loops: int) -> None:
    command = [ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source)]
    subprocess.run([*command, "-c", "copy", str(target)], check=True)


def loop_with_opencv(source: Path, target: Path, loops: int) -> None:
    """Decode `source` `loops` times over, re-encoding every frame (mp4v) into `target`."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(loops):
        capture.release()
        capture = cv2.VideoCapture(str(source))  # reopened: seeking back is not reliable
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            writer.write(frame)
    capture.release()
    writer.release()


def write_videos(source: Path, folder: Path, minutes: float) -> dict:
    """The short and the looped video in `folder`, and how they were made."""
    frames, fps = video_facts(source)
    loops = max(1, round(minutes * 60 * fps / frames))
    ffmpeg = shutil.which("ffmpeg")
    started = time.perf_counter()
    short, long = folder / f"short{source.suffix}", folder / f"long{source.suffix}"
    if ffmpeg:
        shutil.copyfile(source, short)
        loop_with_ffmpeg(ffmpeg, source, long, loops)
    else:
        loop_with_opencv(source, short, 1)
        loop_with_opencv(source, long, loops)
    return {
        "short": short,
        "long": long,
        "loops": loops,
        "writer": "ffmpeg -stream_loop -c copy" if ffmpeg else "OpenCV VideoWriter mp4v",
        "write_seconds": round(time.perf_counter() - started, 1),
    }


def child(video: str, folder: str) -> None:
    """Run the job on one video; print its summary and this process's peak RSS."""
    from affectflow.pipelines.analyze import run

    video_list = Path(folder) / "videos.csv"
    with video_list.open("w", newline="") as handle:
        csv.writer(handle).writerows([["url"], [video]])
    started = time.perf_counter()
    warehouse = str(Path(folder) / "out")
    argv = [str(video_list), "--warehouse", warehouse, "--allow-local", "--cohort", "b"]
    summary = run([*argv, "--runner", "FnApiRunner"])
    if summary.videos_ok != 1:
        raise SystemExit(f"the video was not analysed: {summary.line()}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "frames_sampled": summary.frames_sampled,
        "faces_detected": summary.faces_detected,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_mb, 1),
    }
    print(json.dumps(result))


def measure(video: Path, folder: Path) -> dict:
    """Run `child` on `video` in a fresh interpreter; its JSON plus the video's length."""
    folder.mkdir()
    command = [sys.executable, __file__, "--child", str(video.resolve()), str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the job failed on {video.name} ({done.returncode})")
    frames, fps = video_facts(video)
    return {"video_s": round(frames / fps, 1), **json.loads(done.stdout.strip().splitlines()[-1])}


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
        videos = write_videos(CLIPS / args.clip, folder, args.minutes)
        runs = {name: measure(videos.pop(name), folder / name) for name in ("short", "long")}
    peaks = [run["peak_rss_mb"] for run in runs.values()]
    ratio = runs["long"]["peak_rss_mb"] / runs["short"]["peak_rss_mb"]
    report = {
        "benchmark": "memory",
        "clip": args.clip,
        "videos": videos,
        "runs": runs,
        "peak_ratio_long_to_short": round(ratio, 3),
        "within_10_percent": abs(ratio - 1) <= TOLERANCE,
        "under_1_5_gb": max(peaks) < LIMIT_MB,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
