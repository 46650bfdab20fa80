"""Training HybridMicroNet with the paper's recipe (`recipe.TrainConfig`), writing its checkpoint.

Speed: with the backbone frozen (the default) the backbone runs once per image and once
per augmented copy (`feature_bank`); the epochs train the head on those cached feature
maps (per image and copy: 128x4x4 floats, 8 kB, for fer-minixception; 512x7x7, 100 kB,
for vgg16). With `fine_tune` every step runs the whole network on freshly augmented faces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from affectflow import __version__
from affectflow.models.class_sets import ClassSet
from affectflow.models.datasets import Sample, fingerprint, load_faces
from affectflow.models.feature_bank import (
    augment,
    autocast,
    backbone_features,
    bank_of,
    feature_bank,
    to_input,
)
from affectflow.models.hybridmicronet import HybridMicroNet, load_backbone, save_checkpoint
from affectflow.models.recipe import AUGMENTATIONS, TrainConfig
from affectflow.models.registry import hybridmicronet_spec

__all__ = [
    "AUGMENTATIONS",
    "TrainConfig",
    "augment",
    "backbone_features",
    "feature_bank",
    "fit",
    "new_model",
    "predict",
    "train_checkpoint",
]
LOG = logging.getLogger(__name__)


def new_model(num_classes: int, config: TrainConfig) -> HybridMicroNet:
    """A fresh model (seeded head) with the config's pretrained backbone (vgg16: if given)."""
    torch.manual_seed(config.seed)
    model = HybridMicroNet(num_classes, not config.fine_tune, config.backbone)
    load_backbone(model, config.backbone_weights, config.cache_dir)
    return model.to(config.device)


def class_weights(targets: np.ndarray, num_classes: int, config: TrainConfig) -> torch.Tensor:
    """Inverse class frequencies (mean 1 over the classes present), or ones."""
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    if config.class_weights == "none":
        return torch.ones(num_classes)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)


