"""The names of the registered emotion models, without importing torch.

The command line offers them as `--model` choices (`--help` and option mistakes must
not wait for torch); `models.registry` checks at import that its `MODEL_SPECS` are these.
"""

from __future__ import annotations

MODEL_NAMES = ("fer-minixception", "affectflow-minixception", "hybridmicronet")
