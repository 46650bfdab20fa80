"""A setting declared once: its field carries its flag (`setting(...)`).

A field of a stage's settings (`schemas/settings.py`) declared with `setting` holds, in
its metadata, everything else that names it: the `analyze` flag, its `--help` group and
line, how the flag's text is read (argparse keywords: `type`, `choices`, `metavar`,
`action`), how an option's value becomes the field's (`convert`), the README options
table's text, and whether it is operational (out of the `analysis_id` fingerprint) or has
a `neutral` value (out of it at that value: a setting added later, at the value that
gives the results of the code before it, leaves the analyses made before their ids).
From it `pipelines/option_flags.py` builds the parser, `pipelines/stage_settings.py`
the settings and `pipelines/option_table.py` the README table. The value types here
are plain functions (stdlib only), so the declaration stays in this bottom layer.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

FINGERPRINT = "fingerprint"
NEUTRAL = "neutral"
KNOB = "knob"
GIB = 1 << 30

# The groups of `analyze --help` and of the README options table, in their order.
BASICS = "basics"
DETECTION = "face detection"
LABELS = "labels"
DOWNLOAD = "download and cache"
PRIVACY = "privacy"
RUNNER = "runner (Beam's own options, --runner, --project, ..., pass through)"
GROUP_ORDER = (BASICS, DETECTION, LABELS, DOWNLOAD, PRIVACY, RUNNER)


@dataclasses.dataclass(frozen=True)
class Knob:
    """How one setting is given: `--flag` in `group`, with its `--help` line (which may
    say `%(default)s`), the README's `doc` and shown default, an environment variable
    for its default, `convert` (option value -> field value) and argparse keywords."""

    flag: str
    group: str
    help: str
    doc: str = ""
    shown: str | None = None
    env: str | None = None
    convert: Callable[[Any], Any] | None = None
    keywords: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    default: Any = None  # the option's default (set from the field's by `setting`)

    @property
    def dest(self) -> str:
        """The option's name (`trim_s` for `--trim-s`): AnalyzeOptions' attribute."""
        return self.flag.replace("-", "_")

    def value(self, option: Any) -> Any:
        """The field's value for the option's value."""
        return option if self.convert is None else self.convert(option)

    def argparse_keywords(self) -> dict[str, Any]:
        """What `add_argument` takes for this flag (its default read now, env included)."""
        default = os.environ.get(self.env) if self.env else self.default
        keywords = {"help": self.help, **self.keywords}
        if keywords.get("action") != "store_true":
            keywords["default"] = default
        return keywords


RUN_ONLY = {FINGERPRINT: False}  # the metadata of an operational field


def operational(default: Any = None) -> Any:
    """A field without a flag left out of the fingerprint (derived: threads, paths)."""
    return dataclasses.field(default=default, metadata=RUN_ONLY)


def setting(default: Any, flag: str, group: str, help: str, **options: Any) -> Any:
    """A settings field with its flag (see `Knob`); `operational=True` leaves it out of
    the fingerprint, `neutral=V` leaves it out while its value is V; `option_default`
    when the option's default is not the field's."""
    operational = options.pop("operational", False)
    neutral = {NEUTRAL: options.pop("neutral")} if "neutral" in options else {}
    option_default = options.pop("option_default", default)
    knob_fields = {f.name for f in dataclasses.fields(Knob)}
    keywords = {k: v for k, v in options.items() if k not in knob_fields}
    own = {k: v for k, v in options.items() if k in knob_fields}
    knob = Knob(flag, group, help, keywords=keywords, default=option_default, **own)
    metadata = {FINGERPRINT: not operational, KNOB: knob, **neutral}
    return dataclasses.field(default=default, metadata=metadata)


def switch(default: bool, flag: str, group: str, help: str, **options: Any) -> Any:
    """A true/false setting given as `--flag on|off` (default shown in `help`)."""
    return setting(
        default, flag, group, help, choices=("on", "off"), convert=is_on,
        option_default="on" if default else "off", **options,
    )  # fmt: skip


def is_on(text: str) -> bool:
    return text == "on"


def knobs(settings_class: type) -> list[tuple[str, Knob]]:
    """(field name, knob) of each field of a settings class that has a flag."""
    return [
        (field.name, field.metadata[KNOB])
        for field in dataclasses.fields(settings_class)
        if KNOB in field.metadata
    ]


# Value types: argparse `type=` functions that check a value as it is parsed.


def number(kind: type, minimum: float, *, above: bool = False) -> Callable[[str], Any]:
    """An int or float at least `minimum` (more than it if `above`)."""
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


POSITIVE, NON_NEGATIVE = number(float, 0, above=True), number(float, 0)
COUNT, AT_LEAST_ONE = number(int, 0), number(int, 1)


def folder(text: str) -> str:
    """A folder (existing or new) or a URI; never an existing file."""
    if "://" not in text or text.lower().startswith("file://"):
        local = text[len("file://") :] if text.lower().startswith("file://") else text
        if os.path.exists(local) and not os.path.isdir(local):
            raise argparse.ArgumentTypeError(f"{text!r} is a file: give a folder (new or existing)")
    return text


def pixels(text: str) -> int:
    """A frame size as `WIDTHxHEIGHT` (3840x2160) or a pixel count."""
    width, _, height = text.lower().partition("x")
    try:
        value = int(width) * int(height) if height else int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"takes WIDTHxHEIGHT or a number of pixels, not {text!r}")
    return value


def names(text: str) -> str:
    """A comma-separated list of names (`youtube,vimeo`)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"takes comma-separated names, not {text!r}")
    return ",".join(items)


def name_tuple(text: str | None) -> tuple[str, ...] | None:
    """`youtube,vimeo` -> ("youtube", "vimeo"); None stays None."""
    return tuple(text.split(",")) if text else None


def gib_bytes(gib: float | None) -> int | None:
    """GiB -> bytes; None stays None."""
    return None if gib is None else int(gib * GIB)


def or_empty(text: str | None) -> str:
    """None -> "" (a field whose "not given" is the empty string)."""
    return text or ""
