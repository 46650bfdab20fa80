"""Types of the job's own analyze flags (`--workers`, `--umask`; the settings' value types
are `schemas.knobs`'), and the error every option problem becomes."""

from __future__ import annotations

import argparse

from affectflow.schemas.knobs import AT_LEAST_ONE


class OptionError(ValueError):
    """An option (or its value) that cannot be used; the message says what to change."""


AUTO_WORKERS = 0  # `--workers auto`, resolved once the list's length is known


def workers(text: str) -> int:
    """An argparse `type`: `auto` (AUTO_WORKERS) or a whole number at least 1."""
    if text.strip().lower() == "auto":
        return AUTO_WORKERS
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number or auto, not {text!r}") from None
    return AT_LEAST_ONE(text)


workers.__name__ = "workers"


def umask(text: str) -> int:
    """An argparse `type`: an octal file mode mask such as 077 or 027."""
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"takes an octal mask like 077, not {text!r}")
    return value
