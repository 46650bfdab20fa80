"""A projection, not a measurement: worker-hours and dollars per 1,000 video-hours.

    python deploy/cost_model.py [--vcpu-hour 0.056] [--gb-hour 0.003557] [--gpu-hour 0.35] ...
    python deploy/cost_model.py --markdown [...]   the sentence deploy/README.md quotes

Inputs are CPU seconds per video-minute per stage (10 fps sampling, 360p-480p) and a
fixed cost per video (download, unit write), measured on the 2-core development machine
(README "Speed", benchmarks/detect.py, inference.py and scale.py), the GPU throughputs of
inference and of the batched MTCNN, measured on one NVIDIA H200 (2026-12-04:
benchmarks/inference.py and detect_batch.py, before the search's crops moved to the
device; batches past 16 frames gained little, which pointed at the search's CPU-side work;
other GPUs not measured: give yours with the
`--gpu-*` flags), and prices (Dataflow batch list prices,
us-central1: vCPU-hour, GB-hour of memory, an NVIDIA T4 per hour; check the current
ones). Every input is a flag; the output says which stage bounds each configuration.
"""

from __future__ import annotations

import argparse
import json

from affectflow.schemas.settings import ClassifySettings

FRAMES_PER_VIDEO_MINUTE = 600  # 10 fps
# CPU seconds per video-minute, measured here with benchmarks/detect.py --default-only
# (CPU seconds of one process pinned to one core, one thread, 457 sampled frames of the
# six bundled clips, best of four runs alternated with the previous code on a shared
# machine at load 0.8-0.9, 2026-12-04 session 4: the search took 2.27-2.58 s, the previous
# code's 3.14-3.29 s) and benchmarks/inference.py (channels-last, one thread, batch 64).
MEASURED = {
    "decode": FRAMES_PER_VIDEO_MINUTE * 1.00 / 457,  # decode only
    "detect": FRAMES_PER_VIDEO_MINUTE * 2.27 / 457,  # the default: MTCNN (ONNX Runtime) + check
    # benchmarks/inference.py, batch 64, 1 face/frame: one classifier pass per face
    # (`--flip-average on` makes two: the face and its mirror image; `passes` below)
    "infer": FRAMES_PER_VIDEO_MINUTE / 1325,
}
# Per video, whatever its length: download (yt-dlp, probe), unit write, the job's own
# overhead. benchmarks/scale.py at N=100: 1.09 s per 2.4 s clip (24 frames, 24 faces),
# of which the frame work above is 0.47 s: 0.6 s per video.
PER_VIDEO_S = 0.6


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for stage, seconds in MEASURED.items():
        parser.add_argument(f"--{stage}-s", type=float, default=round(seconds, 3))
    parser.add_argument("--per-video-s", type=float, default=PER_VIDEO_S, help="download, write")
    parser.add_argument(
        "--flip-average",
        choices=("on", "off"),
        default="on" if ClassifySettings().flip_average else "off",
        help="analyze's --flip-average: two classifier passes per face when on (default: "
        "analyze's, %(default)s)",
    )
    parser.add_argument("--vcpu-hour", type=float, default=0.056, help="$ per vCPU-hour")
    parser.add_argument("--gb-hour", type=float, default=0.003557, help="$ per GB-hour")
    parser.add_argument("--gb-per-vcpu", type=float, default=3.75, help="n1-standard: 3.75")
    parser.add_argument("--gpu-hour", type=float, default=0.35, help="$ per T4-hour")
    parser.add_argument("--gpu-vcpus", type=int, default=4, help="vCPUs beside each GPU")
    parser.add_argument(
        "--gpu-faces-per-s",
        type=float,
        default=170_000.0,
        help="mini-Xception, fp32, batch 4096 (measured: H200)",
    )
    parser.add_argument(
        "--gpu-detect-frames-per-s",
        type=float,
        default=155.0,
        help="MTCNN search batched by 64, 720p frames (measured: H200)",
    )
    parser.add_argument("--utilisation", type=float, default=0.7, help="busy share of a worker")
    parser.add_argument("--cohort-videos", type=int, default=1_000_000)
    parser.add_argument("--minutes-per-video", type=float, default=5.0)
    parser.add_argument("--markdown", action="store_true", help="the README's sentence")
    return parser.parse_args(argv)


