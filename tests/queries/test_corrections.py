"""Reports with and without a validation: corrected shares beside the raw ones, and the
note that names the validation (or says the shares are uncorrected)."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest

from affectflow.pipelines import validate
from affectflow.queries.corrections import Instrument, describe
from affectflow.queries.runner import connect, run_report
from affectflow.warehouse.validations import read_validations

from .conftest import FPS


@pytest.fixture(scope="module")
def validated(cohorts, tmp_path_factory, labelled_faces, model_cache_dir):
    """A copy of the cohorts' warehouse with a validation under the same settings."""
    warehouse = shutil.copytree(cohorts.warehouse, tmp_path_factory.mktemp("v") / "out")
    argv = [str(labelled_faces), "--warehouse", str(warehouse), "--name", "photos"]
    argv += ["--cache-dir", str(model_cache_dir), "--fps", FPS, "--n-boot", "200"]
    assert validate.main([*argv, "--format", "json", "--out", str(warehouse.parent / "c")]) == 0
    (row,) = read_validations(str(warehouse))
    return warehouse, row


def _records(warehouse, name: str, **params):
    report = run_report(connect(str(warehouse)), name, params)
    return report, report.records()


def test_without_a_validation_the_shares_are_said_to_be_uncorrected(cohorts) -> None:
    for name in ("negative_share", "cohort_summary", "cohort_emotions"):
        report, _ = _records(cohorts.warehouse, name, min_videos=1)
        assert not any(c.endswith("_corrected") for c in report.columns)
        assert any("uncorrected" in line for line in report.notes)
        assert "validation" not in report.columns
    report, _ = _records(cohorts.warehouse, "video_summary", min_videos=1)
    assert any("shares are uncorrected here" in line for line in report.notes)


def test_negative_share_is_corrected_by_rogan_gladen(validated) -> None:
    warehouse, validation = validated
    report, rows = _records(warehouse, "negative_share", n_boot=200)
    note = next(line for line in report.notes if "validation 'photos'" in line)
    assert f"n={validation['n']}" in note and f"{validation['validated_at']:%Y-%m-%d}" in note
    assert any(r["suppressed"] for r in rows) and any(not r["suppressed"] for r in rows)
    assert {r["validation"] for r in rows} == {
        f"photos (n={validation['n']}, {validation['validated_at']:%Y-%m-%d})"
    }
    for row in rows:
        for raw, corrected, low, high, figure in (
            ("negative_share", "negative_share_corrected", "corrected_ci_low",
             "corrected_ci_high", "paper"),
            ("negative_share_excl_surprise", "negative_share_excl_surprise_corrected",
             "excl_surprise_corrected_ci_low", "excl_surprise_corrected_ci_high",
             "excl_surprise"),
        ):  # fmt: skip
            if row["suppressed"] or validation[f"youden_j_{figure}"] < 0.2:
                assert row[corrected] is None
                continue
            se, fpr = validation[f"sensitivity_{figure}"], validation[f"fpr_{figure}"]
            expected = min(1.0, max(0.0, (row[raw] - fpr) / (se - fpr)))
            assert row[corrected] == pytest.approx(expected)
            assert row[low] <= row[corrected] + 1e-9 and row[corrected] <= row[high] + 1e-9


def test_summary_and_comparison_use_the_same_corrected_shares(validated) -> None:
    warehouse, _ = validated
    _, shares = _records(warehouse, "negative_share", min_videos=1)
    by_cohort = {r["cohort"]: r["negative_share_corrected"] for r in shares}
    _, summary = _records(warehouse, "cohort_summary", min_videos=1)
    assert {r["cohort"]: r["negative_share_corrected"] for r in summary} == by_cohort
    _, (comparison,) = _records(warehouse, "cohort_comparison", min_videos=1)
    a, b = by_cohort[comparison["cohort_a"]], by_cohort[comparison["cohort_b"]]
    if a is None or b is None:
        assert comparison["difference_corrected"] is None
    else:
        assert comparison["difference_corrected"] == pytest.approx(a - b)


@pytest.mark.parametrize("name", ["cohort_emotions", "paper_figure5"])
def test_emotion_shares_are_corrected_on_the_simplex(validated, name) -> None:
    warehouse, _ = validated
    _, rows = _records(warehouse, name, min_videos=1)
    totals: dict[str, float] = {}
    for row in rows:
        value = row["share_frames_corrected"]
        assert 0.0 <= value <= 1.0 + 1e-9
        assert row["corrected_ci_low"] <= value + 1e-9 <= row["corrected_ci_high"] + 2e-9
        totals[row["cohort"]] = totals.get(row["cohort"], 0.0) + value
    assert all(total <= 1.0 + 1e-6 for total in totals.values())


def test_a_named_validation_must_exist_for_the_analysis(validated) -> None:
    warehouse, _ = validated
    with pytest.raises(ValueError, match="no validation 'other'"):
        _records(warehouse, "negative_share", validation="other")
    report, _ = _records(warehouse, "negative_share", validation="photos")
    assert "negative_share_corrected" in report.columns


def test_a_weak_instrument_gets_no_correction_and_a_note() -> None:
    counts = np.zeros((2, 2, 3))
    counts[0, 0] = [5, 5, 0]  # true negative: read negative half the time
    counts[1, 1] = [4, 6, 0]  # true other: read negative 40% of the time (J = 0.1)
    negative = np.array([True, False])
    weak = Instrument("weak", 20, dt.date(2026, 1, 2), ("sad", "happy"), counts,
                      {"paper": negative, "excl_surprise": negative})  # fmt: skip
    assert weak.youden_j("paper") == pytest.approx(0.1)
    notes = describe(weak, 100, 1)
    assert "n=20, 2026-01-02" in notes[0]
    assert sum("Youden's J is 0.10, below 0.2" in line for line in notes) == 2
