"""Honest evaluation: metrics and subject-independent protocols (a model on labelled
images, end to end: `affectflow validate`).

Metrics (numpy only): accuracy; macro precision / recall / F1 over the classes seen in
the truth or the predictions; UF1 and UAR (the MEGC measures: mean per-class F1 and
recall over the classes present in the truth). Protocols: leave-one-subject-out,
k-fold by subject, held-out subjects; each fold trains a fresh head (with a frozen
backbone the feature bank, every image and augmented copy, is computed once and shared).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from affectflow.models.class_sets import ClassSet
from affectflow.models.datasets import Sample
from affectflow.models.model_names import PROTOCOLS
from affectflow.models.training import (
    TrainConfig,
    encode_labels,
    feature_bank,
    fit,
    load_training_faces,
    new_model,
    predict,
)


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j]: samples of class i predicted as j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth), np.asarray(pred)), 1)
    return matrix


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def metrics(truth: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, macro P/R/F1, UF1, UAR, per-class report and confusion matrix."""
    matrix = confusion_matrix(truth, pred, len(labels))
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    seen = (support + predicted) > 0
    present = support > 0
    return {
        "samples": int(matrix.sum()),
        "accuracy": float(tp.sum() / max(matrix.sum(), 1)),
        "macro_precision": float(precision[seen].mean()) if seen.any() else 0.0,
        "macro_recall": float(recall[seen].mean()) if seen.any() else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "uf1": float(f1[present].mean()) if present.any() else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": list(labels),
        "confusion": matrix.tolist(),
    }


def folds(
    subjects: Sequence[str | None],
    protocol: str = "loso",
    k: int = 5,
    test_subjects: Sequence[str] = (),
    seed: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """(fold name, boolean test mask) per fold; every protocol keeps subjects apart."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    if any(s is None for s in subjects):
        raise ValueError("subject-independent protocols need every sample's subject")
    subjects_arr = np.asarray(subjects, dtype=object)
    unique = sorted(set(subjects))
    if protocol == "holdout":
        missing = set(test_subjects) - set(unique)
        if not test_subjects or missing:
            raise ValueError(f"holdout needs --test-subjects among the subjects {unique}")
        return [("holdout", np.isin(subjects_arr, list(test_subjects)))]
    if protocol == "loso":
        groups = [[s] for s in unique]
    else:
        order = np.random.default_rng(seed).permutation(len(unique))
        groups = [[unique[i] for i in order[f::k]] for f in range(min(k, len(unique)))]
    if len(groups) < 2:
        raise ValueError(f"{protocol} needs at least two subjects, found {unique}")
    return [("+".join(g), np.isin(subjects_arr, g)) for g in groups]


@dataclasses.dataclass
class Evaluation:
    """Per-fold and pooled metrics of one protocol run."""

    protocol: str
    folds: dict[str, dict]
    pooled: dict

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def cross_validate(
    samples: Sequence[Sample],
    class_set: ClassSet,
    config: TrainConfig,
    protocol: str = "loso",
    k: int = 5,
    test_subjects: Sequence[str] = (),
    detect: bool = True,
) -> Evaluation:
    """Train a fresh model per fold, test on the fold's held-out subjects."""
    faces = load_training_faces(samples, config.backbone, detect)
    targets = encode_labels(samples, class_set)
    splits = folds([s.subject for s in samples], protocol, k, test_subjects, config.seed)
    bank = None
    if config.caches_features:  # same seed -> same backbone in every fold
        bank = feature_bank(new_model(len(class_set.labels), config), faces, config)
    truth, pred, per_fold = [], [], {}
    for name, test in splits:
        model = new_model(len(class_set.labels), config)
        fit(model, faces[~test], targets[~test], config, None if bank is None else bank[:, ~test])
        test_f = None if bank is None else bank[0, test]
        fold_pred = predict(model, faces[test], config, test_f).argmax(axis=1)
        per_fold[name] = metrics(targets[test], fold_pred, class_set.labels)
        truth.append(targets[test])
        pred.append(fold_pred)
    pooled = metrics(np.concatenate(truth), np.concatenate(pred), class_set.labels)
    return Evaluation(protocol, per_fold, pooled)


def format_table(result: dict) -> str:
    """Per-class report and confusion matrix as plain text."""
    labels = result["labels"]
    width = max(len(label) for label in labels) + 2
    lines = [f"{'':{width}}precision  recall     f1  support"]
    for label in labels:
        row = result["per_class"][label]
        lines.append(
            f"{label:{width}}{row['precision']:9.3f}{row['recall']:8.3f}"
            f"{row['f1']:7.3f}{row['support']:9d}"
        )
    lines.append(
        f"accuracy {result['accuracy']:.3f}  UF1 {result['uf1']:.3f}  UAR {result['uar']:.3f}"
    )
    lines.append("confusion (rows: truth, columns: predicted)")
    lines.append(f"{'':{width}}" + "".join(f"{label[:7]:>8}" for label in labels))
    for label, row in zip(labels, result["confusion"], strict=True):
        lines.append(f"{label:{width}}" + "".join(f"{n:8d}" for n in row))
    return "\n".join(lines)
