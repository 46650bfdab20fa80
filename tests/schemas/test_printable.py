"""Text made inert for terminals (`printable`) and spreadsheets (`spreadsheet_safe`)."""

from __future__ import annotations

import datetime
import decimal

import pytest

from affectflow.schemas.printable import has_non_printing, printable, spreadsheet_safe

ESCAPED = [
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
    ("ok\rfake", "ok\\x0dfake"),
    ("a\tb\nc", "a\\x09b\\x0ac"),
    ("\x7f\x85\x9b", "\\x7f\\x85\\x9b"),  # DEL, C1 NEL and CSI
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ("".join(chr(c) for c in range(0x202A, 0x202F)), "\\u202a\\u202b\\u202c\\u202d\\u202e"),
    ("".join(chr(c) for c in range(0x2066, 0x206A)), "\\u2066\\u2067\\u2068\\u2069"),
    ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("lone\udcff", "lone\\udcff"),
]


@pytest.mark.parametrize(("text", "shown"), ESCAPED)
def test_non_printing_characters_are_shown_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert has_non_printing(text)


@pytest.mark.parametrize("text", ["plain", "Zoë 東京 🙂", "a b", "back\\slash", "", "\u00a0nbsp"])
def test_printing_text_is_unchanged(text: str) -> None:
    assert printable(text) == text
    assert not has_non_printing(text)


def test_a_whole_text_keeps_its_newlines_and_tabs_only() -> None:
    text = "Traceback:\n\tline\x1b[31m\r\n"
    assert printable(text, newlines=True) == "Traceback:\n\tline\\x1b[31m\\x0d\n"


CELLS = [
    ("=1+1", "'=1+1"),
    ("+cmd", "'+cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
    ("a=b", "a=b"),
    ("", ""),
    (-1, -1),
    (-2.5, -2.5),
    (decimal.Decimal("-3.1"), decimal.Decimal("-3.1")),
    (True, True),
    (None, None),
]


@pytest.mark.parametrize(("value", "safe"), CELLS, ids=[repr(v) for v, _ in CELLS])
def test_cells_a_spreadsheet_would_run_get_a_quote_and_numbers_stay(value, safe) -> None:
    assert spreadsheet_safe(value) == safe
    assert type(spreadsheet_safe(value)) is type(safe)


def test_other_values_are_judged_by_their_text() -> None:
    assert spreadsheet_safe(datetime.date(2024, 1, 2)) == datetime.date(2024, 1, 2)
    assert spreadsheet_safe(["-x"]) == ["-x"]  # "['-x']" starts with "["
    assert spreadsheet_safe(datetime.timedelta(days=-1)) == "'-1 day, 0:00:00"
