"""Model input and cached backbone features: augmentation, preprocessing, the feature bank.

With a frozen backbone the head trains on features computed up front: `feature_bank`
gives (1 + copies, N, C, S, S), copy 0 the faces as they are, then `augment_copies`
randomly augmented copies of every face (rescale / rotation / flip drawn once, up front).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from affectflow.models.hybridmicronet import HybridMicroNet
from affectflow.models.recipe import TrainConfig
from affectflow.models.registry import hybridmicronet_spec


def to_input(faces: np.ndarray, backbone: str) -> torch.Tensor:
    """(N, size, size) uint8 faces -> the backbone's normalised (N, channels, size, size)."""
    return torch.from_numpy(hybridmicronet_spec(backbone).batch_preprocess(faces))


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


def autocast(config: TrainConfig) -> torch.autocast:
    """bfloat16 autocast on the config's device when `bf16`, else a no-op."""
    return torch.autocast(config.device, dtype=torch.bfloat16, enabled=config.bf16)


def backbone_features(
    model: HybridMicroNet, faces: np.ndarray, config: TrainConfig
) -> torch.Tensor:
    """Backbone feature maps (N, C, S, S) of the faces, float32 on the CPU."""
    model.eval()
    out = []
    with torch.inference_mode(), autocast(config):
        for start in range(0, len(faces), config.batch_size):
            x = to_input(faces[start : start + config.batch_size], model.backbone)
            out.append(model.features(x.to(config.device)).float().cpu())
    return torch.cat(out)


def feature_bank(model: HybridMicroNet, faces: np.ndarray, config: TrainConfig) -> torch.Tensor:
    """(1 + copies, N, C, S, S): features of the faces, then of each augmented copy.

    No copies without augmentation. The copies are seeded by `config.seed` alone, so the
    same faces give the same bank (cross-validation computes it once for every fold).
    """
    copies = config.augment_copies if config.augment else 0
    rng = np.random.default_rng(config.seed)
    views = [faces, *(augment(faces, config, rng) for _ in range(copies))]
    return torch.stack([backbone_features(model, view, config) for view in views])


def bank_of(features: torch.Tensor) -> torch.Tensor:
    """A bank (K, N, C, S, S) from plain features (N, C, S, S) or a bank."""
    return features[None] if features.dim() == 4 else features
