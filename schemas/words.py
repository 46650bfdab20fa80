"""Counts in words, the same in every line a person reads (summary, progress, reports)."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 video`, `2 videos`, `1,204 face-frames`: a count with its noun."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
