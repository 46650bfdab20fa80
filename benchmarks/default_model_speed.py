"""Old vs new default emotion model, side by side: per-face inference and the whole job.

    python benchmarks/default_model_speed.py [--rounds 3] [--clips a.mp4,b.mp4]

Per face: CPU ms per face at batch 64 on one torch thread, with each model's real
weights, rounds alternating old/new. Whole job: `affectflow analyze` (in process, one
worker, one thread) on bundled clips with `--model` old then new, alternating, CPU
seconds of this process (`resource.getrusage`). Prints JSON with the new/old ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import tempfile
import time
from pathlib import Path

import cv2
import torch

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.analyze import run

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
MODELS = ("fer-minixception", "affectflow-minixception")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@torch.inference_mode()
def per_face_ms(name: str, faces: int = 640, batch: int = 64) -> float:
    spec = get_model_spec(name)
    model = spec.load(spec.fetch_weights())
    x = torch.rand(batch, 1, spec.input_size, spec.input_size) * 2 - 1
    model(x)  # warm-up
    start = time.process_time()
    for _ in range(faces // batch):
        model(x)
    return (time.process_time() - start) / faces * 1000


def job_cpu_s(name: str, clips: list[str], folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / f"{name}.csv"
    with listing.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "cohort"])
        writer.writerows([str(CLIPS / clip), "c"] for clip in clips)
    start = cpu_s()
    run([str(listing), "--warehouse", str(folder / name), "--allow-local", "--model", name])
    return cpu_s() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clips", default="pyfeat_single_face.mp4,carphone_pristine.mp4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    clips = args.clips.split(",")
    face = {m: [] for m in MODELS}
    job = {m: [] for m in MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name in MODELS if round_ % 2 == 0 else MODELS[::-1]:
                face[name].append(per_face_ms(name))
                job[name].append(job_cpu_s(name, clips, Path(tmp) / f"r{round_}"))
    old, new = MODELS
    result = {
        "benchmark": "default_model_speed",
        "rounds": args.rounds,
        "clips": clips,
        "per_face_cpu_ms": {m: round(min(v), 3) for m, v in face.items()},
        "job_cpu_s": {m: round(min(v), 2) for m, v in job.items()},
        "per_face_ratio_new_old": round(min(face[new]) / min(face[old]), 3),
        "job_ratio_new_old": round(min(job[new]) / min(job[old]), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
