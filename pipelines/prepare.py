"""`affectflow prepare`: labelled images -> the job's face crops, cached for training.

Each split CSV (`path,label,subject`, as `models.data_splits` writes them) becomes
`OUT/<name>.npz` (`models.crop_sets.CropSet`), cropped by the analyze job's own face
stage with its default settings and the model's crop size, margin and CLAHE
(`media.still_faces`). Prints, per split, how many crops were aligned, boxed or whole.
`--help` imports neither torch nor OpenCV: the face stage and the models load in `main`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from affectflow.pipelines.command_parser import CommandParser
from affectflow.schemas.knobs import knobs
from affectflow.schemas.settings import DetectSettings

if TYPE_CHECKING:
    from affectflow.media.still_faces import StillFaces
    from affectflow.models.crop_sets import CropSet
    from affectflow.models.datasets import Sample
    from affectflow.models.registry import ModelSpec


def detect_settings(
    spec: ModelSpec,
    align: bool = True,
    cache_dir: str | None = None,
    landmark_passes: int = DetectSettings.landmark_passes,
) -> DetectSettings:
    """The analyze job's default face-stage settings with `spec`'s crop (as `analyze` makes)."""
    from affectflow.models.mtcnn_weights import fetch_mtcnn_weights

    return DetectSettings(
        detector_weights_path=str(fetch_mtcnn_weights(cache_dir=cache_dir)),
        align=align,
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=spec.clahe,
        landmark_passes=landmark_passes,
    )


def crop_samples(samples: Sequence[Sample], stage: StillFaces) -> CropSet:
    """The crops of `samples` by `stage`, with their labels, subjects and paths."""
    from affectflow.models.crop_sets import CropSet

    crops, how = [], []
    for sample in samples:
        crop, made = stage.crop_file(sample.path)
        crops.append(crop)
        how.append(made)
    return CropSet(
        crops=np.stack(crops),
        labels=np.array([s.label for s in samples]),
        subjects=np.array([s.subject or "" for s in samples]),
        paths=np.array([s.path for s in samples]),
        how=np.array(how),
    )


def main(argv: Sequence[str]) -> int:
    """Crop every split; 2 with a message when a CSV or an image is unusable."""
    parser = CommandParser(
        prog="affectflow prepare",
        description="Crop labelled images with the analyze job's face stage, for training.",
    )
    parser.add_argument("splits", nargs="+", help="split CSVs (path,label,subject)")
    parser.add_argument("--out", required=True, help="folder for the <split>.npz crop sets")
    parser.add_argument("--model", default="fer-minixception", help="whose crop size/margin")
    parser.add_argument("--align", choices=("on", "off"), default="on")
    parser.add_argument("--cache-dir", help="model cache root (MTCNN weights)")
    passes = dict(knobs(DetectSettings))["landmark_passes"]  # analyze's own flag
    parser.add_argument(f"--{passes.flag}", **passes.argparse_keywords())
    args = parser.parse_args(argv)
    from affectflow.media.still_faces import StillFaces
    from affectflow.models.data_splits import read_split
    from affectflow.models.registry import get_model_spec

    try:
        spec = get_model_spec(args.model)
        splits = {Path(p).stem: read_split(p) for p in args.splits}
        settings = detect_settings(spec, args.align == "on", args.cache_dir, args.landmark_passes)
        stage = StillFaces(settings)
        summary = {}
        for name, samples in splits.items():
            crops = crop_samples(samples, stage)
            crops.save(Path(args.out) / f"{name}.npz")
            summary[name] = crops.summary()
    except (ValueError, OSError, RuntimeError) as error:
        print(f"affectflow prepare: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0
