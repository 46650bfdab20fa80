"""Types of the analyze flags: argparse `type=` functions that check a value as it is
parsed, and the error every option problem becomes."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any


class OptionError(ValueError):
    """An option (or its value) that cannot be used; the message says what to change."""


def number(kind: type, minimum: float, *, above: bool = False) -> Callable[[str], Any]:
    """An argparse `type`: an int or float at least `minimum` (more than it if `above`)."""
    word = "more than" if above else "at least"
    noun = {int: "a whole number", float: "a number"}[kind]

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes {noun}, not {text!r}") from None
        if not math.isfinite(value):  # nan passes every comparison; inf is no limit
            raise argparse.ArgumentTypeError(f"takes a finite number, not {text!r}")
        if value < minimum or (above and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {word} {minimum:g}, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


AUTO_WORKERS = 0  # `--workers auto`, resolved once the list's length is known


def workers(text: str) -> int:
    """An argparse `type`: `auto` (AUTO_WORKERS) or a whole number at least 1."""
    if text.strip().lower() == "auto":
        return AUTO_WORKERS
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number or auto, not {text!r}") from None
    return number(int, 1)(text)


workers.__name__ = "workers"


def folder(text: str) -> str:
    """An argparse `type`: a folder (existing or new) or a URI; never an existing file."""
    if "://" not in text or text.lower().startswith("file://"):
        local = text[len("file://") :] if text.lower().startswith("file://") else text
        if os.path.exists(local) and not os.path.isdir(local):
            raise argparse.ArgumentTypeError(f"{text!r} is a file: give a folder (new or existing)")
    return text


def umask(text: str) -> int:
    """An argparse `type`: an octal file mode mask such as 077 or 027."""
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"takes an octal mask like 077, not {text!r}")
    return value


def pixels(text: str) -> int:
    """An argparse `type`: a frame size as `WIDTHxHEIGHT` (3840x2160) or a pixel count."""
    width, _, height = text.lower().partition("x")
    try:
        value = int(width) * int(height) if height else int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"takes WIDTHxHEIGHT or a number of pixels, not {text!r}")
    return value


def names(text: str) -> str:
    """An argparse `type`: a comma-separated list of names (`youtube,vimeo`)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"takes comma-separated names, not {text!r}")
    return ",".join(items)