@contextlib.contextmanager
def one_thread(enabled: bool) -> Iterator[None]:
    """torch on one CPU thread while inside (when `enabled`), then as it was.

    The head's steps on cached features are tiny: more threads only add synchronisation,
    which on a busy 2-core machine made them 5-30x slower (measured).
    """
    threads = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _batch_logits(
    model: HybridMicroNet,
    idx: np.ndarray,
    faces: np.ndarray,
    bank: torch.Tensor | None,
    config: TrainConfig,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Logits of one batch: cached features (a random copy per face) or the whole network."""
    if bank is not None:
        copy = rng.integers(1, len(bank), len(idx)) if len(bank) > 1 else np.zeros(len(idx), int)
        return model.head(bank[copy, idx].to(config.device))
    x = augment(faces[idx], config, rng) if config.augment else faces[idx]
    return model.logits(to_input(x, model.backbone).to(config.device))


def fit(
    model: HybridMicroNet,
    faces: np.ndarray,
    targets: np.ndarray,
    config: TrainConfig,
    features: torch.Tensor | None = None,
) -> list[float]:
    """Train `model` in place for `config.epochs_for(N)` epochs; returns each epoch's mean loss.

    With `config.caches_features`, the head trains on `features`: a bank from
    `feature_bank` or plain (N, C, S, S) features (computed here if None). The head's
    BatchNorm statistics are re-estimated at the end (`recalibrate_batchnorm`).
    """
    bank = None
    if config.caches_features:
        bank = bank_of(feature_bank(model, faces, config) if features is None else features)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    y = torch.as_tensor(targets, dtype=torch.long)
    weight = class_weights(targets, model.num_classes, config).to(config.device)
    rng = np.random.default_rng(config.seed)
    with one_thread(bank is not None and config.device == "cpu"):
        losses = _epochs(model, optimizer, faces, y, bank, weight, config, rng)
    recalibrate_batchnorm(model, faces, config, None if bank is None else bank[0])
    return losses


def _epochs(
    model: HybridMicroNet,
    optimizer: torch.optim.Optimizer,
    faces: np.ndarray,
    y: torch.Tensor,
    bank: torch.Tensor | None,
    weight: torch.Tensor,
    config: TrainConfig,
    rng: np.random.Generator,
) -> list[float]:
    """The training loop of `fit`: each epoch's mean loss."""
    losses = []
    for _ in range(config.epochs_for(len(y))):
        model.train()
        order, total, seen = rng.permutation(len(y)), 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            with autocast(config):
                logits = _batch_logits(model, idx, faces, bank, config, rng)
                loss = F.cross_entropy(logits.float(), y[idx].to(config.device), weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        losses.append(total / max(seen, 1))
    return losses


def recalibrate_batchnorm(
    model: HybridMicroNet,
    faces: np.ndarray,
    config: TrainConfig,
    features: torch.Tensor | None = None,
) -> None:
    """Re-estimate the head's BatchNorm statistics with the final weights ("precise BN").

    The head's BNs after the max-pool see 1x1 maps, so their running averages over small,
    changing batches are far from the trained model's statistics; one pass over the
    training data (cumulative averages, no gradients, no augmentation) fixes that.
    """
    norms = [m for m in model.head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    count = len(faces) if features is None else len(features)
    with torch.no_grad(), autocast(config):
        for start in range(0, count, config.batch_size):
            stop = start + config.batch_size
            if min(stop, count) - start < 2:
                continue
            if features is not None:
                model.head(features[start:stop].to(config.device))
            else:
                model.logits(to_input(faces[start:stop], model.backbone).to(config.device))
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def predict(
    model: HybridMicroNet,
    faces: np.ndarray,
    config: TrainConfig,
    features: torch.Tensor | None = None,
) -> np.ndarray:
    """(N, num_classes) probabilities, from `features` when given."""
    model.eval()
    out = []
    with torch.inference_mode(), autocast(config):
        for start in range(0, len(faces) if features is None else len(features), config.batch_size):
            stop = start + config.batch_size
            if features is not None:
                logits = model.head(features[start:stop].to(config.device))
            else:
                logits = model.logits(to_input(faces[start:stop], model.backbone).to(config.device))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out)


def encode_labels(samples: Sequence[Sample], class_set: ClassSet) -> np.ndarray:
    """Class indices of the samples' labels in `class_set` order."""
    index = {label: i for i, label in enumerate(class_set.labels)}
    return np.array([index[s.label] for s in samples], dtype=np.int64)


def load_training_faces(
    samples: Sequence[Sample], backbone: str, detect: bool = True
) -> np.ndarray:
    """The samples' faces cropped as the analyze job crops them for this backbone's model."""
    spec = hybridmicronet_spec(backbone)
    return load_faces(samples, spec.input_size, spec.crop_margin_px, spec.clahe, detect)


def train_checkpoint(
    samples: Sequence[Sample],
    class_set: ClassSet,
    config: TrainConfig,
    out_path: str,
    detect: bool = True,
) -> dict:
    """Train on all `samples`, write the checkpoint to `out_path`; returns its metadata."""
    faces = load_training_faces(samples, config.backbone, detect)
    targets = encode_labels(samples, class_set)
    model = new_model(len(class_set.labels), config)
    bank = feature_bank(model, faces, config) if config.caches_features else None
    losses = fit(model, faces, targets, config, bank)
    train_pred = predict(model, faces, config, None if bank is None else bank[0]).argmax(axis=1)
    spec = hybridmicronet_spec(config.backbone)
    training = {k: v for k, v in dataclasses.asdict(config).items() if k != "cache_dir"}
    metadata = {
        "backbone": config.backbone,
        "class_set": class_set.to_json(),
        "input_size": spec.input_size,
        "preprocessing": {
            "grayscale_to_channels": spec.channels,
            "clahe": spec.clahe,
            "crop_margin_px": spec.crop_margin_px,
            "pixel_mean": list(spec.pixel_mean),
            "pixel_std": list(spec.pixel_std),
            "face_detection": "haar, else whole image" if detect else "off",
        },
        "training": {**training, "epochs_run": len(losses)},
        "data": {
            "fingerprint": fingerprint(samples),
            "samples": len(samples),
            "subjects": len({s.subject for s in samples}),
            "per_class": {c: int((targets == i).sum()) for i, c in enumerate(class_set.labels)},
        },
        "metrics": {"train_accuracy": float((train_pred == targets).mean()), "losses": losses},
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "affectflow_version": __version__,
    }
    save_checkpoint(model.cpu(), out_path, metadata)
    return metadata
