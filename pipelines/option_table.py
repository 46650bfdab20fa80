"""The README's options table of `analyze`, written from the flags' declarations.

`python -m affectflow.pipelines.option_table` prints it; a test checks that the README
holds exactly this table, so the README follows every new or changed flag.
"""

from __future__ import annotations

import re

from affectflow.pipelines.option_flags import GROUPS
from affectflow.schemas.knobs import Knob

HEADER = ("| option | default | what |", "|---|---|---|")
ON_OFF = ("on", "off")


def shown_default(knob: Knob) -> str:
    """The default as the README shows it."""
    if knob.shown is not None:
        return knob.shown
    value = knob.default
    if knob.keywords.get("action") == "store_true" or value is None:
        return "off" if knob.keywords.get("action") == "store_true" else "none"
    if knob.keywords.get("choices") == ON_OFF:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _what(knob: Knob) -> str:
    """The README's text: the declared one, else the help line without its default."""
    return knob.doc or re.sub(r" \(default: (%\(default\)s|[^)]*)\)", "", knob.help)


def option_table() -> str:
    """The markdown table: one row per flag, in the order `analyze --help` lists them."""
    rows = list(HEADER)
    for _, flags in GROUPS:
        for knob in flags:
            on_off = " on/off" if knob.keywords.get("choices") == ON_OFF else ""
            name = f"`--{knob.flag}`{on_off}"
            rows.append(f"| {name} | {shown_default(knob)} | {_what(knob)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(option_table(), end="")
