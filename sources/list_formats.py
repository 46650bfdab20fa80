"""The three formats of a video list, each read into numbered rows.

A reader yields `(row number, fields)` per row, or `(row number, reason)` for a row
that cannot be read (a CSV field over the limit, a NUL byte, a JSONL line that is not
an object, nested too deep): one bad row never hides the rows after it. Lines end at
`\n`, `\r\n` or a lone `\r` (an old Mac export), never at U+2028 and the other
separators `str.splitlines` knows, so a U+2028 inside a JSON string stays inside its row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator

# The columns with a meaning of their own (any case: `URL` is `url`); every other column
# is kept as an attribute.
RESERVED_COLUMNS = ("url", "video_id", "cohort")
DELIMITERS = (",", ";", "\t")
# The largest field of any format: what Python's CSV reader allows (`csv.field_size_limit`).
FIELD_MAX_CHARS = 131_072
# The most columns (fields of a JSONL line) a list may have: each is kept in every row.
MAX_COLUMNS = 1000
_LINE_END = re.compile(r"\r\n|\r|\n")


def list_format(path: str) -> str:
    """The format of a video list from its file name: csv, jsonl or txt."""
    suffix = os.path.splitext(path.lower())[1]
    formats = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
    if suffix not in formats:
        raise ValueError(
            f"cannot tell the format of video list {path!r}: name it .csv, .jsonl or .txt"
        )
    return formats[suffix]


def _csv_records(text: str, delimiter: str = ",") -> Iterator[list[str] | str]:
    """Each CSV record as its fields, or a message when the record cannot be parsed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a field over the limit, a NUL byte: this record only
            yield f"cannot parse the CSV record ({error})"


def _header(fields: list[str] | str) -> list[str]:
    """A CSV header's column names; the reserved ones (`URL`, `Cohort`) in lower case."""
    names = [h.strip() for h in fields] if isinstance(fields, list) else []
    return [n.lower() if n.lower() in RESERVED_COLUMNS else n for n in names]


def _delimiter(text: str) -> str:
    """`,`, or `;` / tab when only that reading of the header names a url or video_id
    column (a spreadsheet's export in a locale whose decimal mark is a comma)."""
    for delimiter in DELIMITERS:
        header = _header(next(_csv_records(text, delimiter), []))
        if "url" in header or "video_id" in header:
            return delimiter
    return DELIMITERS[0]


def _csv_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    records = _csv_records(text, _delimiter(text))
    header = _header(next(records, []))
    if "url" not in header and "video_id" not in header:
        yield (
            0,
            (
                f"CSV header {header[:20]!r} has no 'url' or 'video_id' column: "
                "add a url (or video_id) column"
            ),
        )
        return
    if len(header) > MAX_COLUMNS:
        yield 0, f"CSV header has {len(header):,} columns: at most {MAX_COLUMNS:,}"
        return
    if twice := _named_twice(name for name in header if name):  # unnamed ones may repeat
        yield 0, f"CSV header names column {twice!r} twice: one of them would be lost"
        return
    number = 0
    for record in records:
        if record == []:
            continue  # a blank line, as csv.DictReader skips it
        number += 1
        if isinstance(record, str):
            yield number, record
        elif len(record) > len(header):
            yield number, f"row has {len(record)} fields, the header has {len(header)}"
        elif len(record) < len(header):
            yield number, f"row has fewer fields than the header ({len(header)})"
        else:
            yield number, {k: v.strip() for k, v in zip(header, record, strict=True)}


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    for number, line in enumerate(_split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_once_each)
        except json.JSONDecodeError as error:
            yield number, f"line is not valid JSON ({error.msg})"
            continue
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, deep nesting
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            yield number, f"line cannot be read as JSON ({reason[:200]})"
            continue
        if not isinstance(row, dict):
            yield number, "line is not a JSON object"
            continue
        yield number, _fields(row)


def _fields(row: dict) -> dict | str:
    """A JSONL row's fields, the reserved ones (`URL` is `url`) as text; or why it has none:
    a reserved field named twice in two cases, or holding a list or an object."""
    if len(row) > MAX_COLUMNS:
        return f"line has {len(row):,} fields: at most {MAX_COLUMNS:,}"
    names = [n.lower() if n.lower() in RESERVED_COLUMNS else n for n in map(str, row)]
    try:
        fields = _once_each(list(zip(names, row.values(), strict=True)))
    except ValueError as error:  # `URL` and `url`
        return str(error)
    for name in RESERVED_COLUMNS:
        if isinstance(fields.get(name), dict | list):
            kind = "an object" if isinstance(fields[name], dict) else "an array"
            return f"field {name!r} holds {kind}, not text"
    return {k: str(v) if k in RESERVED_COLUMNS and v is not None else v
            for k, v in fields.items()}  # fmt: skip


def _once_each(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's fields; ValueError when one is named twice (one would be lost)."""
    row = dict(pairs)
    if len(row) < len(pairs):
        twice = _named_twice(name for name, _ in pairs)
        raise ValueError(f"line names field {twice!r} twice: one of them would be lost")
    return row


def _named_twice(names: Iterable[str]) -> str | None:
    """The first name seen a second time, or None (one pass: a header may be huge)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _split_lines(text: str) -> list[str]:
    """Lines ended by \n, \r\n or \r (not by U+2028 and the other separators
    `splitlines` knows)."""
    return _LINE_END.split(text)


def _txt_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    for number, line in enumerate(_split_lines(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, {"url": stripped}


READERS = {"csv": _csv_rows, "jsonl": _jsonl_rows, "txt": _txt_rows}
