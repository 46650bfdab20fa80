"""Training HybridMicroNet with the paper's recipe, and writing its checkpoint.

Recipe (Sharma et al. 2023; every value a `TrainConfig` field): SGD, momentum 0.5,
weight decay 0.001, batch 64, 10 epochs, categorical cross-entropy, augmentation by
rescaling, rotation and horizontal flips. The paper gives no learning rate: 0.01.

Speed: with the backbone frozen (the default) and no augmentation, VGG-16 runs once
per image (`backbone_features`) and the epochs train the head on those cached feature
maps (N x 512 x 7 x 7 floats, ~100 kB per image); with augmentation or `fine_tune`
every epoch runs the whole network.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from affectflow import __version__
from affectflow.models.class_sets import ClassSet
from affectflow.models.datasets import Sample, fingerprint, load_faces
from affectflow.models.hybridmicronet import HybridMicroNet, load_backbone, save_checkpoint
from affectflow.models.registry import HYBRIDMICRONET

LOG = logging.getLogger(__name__)
AUGMENTATIONS = ("rescale", "rotation", "hflip")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the paper's recipe."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.5
    weight_decay: float = 0.001
    augment: tuple[str, ...] = AUGMENTATIONS
    rotation_deg: float = 10.0
    rescale: float = 0.1
    fine_tune: bool = False
    backbone_weights: str | None = None
    device: str = "cpu"
    bf16: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: {AUGMENTATIONS}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")

    @property
    def caches_features(self) -> bool:
        """True when VGG-16 runs once per image (frozen backbone, no augmentation)."""
        return not self.fine_tune and not self.augment


def new_model(num_classes: int, config: TrainConfig) -> HybridMicroNet:
    """A fresh model (seeded), with the ImageNet backbone if `backbone_weights` is given."""
    torch.manual_seed(config.seed)
    model = HybridMicroNet(num_classes, freeze_backbone=not config.fine_tune)
    load_backbone(model, config.backbone_weights)
    return model.to(config.device)


def to_input(faces: np.ndarray) -> torch.Tensor:
    """(N, 224, 224) uint8 faces -> the model's normalised (N, 3, 224, 224) input."""
    return torch.from_numpy(HYBRIDMICRONET.batch_preprocess(faces))


def augment(faces: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Random rescale / rotation about the centre, and horizontal flips, per face."""
    out = np.empty_like(faces)
    size = faces.shape[-1]
    for i, face in enumerate(faces):
        angle = rng.uniform(-1, 1) * config.rotation_deg if "rotation" in config.augment else 0
        scale = 1 + rng.uniform(-1, 1) * config.rescale if "rescale" in config.augment else 1
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        face = cv2.warpAffine(face, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        out[i] = face[:, ::-1] if "hflip" in config.augment and rng.random() < 0.5 else face
    return out


def _autocast(config: TrainConfig) -> torch.autocast:
    return torch.autocast(config.device, dtype=torch.bfloat16, enabled=config.bf16)


def backbone_features(
    model: HybridMicroNet, faces: np.ndarray, config: TrainConfig
) -> torch.Tensor:
    """VGG-16 feature maps (N, 512, 7, 7), float32 on the CPU."""
    model.eval()
    out = []
    with torch.inference_mode(), _autocast(config):
        for start in range(0, len(faces), config.batch_size):
            x = to_input(faces[start : start + config.batch_size]).to(config.device)
            out.append(model.features(x).float().cpu())
    return torch.cat(out)


def fit(
    model: HybridMicroNet,
    faces: np.ndarray,
    targets: np.ndarray,
    config: TrainConfig,
    features: torch.Tensor | None = None,
) -> list[float]:
    """Train `model` in place; returns the mean loss of each epoch.

    With `config.caches_features`, the head trains on `features` (computed here if None).
    The head's BatchNorm statistics are re-estimated at the end (`recalibrate_batchnorm`).
    """
    if config.caches_features and features is None:
        features = backbone_features(model, faces, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    y = torch.as_tensor(targets, dtype=torch.long)
    rng = np.random.default_rng(config.seed)
    losses = []
    for _ in range(config.epochs):
        model.train()
        order, total, seen = rng.permutation(len(y)), 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            with _autocast(config):
                if config.caches_features:
                    logits = model.head(features[idx].to(config.device))
                else:
                    x = to_input(augment(faces[idx], config, rng) if config.augment else faces[idx])
                    logits = model.logits(x.to(config.device))
                loss = F.cross_entropy(logits.float(), y[idx].to(config.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        losses.append(total / max(seen, 1))
    recalibrate_batchnorm(model, faces, config, features)
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
    with torch.no_grad(), _autocast(config):
        for start in range(0, count, config.batch_size):
            stop = start + config.batch_size
            if min(stop, count) - start < 2:
                continue
            if features is not None:
                model.head(features[start:stop].to(config.device))
            else:
                model.logits(to_input(faces[start:stop]).to(config.device))
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
    with torch.inference_mode(), _autocast(config):
        for start in range(0, len(faces) if features is None else len(features), config.batch_size):
            stop = start + config.batch_size
            if features is not None:
                logits = model.head(features[start:stop].to(config.device))
            else:
                logits = model.logits(to_input(faces[start:stop]).to(config.device))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out)


def encode_labels(samples: Sequence[Sample], class_set: ClassSet) -> np.ndarray:
    """Class indices of the samples' labels in `class_set` order."""
    index = {label: i for i, label in enumerate(class_set.labels)}
    return np.array([index[s.label] for s in samples], dtype=np.int64)


def load_training_faces(samples: Sequence[Sample], detect: bool = True) -> np.ndarray:
    """The samples' faces cropped as the analyze job crops them for hybridmicronet."""
    spec = HYBRIDMICRONET
    return load_faces(samples, spec.input_size, spec.crop_margin_px, spec.clahe, detect)


def train_checkpoint(
    samples: Sequence[Sample],
    class_set: ClassSet,
    config: TrainConfig,
    out_path: str,
    detect: bool = True,
) -> dict:
    """Train on all `samples`, write the checkpoint to `out_path`; returns its metadata."""
    faces = load_training_faces(samples, detect)
    targets = encode_labels(samples, class_set)
    model = new_model(class_set_size(class_set), config)
    features = backbone_features(model, faces, config) if config.caches_features else None
    losses = fit(model, faces, targets, config, features)
    train_pred = predict(model, faces, config, features).argmax(axis=1)
    spec = HYBRIDMICRONET
    metadata = {
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
        "training": dataclasses.asdict(config),
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


def class_set_size(class_set: ClassSet) -> int:
    return len(class_set.labels)
