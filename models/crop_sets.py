"""Cached face crops of a labelled split: the training and validation input of the recipe.

`affectflow prepare` makes them with the job's face stage (`media.still_faces`) and saves
one `.npz` per split; training reads them back without running the detector again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class CropSet:
    """(N, S, S) uint8 crops with each one's label, subject, source path and how it was made."""

    crops: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    paths: np.ndarray
    how: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.crops)
        if self.crops.dtype != np.uint8 or self.crops.ndim != 3:
            raise ValueError(f"crops must be (N, S, S) uint8, got {self.crops.dtype}")
        if any(len(a) != n for a in (self.labels, self.subjects, self.paths, self.how)):
            raise ValueError("crops, labels, subjects, paths and how must be equally long")

    def __len__(self) -> int:
        return len(self.crops)

    def targets(self, labels: tuple[str, ...]) -> np.ndarray:
        """Class indices of the labels in `labels` order; ValueError for an unknown label."""
        index = {label: i for i, label in enumerate(labels)}
        unknown = sorted(set(self.labels.tolist()) - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the model's {list(labels)}")
        return np.array([index[x] for x in self.labels.tolist()], dtype=np.int64)

    def summary(self) -> dict:
        """Counts: images, per class, and per way of cropping."""
        return {
            "images": len(self),
            "per_class": dict(sorted(Counter(self.labels.tolist()).items())),
            "how": dict(sorted(Counter(self.how.tolist()).items())),
        }

    def save(self, path: str | Path) -> Path:
        """Write the set as an uncompressed `.npz`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> CropSet:
        """A set saved by `save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def concat(sets: list[CropSet]) -> CropSet:
    """One set holding every set's crops, in order."""
    return CropSet(
        *(np.concatenate([getattr(s, f.name) for s in sets]) for f in dataclasses.fields(CropSet))
    )
