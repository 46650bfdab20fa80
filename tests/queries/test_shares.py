"""Shares that say what they measure: both valence maps, by label, by probability and by
person, from one analysis only. Checked against direct computations on the Parquet files
of the real two-cohort warehouse (tests/queries/conftest.py), with the registry's maps.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from affectflow.models.registry import get_model_spec
from affectflow.queries.runner import connect, run_report

# every test but one reads the `cohorts` warehouse a real pipeline writes
pytestmark = pytest.mark.slow

SPEC = get_model_spec("fer-minixception")
PAPER = SPEC.labels_with_valence("negative")
EXCL_SURPRISE = tuple(k for k, v in SPEC.valence_ambiguous.items() if v == "negative")
OPEN = {"min_videos": 1}
OTHER = "other-settings"


def direct_faces(cohorts) -> list[tuple]:
    """(cohort, video_key, track_id, smoothed_label, P(paper negative), P(negative excl.
    surprise)) of every face of the analysed videos, from the raw files."""
    return (
        cohorts.raw()
        .execute(
            "select f.cohort, f.video_key, f.track_id, f.smoothed_label, "
            "list_sum([f.smoothed_scores[l] for l in $paper]), "
            "list_sum([f.smoothed_scores[l] for l in $excl]) "
            "from faces as f join videos as v using (video_key) where v.status = 'ok'",
            {"paper": list(PAPER), "excl": list(EXCL_SURPRISE)},
        )
        .fetchall()
    )


def expected_shares(faces: list[tuple], cohort: str) -> dict[str, float]:
    rows = [f for f in faces if f[0] == cohort]
    persons: dict[tuple, list] = {}
    for _, key, track, label, *_ in rows:
        persons.setdefault((key, track), []).append(label)
    return {
        "face_frames": len(rows),
        "persons": len(persons),
        "negative_share": np.mean([f[3] in PAPER for f in rows]),
        "negative_share_excl_surprise": np.mean([f[3] in EXCL_SURPRISE for f in rows]),
        "ambiguous_share": np.mean([f[3] == "surprise" for f in rows]),
        "p_negative": np.mean([f[4] for f in rows]),
        "p_negative_excl_surprise": np.mean([f[5] for f in rows]),
        "person_negative_share": np.mean(
            [np.mean([x in PAPER for x in p]) for p in persons.values()]
        ),
        "person_negative_share_excl_surprise": np.mean(
            [np.mean([x in EXCL_SURPRISE for x in p]) for p in persons.values()]
        ),
    }


@pytest.fixture(scope="module")
def con(cohorts):
    return connect(str(cohorts.warehouse))


def test_the_second_map_sets_surprise_apart() -> None:
    assert (
        SPEC.valence["surprise"] == "negative" and SPEC.valence_ambiguous["surprise"] == "ambiguous"
    )
    assert set(PAPER) - set(EXCL_SURPRISE) == {"surprise"}


def test_cohort_summary_gives_both_maps_by_label_by_probability_and_by_person(con, cohorts) -> None:
    faces = direct_faces(cohorts)
    rows = {r["cohort"]: r for r in run_report(con, "cohort_summary", OPEN).records()}
    assert set(rows) == {"control", "depressed"}
    for cohort, row in rows.items():
        for column, value in expected_shares(faces, cohort).items():
            assert row[column] == pytest.approx(value, abs=1e-4), (cohort, column)
        assert row["negative_share_excl_surprise"] + row["ambiguous_share"] == pytest.approx(
            row["negative_share"], abs=2e-4
        )
        assert 0 < row["p_negative"] < 1


def test_negative_share_gives_each_measure_with_its_interval(con, cohorts) -> None:
    faces = direct_faces(cohorts)
    report = run_report(con, "negative_share", {**OPEN, "n_boot": 200, "seed": 5})
    for row in report.records():
        expected = expected_shares(faces, row["cohort"])
        for share, low, high in (
            ("negative_share", "ci_low", "ci_high"),
            ("negative_share_excl_surprise", "excl_surprise_ci_low", "excl_surprise_ci_high"),
            ("p_negative", "p_ci_low", "p_ci_high"),
        ):
            assert row[share] == pytest.approx(expected[share], abs=1e-4), share
            assert row[low] <= row[share] <= row[high], share
    comparison = run_report(con, "cohort_comparison", {**OPEN, "n_boot": 200, "n_perm": 10})
    (row,) = comparison.records()
    a, b = (expected_shares(faces, row[k]) for k in ("cohort_a", "cohort_b"))
    excl = "negative_share_excl_surprise"
    assert row["difference_excl_surprise"] == pytest.approx(a[excl] - b[excl], abs=2e-4)
    assert row["excl_surprise_ci_low"] <= row["difference_excl_surprise"]
    assert row["difference_excl_surprise"] <= row["excl_surprise_ci_high"]


def steady(report) -> list[dict]:
    """A report's records without `top_label`, whose ties DuckDB's mode() breaks at random."""
    return [{k: v for k, v in r.items() if k != "top_label"} for r in report.records()]


@pytest.fixture(scope="module")
def two_analyses(cohorts, tmp_path_factory):
    """The warehouse plus a later run of other settings over the same videos, in which
    every face is happy: a report that pooled the two would show it."""
    warehouse = tmp_path_factory.mktemp("two") / "out"
    shutil.copytree(cohorts.warehouse, warehouse)
    raw = cohorts.raw()
    (run_id,) = raw.execute("select max(run_id) from runs").fetchone()
    later = "99991231T000000Z-other"
    happy = "map_from_entries([(k, if(k = 'happy', 1.0, 0.0)::float) for k in map_keys(scores)])"
    copies = {
        "runs": f"select * replace ('{later}' as run_id, '{OTHER}' as analysis_id) from runs",
        "videos": f"select * replace ('{later}' as run_id, '{OTHER}' as analysis_id) from videos",
        "faces": f"select * replace ('{later}' as run_id, 'happy' as label, {happy} as scores, "
        f"'happy' as smoothed_label, {happy} as smoothed_scores) from faces",
    }
    for table, sql in copies.items():
        (warehouse / table / "other").mkdir()
        target = warehouse / table / "other" / "run-other.parquet"
        raw.execute(f"copy ({sql}) to '{target}' (format parquet)")
    return warehouse, run_id


def test_runs_of_different_analyses_are_never_pooled(con, two_analyses) -> None:
    warehouse, _ = two_analyses
    both = connect(str(warehouse))
    (original,) = con.execute("select distinct analysis_id from runs").fetchone()
    assert both.execute("select count(distinct analysis_id) from videos").fetchone() == (2,)
    for name in ("cohort_summary", "negative_share", "paper_figure5", "video_summary"):
        params = {**OPEN, "n_boot": 50} if name == "negative_share" else OPEN
        alone = run_report(con, name, params)
        chosen = run_report(both, name, {**params, "analysis_id": original})
        # the other analysis adds nothing (top_label aside: mode() breaks ties at random)
        assert steady(chosen) == steady(alone), name
        latest = run_report(both, name, params)  # default: the latest run's analysis
        assert latest.params["analysis_id"] == OTHER
        assert steady(latest) != steady(alone), name
    summary = run_report(both, "cohort_summary", OPEN).records()
    assert {r["negative_share"] for r in summary} == {0.0}  # every face of it is happy
    assert {r["p_negative"] for r in summary} == {0.0}


def test_an_unknown_analysis_is_a_clear_error(two_analyses) -> None:
    both = connect(str(two_analyses[0]))
    with pytest.raises(ValueError, match="analysis_id: no committed run of 'nope'"):
        run_report(both, "cohort_summary", {"analysis_id": "nope"})
    with pytest.raises(ValueError, match="with model 'hybridmicronet'"):
        run_report(both, "cohort_summary", {"analysis_id": OTHER, "model_id": "hybridmicronet"})