def project(args: argparse.Namespace) -> dict:
    passes = 2 if args.flip_average == "on" else 1
    stages = {s: getattr(args, f"{s}_s") for s in MEASURED}
    stages["infer"] *= passes
    stages["download+write"] = args.per_video_s / args.minutes_per_video
    minutes = 1000 * 60  # 1,000 video-hours
    vcpu_price = args.vcpu_hour + args.gb_hour * args.gb_per_vcpu
    cpu_seconds = sum(stages.values()) * minutes / args.utilisation
    cpu_hours = cpu_seconds / 3600
    # GPU workers: detect and infer on the GPU; download, decode and write on the vCPUs.
    cpu_side = (stages["download+write"] + stages["decode"]) * minutes
    gpu_side = (
        FRAMES_PER_VIDEO_MINUTE / args.gpu_detect_frames_per_s
        + FRAMES_PER_VIDEO_MINUTE * passes / args.gpu_faces_per_s
    ) * minutes
    gpu_worker_hours = max(cpu_side / args.gpu_vcpus, gpu_side) / args.utilisation / 3600
    gpu_price = args.gpu_hour + args.gpu_vcpus * vcpu_price
    cohort_hours = args.cohort_videos * args.minutes_per_video / 60
    cpu_cost = cpu_hours * vcpu_price
    gpu_cost = gpu_worker_hours * gpu_price
    return {
        "label": "projection from measured CPU seconds and GPU throughputs",
        "cpu_seconds_per_video_minute": {s: round(v, 3) for s, v in stages.items()},
        "per_1000_video_hours": {
            "cpu_vcpu_hours": round(cpu_hours, 1),
            "cpu_dollars": round(cpu_cost, 2),
            "cpu_bottleneck": max(stages, key=stages.__getitem__),
            "gpu_worker_hours": round(gpu_worker_hours, 1),
            "gpu_dollars": round(gpu_cost, 2),
            "gpu_bottleneck": "cpu side (download+decode)"
            if cpu_side / args.gpu_vcpus > gpu_side
            else "gpu (detect+infer)",
        },
        "cohort": {
            "videos": args.cohort_videos,
            "video_hours": round(cohort_hours),
            "cpu_dollars": round(cpu_cost * cohort_hours / 1000),
            "gpu_dollars": round(gpu_cost * cohort_hours / 1000),
        },
        "inputs": {
            k: v
            for k, v in vars(args).items()
            if k.removesuffix("_s") not in stages and k != "markdown"
        },
    }


def markdown(result: dict) -> str:
    """The projection as the sentence `deploy/README.md` quotes (tests/test_deploy.py)."""
    per, cohort = result["per_1000_video_hours"], result["cohort"]
    stages = result["cpu_seconds_per_video_minute"]
    share = stages[per["cpu_bottleneck"]] / sum(stages.values())
    return (
        f"CPU workers {per['cpu_vcpu_hours']:,.0f} vCPU-hours, about ${per['cpu_dollars']:,.0f} "
        f"per 1,000 video-hours, bound by {per['cpu_bottleneck']} ({share:.0%} of the CPU "
        f"seconds); GPU workers {per['gpu_worker_hours']:,.0f} worker-hours, about "
        f"${per['gpu_dollars']:,.0f} per 1,000 video-hours, bound by {per['gpu_bottleneck']}; "
        f"a {cohort['videos']:,}-video cohort ({cohort['video_hours']:,} video-hours): about "
        f"${cohort['cpu_dollars']:,} on CPU workers, about ${cohort['gpu_dollars']:,} on GPU "
        "workers."
    )


if __name__ == "__main__":
    arguments = parse()
    projection = project(arguments)
    print(markdown(projection) if arguments.markdown else json.dumps(projection, indent=2))
