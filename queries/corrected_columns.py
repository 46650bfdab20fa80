"""The corrected columns each correctable report adds beside its raw ones.

negative_share: `negative_share_corrected` and `negative_share_excl_surprise_corrected`
with their joint-bootstrap CIs; cohort_summary: the two corrected shares;
cohort_comparison: the corrected differences A - B with CIs (both cohorts corrected by
the same validation replicate); cohort_emotions and paper_figure5: each label's
`share_frames_corrected` (matrix method) with its CI. The runner masks them in suppressed
rows like every other column but the keys (`queries.suppression`). A last
column, `validation`, names the validation (name, n, date) for CSV and JSON readers.
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np

from affectflow.queries import misclassification as mc
from affectflow.queries.corrections import (
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    MAPS,
    Instrument,
    cohort_video_counts,
    describe,
    find_validation,
    instrument,
)

Columns = dict[str, float | None]


@dataclasses.dataclass(eq=False)  # hashed by identity: its methods cache per report
class Corrector:
    """The joint bootstrap of one report: a validation and the cohorts' videos."""

    used: Instrument
    cohorts: dict[str, np.ndarray]
    n_boot: int
    seed: int

    @functools.cached_property
    def instrument_draws(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 0])
        return mc.draws(len(self.used.counts), self.n_boot, rng)

    @functools.cache  # noqa: B019 (one Corrector per report)
    def video_draws(self, cohort: str) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1, zlib.crc32(cohort.encode())])
        return mc.draws(len(self.cohorts[cohort]), self.n_boot, rng)

    @functools.cache  # noqa: B019
    def negative(self, cohort: str, name: str) -> tuple[float, np.ndarray] | None:
        """(corrected share, replicates) under map `name`; None when J is too small."""
        if cohort not in self.cohorts or not self.used.youden_j(name) >= mc.MIN_YOUDEN_J:
            return None
        return mc.corrected_negative(
            self.cohorts[cohort],
            self.used.counts,
            self.used.negative[name],
            self.instrument_draws,
            self.video_draws(cohort),
        )

    @functools.cache  # noqa: B019
    def distribution(self, cohort: str) -> tuple[np.ndarray, np.ndarray] | None:
        if cohort not in self.cohorts:
            return None
        return mc.corrected_distribution(
            self.cohorts[cohort], self.used.counts, self.instrument_draws, self.video_draws(cohort)
        )


def _with_ci(point: float, boot: np.ndarray, names: tuple[str, str, str]) -> Columns:
    low, high = mc.percentile_interval(boot)
    return dict(zip(names, (float(point), float(low), float(high)), strict=True))


def _empty(names: tuple[str, ...]) -> Columns:
    return dict.fromkeys(names)


NEGATIVE_NAMES = {
    "paper": ("negative_share_corrected", "corrected_ci_low", "corrected_ci_high"),
    "excl_surprise": (
        "negative_share_excl_surprise_corrected",
        "excl_surprise_corrected_ci_low",
        "excl_surprise_corrected_ci_high",
    ),
}
DIFFERENCE_NAMES = {
    "paper": ("difference_corrected", "corrected_ci_low", "corrected_ci_high"),
    "excl_surprise": (
        "difference_excl_surprise_corrected",
        "excl_surprise_corrected_ci_low",
        "excl_surprise_corrected_ci_high",
    ),
}
LABEL_NAMES = ("share_frames_corrected", "corrected_ci_low", "corrected_ci_high")


def negative_share(c: Corrector, row: dict) -> Columns:
    out: Columns = {}
    for name in MAPS:
        found = c.negative(row["cohort"], name)
        names = NEGATIVE_NAMES[name]
        out |= _empty(names) if found is None else _with_ci(*found, names)
    return out


def cohort_summary(c: Corrector, row: dict) -> Columns:
    return {
        names[0]: None if (found := c.negative(row["cohort"], name)) is None else found[0]
        for name, names in NEGATIVE_NAMES.items()
    }


def cohort_comparison(c: Corrector, row: dict) -> Columns:
    out: Columns = {}
    for name in MAPS:
        a, b = c.negative(row["cohort_a"], name), c.negative(row["cohort_b"], name)
        names = DIFFERENCE_NAMES[name]
        out |= (
            _empty(names) if a is None or b is None else _with_ci(a[0] - b[0], a[1] - b[1], names)
        )
    return out


def label_share(c: Corrector, row: dict) -> Columns:
    found = c.distribution(row["cohort"])
    if found is None or row["label"] not in c.used.labels:
        return _empty(LABEL_NAMES)
    k = c.used.labels.index(row["label"])
    return _with_ci(found[0][k], found[1][:, k], LABEL_NAMES)


ADDERS: dict[str, Callable[[Corrector, dict], Columns]] = {
    "negative_share": negative_share,
    "cohort_summary": cohort_summary,
    "cohort_comparison": cohort_comparison,
    "cohort_emotions": label_share,
    "paper_figure5": label_share,
}


def corrected_rows(
    name: str, corrector: Corrector, columns: list[str], rows: list[tuple]
) -> tuple[list[str], list[tuple]]:
    """The report's columns and rows with its corrected columns added (the runner then
    masks suppressed rows, these columns with the others: `queries.suppression`)."""
    adder = ADDERS[name]
    added: list[str] = []
    out: list[tuple[Any, ...]] = []
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        extra = adder(corrector, record)
        added = list(extra)
        out.append((*row, *extra.values()))
    return columns + added, out


def correct(
    con: duckdb.DuckDBPyConnection,
    name: str,
    values: dict[str, Any],
    columns: list[str],
    rows: list[tuple],
) -> tuple[list[str], list[tuple], list[str]]:
    """(columns, rows, notes) of a correctable report: corrected columns added when a
    validation of its analysis exists (or `validation` names one), and a note either way."""
    analysis_id, model_id = values.get("analysis_id"), values.get("model_id")
    row = find_validation(con, analysis_id, values.get("validation"))
    if row is None or analysis_id is None:
        return columns, rows, describe(None)
    used = instrument(con, row, analysis_id)
    n_boot = values.get("n_boot") or DEFAULT_N_BOOT
    seed = DEFAULT_SEED if values.get("seed") is None else values["seed"]
    cohorts = cohort_video_counts(con, model_id, analysis_id, used.labels)
    columns, rows = corrected_rows(name, Corrector(used, cohorts, n_boot, seed), columns, rows)
    named = f"{used.name} (n={used.n}, {used.validated_at:%Y-%m-%d})"  # for CSV and JSON
    return [*columns, "validation"], [(*r, named) for r in rows], describe(used, n_boot, seed)
