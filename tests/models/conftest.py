"""Fixtures of the model tests: the Keras reference outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"


@pytest.fixture(scope="session")
def fer_reference() -> tuple[np.ndarray, np.ndarray]:
    """29 uint8 64x64 face crops and the probabilities Keras gave for them."""
    crops = np.load(REFERENCE_DIR / "fer_crops_64.npy")
    probs = np.load(REFERENCE_DIR / "fer_keras_probs.npy")
    return crops, probs
