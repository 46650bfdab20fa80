"""Fixed, written-down splits of the two labelled face sets the default model learns from.

- FER2013 (`<class>/*.jpg` folders, 48x48 crops): image-disjoint, stratified by class;
  `FER_VAL_SHARE` of each class goes to `val`, chosen by a seeded shuffle. FER2013 has no
  subject ids: each image is its own subject.
- muxspace (`images/*.jpg` + `labels.csv`: image, emotion, annotator): subject-disjoint
  train / val / test. The subject of `Person_Name_0001.jpg` (LFW) or `Name_12.jpg` is the
  name without the trailing `_NNNN`; a file without one is its own subject. Subjects are
  placed greedily, those holding the largest part of a class first (ties in a seeded
  order), each into the split left least full, relative to its share (`MUX_SHARES`), in
  the subject's classes: every split gets about its share of every class, and
  no person is in two splits. Photos listed twice keep their first row; `contempt`
  (9 photos, no class of the models) is left out. `test` is held out: it is read only for
  the model cards, never to choose anything.

Labels are written in the models' own names (`FER_LABELS`). Each split is one CSV
(`path,label,subject`), readable by `read_split` and by `affectflow validate`.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from affectflow.models.class_sets import canonical
from affectflow.models.datasets import IMAGE_SUFFIXES, Sample

SEED = 20261204
FER_VAL_SHARE = 0.1
MUX_SHARES = {"train": 0.6, "val": 0.2, "test": 0.2}
# canonical emotion name -> the models' label (FER2013's names)
MODEL_LABEL = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}
SPLIT_COLUMNS = ("path", "label", "subject")
_NUMBERED = re.compile(r"^(.+?)_\d+$")


def model_label(raw: str) -> str | None:
    """The models' label for a raw emotion name (happiness -> happy), None when none."""
    return MODEL_LABEL.get(canonical(raw))


def subject_of(file_name: str) -> str:
    """`George_W_Bush_0012.jpg` -> `George_W_Bush`; a name without `_NNNN` is its own."""
    stem = Path(file_name).stem
    match = _NUMBERED.match(stem)
    return match.group(1) if match else stem


def fer_splits(root: str | Path, seed: int = SEED) -> dict[str, list[Sample]]:
    """FER2013's `train`/`val`: image-disjoint, `FER_VAL_SHARE` of each class to val."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    splits: dict[str, list[Sample]] = {"train": [], "val": []}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = model_label(folder.name)
        if label is None:
            raise ValueError(f"{folder}: not an emotion the models know")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        order = rng.permutation(len(paths))
        n_val = round(len(paths) * FER_VAL_SHARE)
        for rank, index in enumerate(order):
            path = paths[index]
            split = "val" if rank < n_val else "train"
            splits[split].append(Sample(str(path), label, path.stem))
    return {name: sorted(samples, key=lambda s: s.path) for name, samples in splits.items()}


def read_muxspace(root: str | Path) -> list[Sample]:
    """muxspace's labelled photos (first row per photo; labels outside the models left out)."""
    root = Path(root)
    seen: set[str] = set()
    samples = []
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            image = row["image"].strip()
            label = model_label(row["emotion"])
            if image in seen or label is None:
                continue
            seen.add(image)
            path = root / "images" / image
            if path.is_file():
                samples.append(Sample(str(path), label, subject_of(image)))
    if not samples:
        raise ValueError(f"{root}: no labelled photos (labels.csv, images/)")
    return samples


def muxspace_splits(root: str | Path, seed: int = SEED) -> dict[str, list[Sample]]:
    """muxspace's subject-disjoint train/val/test (see the module docstring)."""
    samples = read_muxspace(root)
    by_subject: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_subject[str(sample.subject)].append(sample)
    totals = Counter(s.label for s in samples)
    counts = {name: Counter(x.label for x in members) for name, members in by_subject.items()}
    weight = {name: max(n / totals[c] for c, n in counts[name].items()) for name in counts}
    subjects = sorted(by_subject)
    keys = dict(zip(subjects, np.random.default_rng(seed).random(len(subjects)), strict=True))
    placed = {name: Counter() for name in MUX_SHARES}
    splits: dict[str, list[Sample]] = {name: [] for name in MUX_SHARES}
    for subject in sorted(subjects, key=lambda s: (-weight[s], keys[s])):
        here = counts[subject]

        def fill(split: str, here: Counter = here) -> float:
            """The fullest class of `split`, relative to its share, with this subject in."""
            share = MUX_SHARES[split]
            return max((placed[split][c] + n) / (totals[c] * share) for c, n in here.items())

        name = min(MUX_SHARES, key=fill)
        splits[name] += by_subject[subject]
        placed[name].update(here)
    return {name: sorted(found, key=lambda s: s.path) for name, found in splits.items()}


def write_split(samples: Iterable[Sample], path: str | Path) -> Path:
    """Write `path,label,subject` rows (absolute image paths)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SPLIT_COLUMNS)
        for s in samples:
            writer.writerow((str(Path(s.path).resolve()), s.label, s.subject or ""))
    return path


def read_split(path: str | Path) -> list[Sample]:
    """The samples of a split CSV written by `write_split`."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not set(SPLIT_COLUMNS) <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: a split CSV needs the columns {', '.join(SPLIT_COLUMNS)}")
        rows = [Sample(r["path"], r["label"], r["subject"] or None) for r in reader]
    if not rows:
        raise ValueError(f"{path}: empty split")
    return rows


def write_all_splits(fer_root: str | Path, mux_root: str | Path, out: str | Path) -> dict:
    """Write `fer-train/val.csv` and `muxspace-train/val/test.csv` under `out`; their counts."""
    out = Path(out)
    splits = {f"fer-{k}": v for k, v in fer_splits(fer_root).items()}
    splits |= {f"muxspace-{k}": v for k, v in muxspace_splits(mux_root).items()}
    summary = {}
    for name, samples in splits.items():
        write_split(samples, out / f"{name}.csv")
        summary[name] = {
            "images": len(samples),
            "subjects": len({s.subject for s in samples}),
            "per_class": dict(sorted(Counter(s.label for s in samples).items())),
        }
    return summary
