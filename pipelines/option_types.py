"""Types of the job's own analyze flags (`--workers`, `--umask`; the settings' value types
are `schemas.knobs`'), and the error every option problem becomes."""

from __future__ import annotations

import argparse

from affectflow.models.threads import available_cores
from affectflow.schemas.knobs import AT_LEAST_ONE


class OptionError(ValueError):
    """An option (or its value) that cannot be used; the message says what to change."""


AUTO_WORKERS = 0  # `--workers auto`, resolved once the list's length is known
MAX_WORKERS_PER_CORE = 4


def workers(text: str) -> int:
    """An argparse `type`: `auto` (AUTO_WORKERS) or a whole number from 1 to
    MAX_WORKERS_PER_CORE per available core: each worker is a process with its own
    models, and a mistyped 100000000 would start processes until the machine gave out."""
    if text.strip().lower() == "auto":
        return AUTO_WORKERS
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number or auto, not {text!r}") from None
    value, cores = AT_LEAST_ONE(text), available_cores()
    if value > MAX_WORKERS_PER_CORE * cores:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_WORKERS_PER_CORE * cores} here ({MAX_WORKERS_PER_CORE} per core, "
            f"{cores} cores), not {text}"
        )
    return value


workers.__name__ = "workers"


def umask(text: str) -> int:
    """An argparse `type`: an octal file mode mask such as 077 or 027, never one that
    takes the owner's own access (0o700: the job could not read what it writes)."""
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"takes an octal mask like 077, not {text!r}")
    if value & 0o700:
        raise argparse.ArgumentTypeError(
            f"{text} would take the owner's own access to what the job writes: "
            "mask the group and others only (077, 027)"
        )
    return value
