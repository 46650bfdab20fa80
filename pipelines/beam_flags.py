"""Beam's own flags, listed in `beam_flags.txt`, so that a job's flags are checked before
Beam is imported: a mistyped flag is told at once. Beam is pinned (pyproject), the list
is Beam's parser's (`tests/pipelines/test_mistakes.py` compares them), and Beam's own
parser still reads the flags when the job builds its PipelineOptions
(`options.check_beam_args`).

    python -m affectflow.pipelines.beam_flags     # rewrite the list from Beam's parser
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from affectflow.pipelines.option_types import OptionError
from affectflow.pipelines.options import analyze_option_names, beam_parser, suggest

LIST = "beam_flags.txt"
KINDS = ("switch", "value", "optional")  # no value, one value, a value if one follows


def beam_flag_kinds() -> dict[str, str]:
    """Each flag of Beam's own parser with its kind (imports Beam); affectflow's own flags
    (there once `AnalyzeOptions` is defined) left out."""
    ours = {
        spelling
        for name, flag in analyze_option_names().items()
        for spelling in (flag, f"--{name}")
    }
    ours |= {"-h", "--help"}
    kinds = {}
    for action in beam_parser()._actions:  # what `add_argument` made: flags and their nargs
        kind = "switch" if action.nargs == 0 else "optional" if action.nargs == "?" else "value"
        kinds.update(dict.fromkeys(action.option_strings, kind))
    return {flag: kind for flag, kind in kinds.items() if flag not in ours}


@functools.cache
def listed_beam_flags() -> dict[str, str]:
    """Beam's flags and kinds as `beam_flags.txt` lists them (no Beam import)."""
    text = resources.files("affectflow.pipelines").joinpath(LIST).read_text("utf-8")
    return dict(line.split() for line in text.splitlines() if line and not line.startswith("#"))


def precheck_beam_args(args: Sequence[str]) -> None:
    """Raise OptionError for the first flag Beam does not know either (with a close
    match) or a stray argument, from the list alone."""
    known, index = listed_beam_flags(), 0
    while index < len(args):
        arg = args[index]
        name = arg.split("=", 1)[0]
        if not arg.startswith("--") or name not in known:
            if arg.startswith("-"):
                raise OptionError(f"unknown option {name}{suggest(name, beam_flags=known)}")
            raise OptionError(f"unexpected argument {arg!r}")
        index += 1
        if "=" not in arg and index < len(args):
            takes = known[name] == "value" or known[name] == "optional"
            if takes and not (known[name] == "optional" and args[index].startswith("-")):
                index += 1  # its value


def write_list(path: Path) -> None:
    """Write `beam_flags.txt` from Beam's parser (after a Beam upgrade)."""
    import apache_beam

    lines = [
        f"# Beam {apache_beam.__version__}'s own flags, each with its kind: {', '.join(KINDS)}.",
        "# Written by `python -m affectflow.pipelines.beam_flags`; see beam_flags.py.",
        *(f"{flag} {kind}" for flag, kind in sorted(beam_flag_kinds().items())),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_list(Path(__file__).with_name(LIST))
