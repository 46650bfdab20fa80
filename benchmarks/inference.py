"""Inference alone, per registered model: faces/s at several batch sizes; prints JSON.

    python benchmarks/inference.py [--models fer-minixception,hybridmicronet]
        [--batches 1,64,256] [--seconds 3] [--bf16] [--devices cpu,cuda] [--widths 1,2]
        [--layouts nchw,channels_last]

Random weights and random inputs of each model's shape (speed does not depend on
them). CUDA is measured when present (`--bf16`: autocast to bfloat16 there; the
issue's target is >= 5,000 faces/s for hybridmicronet on one H100). Each setting runs
one warm-up batch, then batches until `--seconds` have passed (at least one).
`--widths` measures the mini-Xception models (`affectflow-minixception`) at each channel
multiplier (`affectflow train --crops --width`); other models at their one shape.
`--layouts`: the model as built (nchw) and as the job runs it on the CPU
(`models/channels_last.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import platform
import time

import torch

from affectflow.models.channels_last import channels_last
from affectflow.models.minixception import MiniXception
from affectflow.models.registry import MODEL_SPECS, ModelSpec

LAYOUTS = {"nchw": lambda model: model, "channels_last": channels_last}


def faces_per_s(
    model: torch.nn.Module, spec: ModelSpec, batch: int, device: str, bf16: bool, seconds: float
) -> dict[str, float]:
    inputs = torch.randn(batch, spec.channels, spec.input_size, spec.input_size, device=device)
    autocast = (
        torch.autocast(device_type=device, dtype=torch.bfloat16)
        if bf16
        else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        for _ in range(3):  # warm-up
            model(inputs)
        _sync(device)
        started, batches = time.perf_counter(), 0
        while batches == 0 or time.perf_counter() - started < seconds:
            model(inputs)
            batches += 1
        _sync(device)
        elapsed = time.perf_counter() - started
    return {"faces_per_s": round(batches * batch / elapsed, 1), "batches": batches}


def shapes(spec: ModelSpec, widths: list[int]) -> list[ModelSpec]:
    """`spec` at each mini-Xception width (as it is for other modules)."""
    if spec.model_class is not MiniXception:
        return [spec]
    return [
        dataclasses.replace(spec, model_params={**spec.model_params, "width": w}) for w in widths
    ]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODEL_SPECS))
    parser.add_argument("--batches", default="1,64,256")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--layouts", default="nchw,channels_last", help=",".join(LAYOUTS))
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA and CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--widths", default="1", help="mini-Xception channel multipliers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    results = []
    for name in args.models.split(","):
        for spec in shapes(MODEL_SPECS[name], [int(w) for w in args.widths.split(",")]):
            for device, layout in itertools.product(devices, args.layouts.split(",")):
                model = LAYOUTS[layout](spec.build().eval().to(device))
                for batch in (int(b) for b in args.batches.split(",")):
                    measured = faces_per_s(model, spec, batch, device, args.bf16, args.seconds)
                    row = {"model": name, **spec.model_params, "device": device, "layout": layout}
                    results.append({**row, "batch": batch, **measured})
    print(
        json.dumps(
            {
                "benchmark": "inference",
                "machine": {
                    "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                },
                "bf16": args.bf16,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
