"""The README's options table is the one written from the flags' declarations."""

from __future__ import annotations

from pathlib import Path

from affectflow.pipelines.option_flags import GROUPS
from affectflow.pipelines.option_table import option_table

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "### Options of `analyze`\n"


def readme_table() -> str:
    text = README.read_text()
    start = text.index(HEADING) + len(HEADING)
    return text[start : text.index("\n\n", start) + 1]


def test_the_readme_options_table_is_the_generated_one() -> None:
    """Fails when a flag is added or changed without the README (rewrite the table with
    `python -m affectflow.pipelines.option_table`)."""
    assert readme_table() == option_table()


def test_every_flag_has_a_row() -> None:
    rows = [line.split(" | ")[0] for line in option_table().splitlines()[2:]]
    flags = [f"| `--{knob.flag}`" for _, knobs in GROUPS for knob in knobs]
    assert [row.removesuffix(" on/off") for row in rows] == flags
