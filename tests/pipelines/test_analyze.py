"""The analyze job end to end: real clips over a local HTTP server, real model, real Parquet."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from affectflow.models.registry import FER_LABELS
from affectflow.models.smoothing import moving_average
from affectflow.pipelines.analyze import JobError, run
from affectflow.schemas.settings import UnitSettings

pytestmark = pytest.mark.slow  # whole jobs on real clips


def status_of(job, url: str) -> str:
    rows = job.query("select status from videos where url = $url", url=url)
    assert len(rows) == 1, rows
    return rows[0][0]


def test_every_input_row_is_one_videos_row(job) -> None:
    assert job.summary.videos_total == 8
    assert job.query("select count(*), count(distinct row_number) from videos") == [(8, 8)]
    assert job.summary.videos_ok == 2 and job.summary.videos_no_faces == 1
    assert job.summary.videos_failed == 5


def test_face_clips_give_faces_and_the_empty_clip_no_faces(job) -> None:
    assert status_of(job, job.urls["single"]) == "ok"
    assert status_of(job, Path(job.urls["local"]).name) == "ok"  # stored by its name
    assert status_of(job, job.urls["noface"]) == "no_faces"
    ((faces, frames, _labels),) = job.query(
        "select count(*), count(distinct frame_index), count(distinct label) from faces "
        "join videos using (video_key) where videos.url = $url",
        url=job.urls["single"],
    )
    assert faces >= 15 and frames >= 15
    (summary_faces,) = job.query(
        "select faces_detected from videos where url = $url", url=job.urls["single"]
    )[0]
    assert summary_faces == faces


def test_bad_inputs_fail_with_an_error_row_each(job) -> None:
    expected = {
        "garbage": ("download", False),
        "truncated": ("download", False),
        "missing": ("download", False),
        "refused": ("download", True),
        "badscheme": ("ingest", False),
    }
    for name, (stage, retryable) in expected.items():
        assert status_of(job, job.urls[name]) == "failed", name
        rows = job.query(
            "select stage, retryable, message from errors where url = $url or input = $url",
            url=job.urls[name],
        )
        assert len(rows) == 1, (name, rows)
        assert rows[0][:2] == (stage, retryable), (name, rows)
        assert rows[0][2], name


def test_faces_rows_carry_scores_and_the_model(job) -> None:
    rows = job.query(
        "select label, score, scores[label], list_sum(map_values(scores)), model_id, "
        "weights_sha256, bbox_w > 0 and bbox_h > 0 from faces"
    )
    assert rows
    for _label, score, own, total, model_id, sha, box_ok in rows:
        assert own == pytest.approx(score) and total == pytest.approx(1.0, abs=1e-4)
        assert model_id == "affectflow-minixception" and len(sha) == 64 and box_ok


def held_labels(smoothed: list[list[float]], margin: float) -> list[str]:
    """The hysteresis written out: the first face's argmax, then the held label until the
    argmax leads it by `margin`."""
    held: list[str] = []
    for probabilities in smoothed:
        best = int(np.argmax(probabilities))
        current = FER_LABELS.index(held[-1]) if held else best
        take = probabilities[best] - probabilities[current] >= margin
        held.append(FER_LABELS[best if take else current])
    return held


def test_smoothed_labels_are_the_tracks_moving_average_and_flip_less(job) -> None:
    rows = job.query(
        "select video_key, track_id, timestamp_ms, map_values(scores), map_values(smoothed_scores),"
        " label, smoothed_label, smoothed_score from faces order by all"
    )
    tracks: dict[tuple, list] = {}
    for key, track, ms, scores, smoothed, label, smoothed_label, score in rows:  # label order
        tracks.setdefault((key, track), []).append((ms, scores, smoothed, label, smoothed_label))
        assert score == pytest.approx(smoothed[FER_LABELS.index(smoothed_label)])
    switches = {"raw": 0, "smoothed": 0}
    for faces in tracks.values():
        times = [ms for ms, *_ in faces]
        expected = moving_average(times, np.array([s for _, s, *_ in faces]), UnitSettings.smooth_s)
        np.testing.assert_allclose([s for _, _, s, *_ in faces], expected, atol=1e-6)
        smoothed = [s for _, _, s, *_ in faces]
        assert [f[4] for f in faces] == held_labels(smoothed, UnitSettings.smooth_margin)
        for kind, column in (("raw", 3), ("smoothed", 4)):
            labels = [face[column] for face in faces]
            switches[kind] += sum(a != b for a, b in itertools.pairwise(labels))
    assert len(rows) > 100 and switches["raw"] > 0
    assert switches["smoothed"] < switches["raw"]


def test_crying_then_laughing_ends_mostly_happy(job) -> None:
    (happy_share,) = job.query(
        """
        with f as (
            select faces.timestamp_ms, faces.label, videos.duration_s
            from faces join videos using (video_key) where videos.url = $url
        )
        select avg((label = 'happy')::int) from f where timestamp_ms > duration_s * 1000 * 2 / 3
        """,
        url=Path(job.urls["local"]).name,
    )[0]
    assert happy_share > 0.5


def test_rerun_skips_done_videos_and_adds_no_faces(job, tmp_path) -> None:
    warehouse = tmp_path / "out"
    shutil.copytree(job.warehouse, warehouse)
    args = [str(warehouse) if arg == str(job.warehouse) else arg for arg in job.args]
    rerun = dataclasses.replace(job, warehouse=warehouse, args=args)
    faces_before = rerun.query("select count(*) from faces")[0][0]
    downloads_before = job.server.requests("single.mp4")
    summary = run(args)
    assert summary.videos_skipped == 3
    assert summary.videos_failed == 5 and summary.faces_detected == 0
    assert rerun.query("select count(*) from faces")[0][0] == faces_before
    assert job.server.requests("single.mp4") == downloads_before
    statuses = rerun.query(
        "select status, count(*) from videos where run_id = (select max(run_id) from videos) "
        "group by status order by status"
    )
    assert statuses == [("failed", 5), ("skipped", 3)]


def test_a_missing_list_stops_the_job_with_a_clear_message(tmp_path) -> None:
    with pytest.raises(JobError, match="does not exist"):
        run([str(tmp_path / "nope.csv"), "--warehouse", str(tmp_path / "out")])
