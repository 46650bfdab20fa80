"""What may reach a terminal or a spreadsheet: text made inert.

A value from a list, a page or a server (a note, a cohort, a title, an error text) can
hold control characters: ESC starts terminal escape sequences (clear the screen, set
the window title, rewrite what a line says), `\\r` overwrites a line, bidi overrides
and isolates (U+202A-U+202E, U+2066-U+2069) reorder what is shown. `printable` replaces
every non-printing character (Unicode categories Cc, Cf, Cs, Cn, Zl, Zp: C0 and C1
controls, DEL, bidi controls, zero-width and other format characters, lone surrogates,
unassigned code points, line and paragraph separators) by a visible escape (`\\x1b`,
`\\u202e`). Tabs and newlines are escaped too in a single value (a table cell, a field of a
progress line); a whole multi-line text (a log record, a traceback, a printed report)
keeps its newlines and tabs. URLs holding any of them are refused at ingest.

`spreadsheet_safe` applies OWASP's rule against formula injection to one CSV cell: text
starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
spreadsheet shows it as text instead of running it; numbers stay numbers.
"""

from __future__ import annotations

import functools
import numbers
import sys
import unicodedata
from typing import Any, TextIO

_NON_PRINTING = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@functools.lru_cache(maxsize=4096)
def _escape(char: str) -> str:
    """`char` itself when it prints, else its escape (`\\x1b`, `\\u202e`, `\\U000e0001`)."""
    if unicodedata.category(char) not in _NON_PRINTING:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every non-printing character escaped (see the module doc); with
    `newlines`, `\\n` and `\\t` are kept (a whole multi-line text)."""
    if text.isprintable():  # the common case, fast: nothing to escape
        return text
    kept = "\n\t" if newlines else ""
    return "".join(char if char in kept else _escape(char) for char in text)


def to_terminal(text: str, stream: TextIO | None = None) -> str:
    """`text` as printed on `stream` (default stdout): `printable` with its newlines
    kept when the stream is a terminal; a pipe or a file gets it as it is (CSV, JSON)."""
    stream = stream or sys.stdout
    return printable(text, newlines=True) if stream.isatty() else text


def has_non_printing(text: str) -> bool:
    """Whether `text` holds a character `printable` would escape (tabs and newlines too)."""
    return printable(text) != text


def spreadsheet_safe(value: Any) -> Any:
    """One CSV cell made inert for spreadsheets (OWASP): text starting with `= + - @`, a
    tab or a carriage return gets a leading `'`; numbers and empty cells are unchanged."""
    if value is None or isinstance(value, numbers.Number):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else value
