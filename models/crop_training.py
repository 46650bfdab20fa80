"""Training a mini-Xception on cached face crops (`CropSet`s): the default model's recipe.

`affectflow train --crops` runs `train_and_calibrate` with a `recipe.CropRecipe` (its
fields say what each step does): class-balanced draws mixed from the sets, augmentation
per draw, label-smoothed cross-entropy, AdamW with a one-cycle schedule, from
fer-minixception's weights or from scratch; then `fit_temperature` scales the logits to
calibrated probabilities, folded into the head (the module is unchanged).

`device` ("cpu" or "cuda") is where the network and the crops live; the random draws
(sampling and augmentation) are made on the CPU either way, from the recipe's seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from affectflow.models.crop_sets import CropSet, concat
from affectflow.models.evaluation import metrics
from affectflow.models.minixception import MiniXception
from affectflow.models.recipe import CropRecipe
from affectflow.models.registry import ModelSpec

EpochLog = Callable[[int, float, MiniXception], None]


def draw_weights(targets: np.ndarray, balance: float) -> np.ndarray:
    """Per-sample draw probabilities: class c in proportion to count_c ** (1 - balance)."""
    counts = np.bincount(targets).astype(np.float64)
    per_class = np.zeros_like(counts)
    present = counts > 0
    per_class[present] = counts[present] ** (1 - balance) / counts[present]
    weights = per_class[targets]
    return weights / weights.sum()


def epoch_draws(
    sets: list[tuple[np.ndarray, float]], size: int, rng: np.random.Generator
) -> np.ndarray:
    """`size` indices into the sets laid end to end: set k gets its share, by its weights."""
    draws, offset = [], 0
    for weights, share in sets:
        n = round(size * share)
        if n:
            draws.append(offset + rng.choice(len(weights), n, p=weights))
        offset += len(weights)
    return rng.permutation(np.concatenate(draws))


def augment_batch(x: torch.Tensor, recipe: CropRecipe, gen: torch.Generator) -> torch.Tensor:
    """Random shift/scale/rotation/mirror (one affine warp) and brightness/contrast per face.

    The random values come from `gen` (a CPU generator) wherever `x` lives."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=gen)

    angle = uniform(-1, 1) * math.radians(recipe.rotation_deg)
    zoom = 1 + uniform(-1, 1) * recipe.scale
    mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * mirror, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * mirror, cos
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) * 2 - 1) * 2 * recipe.shift
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    gain = (1 + uniform(-1, 1) * recipe.contrast)[:, None, None, None].to(x.device)
    offset = (uniform(-1, 1) * recipe.brightness)[:, None, None, None].to(x.device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + offset).clamp(-1.5, 1.5)


def to_tensor(spec: ModelSpec, crops: np.ndarray) -> torch.Tensor:
    """The spec's preprocessing of uint8 crops, as one float tensor."""
    return torch.from_numpy(spec.batch_preprocess(crops))


def recipe_spec(spec: ModelSpec, recipe: CropRecipe) -> ModelSpec:
    """`spec` building the recipe's network (its `width`)."""
    return dataclasses.replace(spec, model_params={**spec.model_params, "width": recipe.width})


def train_on_crops(
    spec: ModelSpec,
    sets: list[CropSet],
    recipe: CropRecipe,
    init_state: dict[str, torch.Tensor] | None = None,
    log: EpochLog | None = None,
    device: str = "cpu",
) -> MiniXception:
    """A mini-Xception trained on `sets`, each giving its `recipe.shares_for` of each epoch,
    left on `device` in eval mode.

    `log(epoch, mean loss, model)` is called after each epoch.
    """
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    model = recipe_spec(spec, recipe).build()
    if recipe.init == "fer":
        if init_state is None:
            raise ValueError("init 'fer' needs fer-minixception's state dict")
        model.load_state_dict(init_state)
    model.to(device)
    shares = recipe.shares_for(len(sets))
    x = torch.cat([to_tensor(spec, s.crops) for s in sets]).to(device)
    y = torch.from_numpy(np.concatenate([s.targets(spec.labels) for s in sets])).to(device)
    weights = [
        (draw_weights(s.targets(spec.labels), recipe.balance), share)
        for s, share in zip(sets, shares, strict=True)
    ]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    steps = recipe.epochs * (recipe.epoch_size // recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, recipe.lr, total_steps=steps, pct_start=0.15
    )
    for epoch in range(recipe.epochs):
        model.train()
        order, total = epoch_draws(weights, recipe.epoch_size, rng), 0.0
        batches = len(order) // recipe.batch_size
        for b in range(batches):
            idx = torch.from_numpy(order[b * recipe.batch_size : (b + 1) * recipe.batch_size])
            idx = idx.to(device)
            logits = model.logits(augment_batch(x[idx], recipe, gen))
            loss = F.cross_entropy(logits, y[idx], label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
        if log is not None:
            log(epoch, total / max(batches, 1), model)
    return model.eval()


@torch.inference_mode()
def crop_logits(
    model: MiniXception, spec: ModelSpec, crops: np.ndarray, flip: bool = False
) -> np.ndarray:
    """(N, classes) logits of uint8 crops; with `flip`, the log of the flip-averaged probs.

    They are computed where the model's weights are (CPU or GPU)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(crops), 512):
        x = to_tensor(spec, crops[start : start + 512]).to(device)
        if flip:
            probs = (model(x) + model(torch.flip(x, dims=(-1,)))) / 2
            out.append(torch.log(probs.clamp_min(1e-12)).cpu())
        else:
            out.append(model.logits(x).cpu())
    return torch.cat(out).numpy()


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the NLL of softmax(logits / T) (grid 0.5..3, step 0.01)."""
    z = torch.from_numpy(logits).double()
    y = torch.from_numpy(targets)
    grid = np.arange(0.5, 3.0001, 0.01)
    nll = [float(F.cross_entropy(z / t, y)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def fold_temperature(model: MiniXception, temperature: float) -> MiniXception:
    """Divide the head (its logits) by `temperature`, in place: softmax(logits / T)."""
    with torch.no_grad():
        model.head.weight /= temperature
        model.head.bias /= temperature
    return model


def train_and_calibrate(
    spec: ModelSpec,
    train: list[CropSet],
    val: list[CropSet],
    recipe: CropRecipe,
    init_state: dict[str, torch.Tensor] | None = None,
    log: EpochLog | None = None,
    device: str = "cpu",
) -> tuple[MiniXception, float]:
    """`train_on_crops`, then the temperature fitted on `val` folded in (1.0 without val);
    the model comes back on the CPU."""
    model = train_on_crops(spec, train, recipe, init_state, log, device)
    if not val:
        return model.cpu(), 1.0
    both = concat(val)
    temperature = fit_temperature(crop_logits(model, spec, both.crops), both.targets(spec.labels))
    return fold_temperature(model, temperature).cpu(), temperature


def crop_figures(
    model: MiniXception, spec: ModelSpec, sets: dict[str, CropSet], flip: bool = False
) -> dict[str, dict[str, float]]:
    """Per named set: accuracy, UAR and each present class's recall, on its crops."""
    out = {}
    for name, s in sets.items():
        pred = crop_logits(model, spec, s.crops, flip).argmax(axis=1)
        m = metrics(s.targets(spec.labels), pred, spec.labels)
        recalls = {k: round(v["recall"], 3) for k, v in m["per_class"].items() if v["support"]}
        out[name] = {"accuracy": round(m["accuracy"], 4), "uar": round(m["uar"], 4), **recalls}
    return out
