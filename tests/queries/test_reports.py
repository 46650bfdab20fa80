"""Every shipped report over a real two-cohort warehouse, checked against direct computations.

Direct computations read the Parquet files with plain DuckDB (no report SQL, no views)
and take the valence of each label from the model registry; the bootstrap and the
permutation test are checked against their exact distributions, enumerated with numpy
(the cohorts are small enough: 5**5 resamples, 9-choose-4 splits).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from affectflow.models.registry import get_model_spec
from affectflow.queries.runner import (
    PARAMETERS,
    connect,
    header_sections,
    list_reports,
    report_info,
    report_sql,
    run_report,
)

pytestmark = pytest.mark.slow  # the tests read warehouses real pipelines write

SPEC = get_model_spec("fer-minixception")
NEGATIVE = SPEC.labels_with_valence("negative")
NEGATIVE_EXCL_SURPRISE = tuple(k for k, v in SPEC.valence_ambiguous.items() if v == "negative")
OPEN = {"min_videos": 1}


@pytest.fixture(scope="module")
def con(cohorts):
    return connect(str(cohorts.warehouse))


@pytest.fixture(scope="module")
def per_video(cohorts) -> dict[str, list[tuple[int, int]]]:
    """(negative face-frames, face-frames) of each video with faces, per cohort."""
    rows = cohorts.raw().execute(
        "select cohort, video_key, count(*) filter (where list_contains($neg, smoothed_label)), "
        "count(*) "
        "from faces group by all order by all",
        {"neg": list(NEGATIVE)},
    )
    out: dict[str, list[tuple[int, int]]] = {}
    for cohort, _, negative, frames in rows.fetchall():
        out.setdefault(cohort, []).append((negative, frames))
    return out


def exact_bootstrap(videos: list[tuple[int, int]]) -> np.ndarray:
    """The ratio of every ordered resample of the videos (n**n of them)."""
    counts = np.array(videos, dtype=float)
    draws = np.array(list(itertools.product(range(len(counts)), repeat=len(counts))))
    sums = counts[draws].sum(axis=1)
    return sums[:, 0] / sums[:, 1]


def assert_quantile(distribution: np.ndarray, value: float, q: float, tol: float = 0.01) -> None:
    """`value` (rounded to 4 decimals) is a `q`-quantile of `distribution`, within `tol`."""
    below = np.mean(distribution < value - 1e-4)
    at_or_below = np.mean(distribution <= value + 1e-4)
    assert below - tol <= q <= at_or_below + tol, (value, q, below, at_or_below)


def share(videos: list[tuple[int, int]]) -> float:
    negative, frames = np.array(videos).sum(axis=0)
    return negative / frames


def by(report, *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in report.records()}


def test_every_report_declares_its_question_grain_and_parameters() -> None:
    assert len(list_reports()) >= 9
    for name in list_reports():
        info, sql = report_info(name), report_sql(name)
        sections = header_sections(sql)
        assert info.question and sections.get("Grain"), name
        documented = set(re.findall(r"\$([a-z_]+)", sections["Parameters"]))
        assert documented == set(info.parameters), name
        assert set(info.parameters) <= set(PARAMETERS) and "min_videos" in info.parameters
        assert sql.rstrip().splitlines()[-1].startswith("select * from final"), name


@pytest.mark.parametrize("name", list_reports())
def test_a_masked_row_keeps_only_the_keys_its_report_declares(con, name) -> None:
    """Every report: the runner masks each column but the declared keys (`-- Keys:`) of a
    row built from too few videos; per-video reports mask every row at the default 5."""
    report = run_report(con, name, {"min_videos": 5})
    keys = report_info(name).keys
    assert keys and set(keys) <= set(report.columns)
    values = [c for c in report.columns if c not in (*keys, "suppressed")]
    masked = [row for row in report.records() if row["suppressed"]]
    assert masked, name  # every report has a small cell in this warehouse (control: 4 videos)
    for row in masked:
        assert all(row[c] is None for c in values) and all(row[k] is not None for k in keys[:1])
    opened = run_report(con, name, OPEN)
    if opened.rows:
        assert opened.suppressed == 0
        assert any(r[c] is not None for r in opened.records() for c in values)


def test_no_report_sql_masks_a_column_itself() -> None:
    for name in list_reports():
        assert "not suppressed" not in report_sql(name), name


@pytest.mark.parametrize(
    "name", ["cohort_summary", "cohort_emotions", "negative_share", "data_quality", "paper_figure5"]
)
def test_a_cohort_of_4_videos_is_masked_and_one_of_5_is_not(con, name) -> None:
    report = run_report(con, name, {"min_videos": 5})
    cohort = report.columns.index("cohort")
    masked = {row[cohort] for row in report.rows if row[report.columns.index("suppressed")]}
    values = [c for c in report.columns if c not in (*report_info(name).keys, "suppressed")]
    if name == "cohort_emotions":  # per label: masked by the videos showing that label
        assert "control" in masked
    else:
        assert masked == {"control"}
    kept = [row for row in report.records() if not row["suppressed"]]
    assert kept and all(row[values[0]] is not None for row in kept)
    assert run_report(con, name, {"min_videos": 4}).suppressed < report.suppressed


def test_negative_share_matches_direct_counts_and_the_exact_bootstrap(con, per_video) -> None:
    report = run_report(con, "negative_share", {**OPEN, "n_boot": 4000, "seed": 7})
    rows = by(report, "cohort")
    assert set(rows) == {("control",), ("depressed",)}
    for cohort, videos in per_video.items():
        row = rows[(cohort,)]
        assert row["videos"] == len(videos) == {"control": 4, "depressed": 5}[cohort]
        assert row["negative_frames"] == sum(n for n, _ in videos)
        assert row["negative_share"] == pytest.approx(share(videos), abs=1e-4)
        assert row["ci_low"] <= row["negative_share"] <= row["ci_high"]
        assert_quantile(exact_bootstrap(videos), row["ci_low"], 0.025)
        assert_quantile(exact_bootstrap(videos), row["ci_high"], 0.975)
        # resampled whole videos: no replicate leaves the range of the videos' own shares
        shares = [n / f for n, f in videos]
        assert min(shares) - 1e-4 <= row["ci_low"] and row["ci_high"] <= max(shares) + 1e-4


def test_bootstrap_and_permutations_are_reproducible_by_seed(con) -> None:
    for name in ("negative_share", "cohort_comparison"):
        extra = {"n_perm": 25} if name == "cohort_comparison" else {}
        params = {**OPEN, "n_boot": 25, **extra}
        first = run_report(con, name, {**params, "seed": 1}).rows
        assert run_report(con, name, {**params, "seed": 1}).rows == first
        others = [run_report(con, name, {**params, "seed": seed}).rows for seed in (2, 3, 4)]
        assert any(rows != first for rows in others)


def test_cohort_comparison_matches_the_exact_permutation_and_bootstrap(con, per_video) -> None:
    params = {**OPEN, "cohort_a": "depressed", "cohort_b": "control", "seed": 3}
    row = run_report(con, "cohort_comparison", {**params, "n_boot": 4000, "n_perm": 2000})
    (row,) = row.records()
    a, b = per_video["depressed"], per_video["control"]
    assert (row["videos_a"], row["videos_b"]) == (5, 4)
    assert row["difference"] == pytest.approx(share(a) - share(b), abs=1e-4)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    differences = (exact_bootstrap(a)[:, None] - exact_bootstrap(b)[None, :]).ravel()
    assert_quantile(differences, row["ci_low"], 0.025)
    assert_quantile(differences, row["ci_high"], 0.975)
    pool = np.array(a + b, dtype=float)
    observed = abs(share(a) - share(b))
    extreme = []
    for chosen in itertools.combinations(range(len(pool)), len(a)):
        mask = np.isin(np.arange(len(pool)), chosen)
        (na, fa), (nb, fb) = pool[mask].sum(axis=0), pool[~mask].sum(axis=0)
        extreme.append(abs(na / fa - nb / fb) >= observed - 1e-12)
    assert row["p_value"] == pytest.approx(np.mean(extreme), abs=0.05)
    swapped = run_report(con, "cohort_comparison", {**OPEN, "n_boot": 4000, "n_perm": 10})
    (swapped,) = swapped.records()  # defaults: the first two cohorts by name
    assert (swapped["cohort_a"], swapped["cohort_b"]) == ("control", "depressed")
    assert swapped["difference"] == pytest.approx(-row["difference"], abs=1e-4)
    assert run_report(con, "cohort_comparison", {**params, "min_videos": 5}).rows[0][3:] == (
        (None,) * 11
    )


def test_video_summary_matches_each_video(con, cohorts) -> None:
    report = run_report(con, "video_summary", OPEN)
    rows = by(report, "video_key")
    direct = cohorts.raw().execute(
        "select v.video_key, v.status, count(f.label), count(distinct f.track_id), "
        "avg(case when list_contains($neg, f.smoothed_label) then 1.0 else 0.0 end) "
        "from videos as v left join faces as f using (video_key) group by all",
        {"neg": list(NEGATIVE)},
    )
    direct = direct.fetchall()
    assert len(rows) == len(direct) == 11
    for key, status, frames, persons, negative in direct:
        row = rows[(key,)]
        assert row["status"] == status
        if status == "failed":
            assert row["face_frames"] is None and row["face_frames_per_minute"] is None
            continue
        assert (row["face_frames"], row["persons"]) == (frames, persons)
        if frames:
            assert row["negative_share"] == pytest.approx(negative, abs=1e-4)
    assert run_report(con, "video_summary", {}).suppressed == 11


def test_trend_by_month_groups_by_upload_month(con, cohorts) -> None:
    report = run_report(con, "trend_by_month", OPEN)
    rows = by(report, "cohort", "upload_month")
    expected: dict[tuple, int] = {}
    for _, _clip, cohort, month in cohorts.clips:
        expected[(cohort, month)] = expected.get((cohort, month), 0) + 1
    assert {key: row["videos"] for key, row in rows.items()} == expected
    direct = cohorts.raw().execute(
        "select v.cohort, strftime(strptime(v.upload_date, '%Y%m%d'), '%Y-%m'), "
        "count(*) filter (where list_contains($neg, f.smoothed_label)) / count(*) "
        "from videos as v join faces as f using (video_key) group by all",
        {"neg": list(NEGATIVE)},
    )
    for cohort, month, negative in direct.fetchall():
        assert rows[(cohort, month)]["negative_share"] == pytest.approx(negative, abs=1e-4)


def test_data_quality_counts_failures_no_faces_and_face_frames_per_minute(con, cohorts) -> None:
    rows = by(run_report(con, "data_quality", OPEN), "cohort")
    raw = cohorts.raw()
    for (cohort,) in rows:
        row = rows[(cohort,)]
        statuses = dict(
            raw.execute(
                "select status, count(*) from videos where cohort = $c group by 1", {"c": cohort}
            ).fetchall()
        )
        assert row["videos"] == sum(statuses.values())
        assert row["videos_failed"] == statuses.get("failed", 0)
        assert row["videos_no_faces"] == statuses.get("no_faces", 0)
        ((faces, minutes),) = raw.execute(
            "select (select count(*) from faces where cohort = $c), "
            "(select sum(duration_s) / 60 from videos where cohort = $c and status <> 'failed')",
            {"c": cohort},
        ).fetchall()
        assert row["face_frames"] == faces
        assert row["face_frames_per_minute"] == pytest.approx(faces / minutes, abs=0.01)
    assert rows[("depressed",)]["videos_failed"] == 1
    stage = raw.execute("select stage from errors").fetchall()
    assert rows[("depressed",)]["top_failed_stage"] == stage[0][0] == "download"
    assert rows[("control",)]["top_failed_stage"] is None


def test_paper_figure5_puts_every_emotion_of_each_cohort_side_by_side(con, cohorts) -> None:
    report = run_report(con, "paper_figure5", OPEN)
    assert len(report.rows) == len(SPEC.labels) * 2
    direct = dict(
        ((c, label), n)
        for c, label, n in cohorts.raw()
        .execute("select cohort, smoothed_label, count(*) from faces group by all")
        .fetchall()
    )
    for cohort in ("control", "depressed"):
        rows = [r for r in report.records() if r["cohort"] == cohort]
        total = sum(n for (c, _), n in direct.items() if c == cohort)
        for row in rows:
            assert row["negative"] == (SPEC.valence[row["label"]] == "negative")
            assert row["face_frames"] == direct.get((cohort, row["label"]), 0)
            assert row["share_frames"] == pytest.approx(row["face_frames"] / total, abs=1e-4)
        negative = sum(r["share_frames"] for r in rows if r["negative"])
        assert rows[0]["negative_share"] == pytest.approx(negative, abs=1e-3)
    assert [r["negative"] for r in report.records()] == sorted(
        (r["negative"] for r in report.records()), reverse=True
    )


def test_video_timeline_bins_each_video(con, cohorts) -> None:
    report = run_report(con, "video_timeline", {**OPEN, "bin_s": "2.5"})
    faces = dict(
        cohorts.raw().execute("select video_key, count(*) from faces group by 1").fetchall()
    )
    per_video: dict[str, int] = {}
    per_bin: dict[tuple, float] = {}
    for row in report.records():
        assert row["bin_start_s"] % 2.5 == pytest.approx(0.0)
        per_video[row["video_key"]] = per_video.get(row["video_key"], 0) + row["face_frames"]
        key = (row["video_key"], row["bin_start_s"])
        per_bin[key] = per_bin.get(key, 0.0) + row["share_frames"]
    assert per_video == faces
    assert all(total == pytest.approx(1.0, abs=1e-3) for total in per_bin.values())
    one = next(iter(faces))
    only = run_report(con, "video_timeline", {**OPEN, "video_key": one})
    assert {r["video_key"] for r in only.records()} == {one}
