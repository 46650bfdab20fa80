"""Small-cell suppression, applied once for every report: a row whose `suppressed` column
is true keeps only its key columns; every other column becomes null.

A report's SQL computes `suppressed` (`<distinct videos> < $min_videos`) and its values
unmasked; its header names the key columns (`-- Keys: cohort, label`: what a row is
about). The runner masks the rest here, so no report repeats the rule per column and a
new column is masked without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Sequence

SUPPRESSED = "suppressed"


def declared_keys(keys_section: str) -> tuple[str, ...]:
    """The key columns of a `Keys:` header section (`cohort, label (what a row ...)`)."""
    names = keys_section.split("(", 1)[0]
    return tuple(name.strip() for name in names.split(",") if name.strip())


def check_keys(name: str, keys: Sequence[str], columns: Sequence[str]) -> None:
    """A report that can suppress rows must declare keys that are among its columns."""
    if SUPPRESSED not in columns:
        return
    missing = [key for key in keys if key not in columns]
    if not keys or missing:
        raise ValueError(
            f"report {name!r}: its header's `Keys:` must name the columns a masked row "
            f"keeps (missing: {', '.join(missing) or 'no Keys: section'})"
        )


def mask_rows(columns: Sequence[str], rows: Sequence[tuple], keys: Sequence[str]) -> list[tuple]:
    """`rows` with every column but the keys and `suppressed` nulled where suppressed."""
    if SUPPRESSED not in columns:
        return list(rows)
    flag = columns.index(SUPPRESSED)
    kept = [column in keys or column == SUPPRESSED for column in columns]
    return [
        tuple(v if keep else None for v, keep in zip(row, kept, strict=True)) if row[flag] else row
        for row in rows
    ]
