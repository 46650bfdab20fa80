"""`affectflow evaluate`: subject-independent evaluation of the trainable model.

affectflow evaluate DATA [data and recipe options of train] [--protocol loso|kfold|holdout]
affectflow evaluate DIR --backbone fer-minixception --protocol loso --json
affectflow evaluate --model fer-minixception --images DIR [--flip-average on|off] [--json]

DIR/<label>/<subject>/*.png: labels are the folder names (case-insensitive, synonyms
folded); each fold trains a fresh HybridMicroNet on the other subjects. `--images` is
`affectflow validate` (the analyze job's own face stage, into a scratch warehouse): the
one way to measure a model on images.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from affectflow.models.model_names import PROTOCOLS
from affectflow.pipelines.command_parser import CommandParser
from affectflow.pipelines.train import (
    add_data_args,
    add_recipe_args,
    class_set_from,
    config_from,
    samples_from,
)
from affectflow.schemas.settings import ClassifySettings

if TYPE_CHECKING:  # torch loads when a protocol runs: `--help` imports neither it nor Beam
    from affectflow.models.evaluation import Evaluation

TRAINABLE = "hybridmicronet"


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="affectflow evaluate", description=__doc__)
    parser.add_argument("--model", default=TRAINABLE, help="hybridmicronet or a pretrained one")
    parser.add_argument("--images", help="<label>/*.jpg faces for a pretrained model")
    parser.add_argument("--weights", help="weights file (default: the registry's)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument(
        "--flip-average",
        choices=("on", "off"),
        default="on" if ClassifySettings.flip_average else "off",
        help="pretrained models: average each image's probabilities with its mirror's "
        "(default: as analyze, %(default)s)",
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, default="loso")
    parser.add_argument("--folds", type=int, default=5, help="k of kfold (5)")
    parser.add_argument("--test-subjects", default="", help="comma-separated, for holdout")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--out", help="folder for metrics.json (+ confusion.png if matplotlib)")
    return parser


def _validated(args: argparse.Namespace) -> int:
    """`--images DIR`: `affectflow validate DIR` into a scratch warehouse, its card printed."""
    from affectflow.pipelines import validate

    argv = [args.images, "--model", args.model, "--flip-average", args.flip_average]
    argv += ["--format", "json" if args.json else "table", "--n-boot", "200"]
    argv += ["--cache-dir", args.cache_dir] if args.cache_dir else []
    argv += ["--weights", args.weights] if args.weights else []
    argv += ["--out", str(Path(args.out) / "metrics.json")] if args.out else []
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="affectflow-evaluate-") as scratch:
        return validate.main([*argv, "--warehouse", scratch])


def _cross_validated(argv: Sequence[str], base: argparse.Namespace) -> Evaluation:
    parser = _parser()
    add_data_args(parser)
    add_recipe_args(parser)
    args = parser.parse_args(argv)
    from affectflow.models.evaluation import cross_validate

    class_set = class_set_from(args)
    tests = [s for s in args.test_subjects.split(",") if s]
    return cross_validate(
        samples_from(args, class_set),
        class_set,
        config_from(args),
        protocol=args.protocol,
        k=args.folds,
        test_subjects=tests,
        detect=not args.no_detect,
    )


def _write(result: Evaluation, out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(result.to_json(), indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    pooled = result.pooled
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(pooled["confusion"], cmap="Blues")
    ax.set_xticks(range(len(pooled["labels"])), pooled["labels"], rotation=45)
    ax.set_yticks(range(len(pooled["labels"])), pooled["labels"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    fig.tight_layout()
    fig.savefig(folder / "confusion.png")
    plt.close(fig)


def main(argv: Sequence[str]) -> int:
    """Evaluate and print the report (or JSON); 2 with a message on unusable inputs."""
    base, _ = _parser().parse_known_args(argv)
    if base.images:
        return _validated(base)
    try:
        if base.model != TRAINABLE:
            raise ValueError(f"--model {base.model} is pretrained: give --images DIR")
        else:
            result = _cross_validated(argv, base)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"affectflow evaluate: {error}", file=sys.stderr)
        return 2
    if base.out:
        _write(result, base.out)
    if base.json:
        print(json.dumps({**result.pooled, "protocol": result.protocol, "folds": result.folds}))
    else:
        for name, fold in result.folds.items():
            print(f"fold {name}: accuracy {fold['accuracy']:.3f} UF1 {fold['uf1']:.3f}")
        from affectflow.models.evaluation import format_table

        print(f"{result.protocol}, pooled:\n{format_table(result.pooled)}")
    return 0
