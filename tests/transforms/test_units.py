"""UnitBuffer: a video is written once every face it sent came back, in units, with marker."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from affectflow.schemas.records import (
    ErrorRecord,
    FaceBox,
    FaceCrop,
    RunInfo,
    Stage,
    VideoFile,
    VideoRequest,
    VideoSummary,
)
from affectflow.schemas.rows import face_row
from affectflow.schemas.settings import UnitSettings
from affectflow.transforms.progress_journal import progress_text
from affectflow.transforms.unit_buffer import Role, UnitBuffer
from affectflow.transforms.units import CommitUnits
from affectflow.warehouse.commit import ensure_tables
from affectflow.warehouse.sql import connect
from affectflow.warehouse.units import committed_units

RUN = RunInfo("20250102T030405Z-cccccc", "m", "s" * 64, "a")
LABELS = ("happy", "sad")


def request(key: str, row: int) -> VideoRequest:
    return VideoRequest(key, f"https://example.org/clips/{key}.mp4", "a", row, {})


def summary(key: str, row: int, faces: int) -> VideoSummary:
    video = VideoFile(request(key, row), f"/cache/{key}.mp4", 2.0, 25.0, 640, 360)
    return VideoSummary(video, 20, faces, 1 if faces else 0, decoded_s=2.0, seconds=0.5)


def face(key: str, frame: int) -> FaceCrop:
    return FaceCrop(key, "a", frame, frame * 100, 0, FaceBox(1, 2, 50, 50), crop=None)


def buffer(tmp_path: Path, **settings: object) -> tuple[UnitBuffer, str]:
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    journal = str(tmp_path / "journal.jsonl")
    buf = UnitBuffer(UnitSettings(warehouse=warehouse, journal=journal, **settings), RUN)
    buf.start()
    return buf, warehouse


def committed(warehouse: str) -> list[tuple]:
    with connect(warehouse) as con:
        return con.execute(
            "select v.video_key, v.status, count(f.frame_index) from internal.video_rows v "
            "left join internal.face_rows f using (video_key, unit_id) group by all order by 1"
        ).fetchall()


def test_a_video_waits_for_its_faces_and_an_inference_failure_makes_it_failed(
    tmp_path: Path,
) -> None:
    buf, warehouse = buffer(tmp_path, max_videos=2, max_seconds=3600.0)
    buf.add(Role.FACE_SENT, face("a", 1))
    buf.add(Role.FACE_SENT, face("a", 2))
    buf.add(Role.ANALYSED, summary("a", 0, faces=2))
    buf.add(Role.FACE, face_row(face("a", 1), [0.9, 0.1], LABELS, RUN))
    buf.add(Role.ANALYSED, summary("b", 1, faces=0))  # b is finished, a still waits
    assert committed_units(warehouse, RUN.run_id) == []
    broken = ErrorRecord.for_request(request("a", 0), Stage.INFER, "CUDA error")
    buf.add(Role.FACE_FAILED, broken)  # a's last face: a finished, a unit of 2 written
    assert len(committed_units(warehouse, RUN.run_id)) == 1
    assert committed(warehouse) == [("a", "failed", 1), ("b", "no_faces", 0)]
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert [(r["status"], r["name"], r["faces"]) for r in lines] == [
        ("no_faces", "b.mp4", 0),
        ("failed", "a.mp4", 2),
    ]
    assert progress_text(lines[1]) == (
        "failed a.mp4 20 frames, 2 face-frames, 1 person, 0.5 s: infer: CUDA error (1 faces)"
    )


def test_instant_rows_and_the_rest_are_written_at_the_end_of_the_bundle(tmp_path: Path) -> None:
    buf, warehouse = buffer(tmp_path, max_videos=20, max_seconds=3600.0)
    buf.add(Role.SKIPPED, request("done", 3))
    bad = ErrorRecord(Stage.INGEST, "BadRow", "no url", False, input="row 9: ,a,", cohort="a")
    buf.add(Role.ROW_FAILED, bad)
    buf.add(Role.VIDEO_FAILED, ErrorRecord.for_request(request("gone", 4), Stage.DOWNLOAD, "404"))
    assert committed_units(warehouse, RUN.run_id) == []
    buf.finish()
    assert len(committed_units(warehouse, RUN.run_id)) == 1
    assert committed(warehouse) == [
        ("done", "skipped", 0),
        ("gone", "failed", 0),
        (None, "failed", 0),
    ]


def test_the_time_bound_writes_a_unit_per_video_when_it_is_zero(tmp_path: Path) -> None:
    buf, warehouse = buffer(tmp_path, max_videos=20, max_seconds=0.0)
    for index, key in enumerate(("x", "y", "z")):
        buf.add(Role.ANALYSED, summary(key, index, faces=0))
    assert len(committed_units(warehouse, RUN.run_id)) == 3


def test_a_finished_video_is_smoothed_along_its_track(tmp_path: Path) -> None:
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    buf = UnitBuffer(UnitSettings(warehouse=warehouse, max_videos=1, smooth_s=1.0), RUN)
    buf.start()
    probabilities = ([1.0, 0.0], [0.0, 1.0], [1.0, 0.0])
    for frame in (1, 2, 3):
        buf.add(Role.FACE_SENT, face("s", frame))
    buf.add(Role.ANALYSED, summary("s", 0, faces=3))
    for frame, p in zip((1, 2, 3), probabilities, strict=True):
        buf.add(Role.FACE, face_row(face("s", frame), p, LABELS, RUN))
    with connect(warehouse) as con:
        rows = con.execute(
            "select frame_index, label, smoothed_label from internal.face_rows order by 1"
        ).fetchall()
    # frames 100 ms apart, a 1 s window: each face sees all three (2 happy, 1 sad)
    assert rows == [(1, "happy", "happy"), (2, "sad", "happy"), (3, "happy", "happy")]


@pytest.mark.parametrize(
    ("margin", "labels"), [(0.0, ["happy", "sad", "sad"]), (0.2, ["happy", "happy", "sad"])]
)
def test_the_margin_holds_a_track_s_label_until_another_leads_by_it(
    tmp_path: Path, margin: float, labels: list[str]
) -> None:
    """No window (`smooth_s` 0): the margin alone; sad leads by 0.1 on frame 2 (held at
    0.2, whose score is then happy's), by 0.4 on frame 3 (taken)."""
    buf, warehouse = buffer(tmp_path, max_videos=1, smooth_s=0.0, smooth_margin=margin)
    probabilities = ([0.6, 0.4], [0.45, 0.55], [0.3, 0.7])
    for frame in (1, 2, 3):
        buf.add(Role.FACE_SENT, face("m", frame))
    buf.add(Role.ANALYSED, summary("m", 0, faces=3))
    for frame, p in zip((1, 2, 3), probabilities, strict=True):
        buf.add(Role.FACE, face_row(face("m", frame), p, LABELS, RUN))
    with connect(warehouse) as con:
        rows = con.execute(
            "select label, smoothed_label, smoothed_score, map_values(smoothed_scores) "
            "from internal.face_rows order by frame_index"
        ).fetchall()
    assert [r[0] for r in rows] == ["happy", "sad", "sad"]  # per-frame: the argmax
    assert [r[1] for r in rows] == labels
    for (_, label, score, scores), p in zip(rows, probabilities, strict=True):
        assert scores == pytest.approx(p)  # no window: the frame's own
        assert score == pytest.approx(p[LABELS.index(label)])


def test_a_video_missing_faces_at_the_end_of_its_bundle_fails_with_stage_commit(
    tmp_path: Path,
) -> None:
    """Its summary says 2 faces, one came back: no faces row of it is written, its row
    says failed at stage commit; faces of a video whose row never came are dropped."""
    buf, warehouse = buffer(tmp_path, max_videos=20, max_seconds=3600.0)
    buf.add(Role.ANALYSED, summary("a", 0, faces=2))
    buf.add(Role.FACE, face_row(face("a", 1), [0.9, 0.1], LABELS, RUN))
    buf.add(Role.FACE, face_row(face("lost", 1), [0.9, 0.1], LABELS, RUN))
    buf.finish()
    assert committed(warehouse) == [("a", "failed", 0)]
    with connect(warehouse) as con:
        errors = con.execute("select video_key, stage, error_class, message from errors").fetchall()
    assert errors == [
        ("a", "commit", "IncompleteVideo", errors[0][3]),
    ] and errors[0][3].startswith("1 of 2 faces reached the writer")


def _routes(p: beam.Pipeline, items: list[tuple[Role, object]], name: str) -> dict:
    """One Create per call: its elements reach the writer in bundles of their own."""
    tagged = (
        p
        | f"Create{name}" >> beam.Create(items)
        | f"Route{name}" >> beam.ParDo(_RouteFn()).with_outputs(*Role)
    )
    return {role: tagged[str(role)] for role in Role}


class _RouteFn(beam.DoFn):
    def process(self, item: tuple[Role, object]):  # type: ignore[no-untyped-def]
        role, element = item
        yield beam.pvalue.TaggedOutput(str(role), element)


def test_a_video_split_across_bundles_is_never_written_partly(tmp_path: Path) -> None:
    """A real Beam job whose writer gets video b whole in one bundle and video a's
    summary and faces in two: b is committed with its face, a fails with stage commit
    with none of its faces, and every input has one `videos` row."""
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    settings = UnitSettings(warehouse=warehouse, max_videos=20, max_seconds=3600.0)
    whole = [
        (Role.FACE_SENT, face("b", 1)),
        (Role.ANALYSED, summary("b", 1, faces=1)),
        (Role.FACE, face_row(face("b", 1), [0.2, 0.8], LABELS, RUN)),
        (Role.FACE_SENT, face("a", 1)),
        (Role.FACE_SENT, face("a", 2)),
        (Role.ANALYSED, summary("a", 0, faces=2)),
    ]
    apart = [(Role.FACE, face_row(face("a", f), [0.9, 0.1], LABELS, RUN)) for f in (1, 2)]
    with TestPipeline(runner="FnApiRunner") as p:
        first, second = _routes(p, whole, "Whole"), _routes(p, apart, "Apart")
        routes = {role: (first[role], second[role]) for role in Role}
        _ = routes | CommitUnits(settings, RUN)
    assert committed(warehouse) == [("a", "failed", 0), ("b", "ok", 1)]
    with connect(warehouse) as con:
        stages = con.execute("select video_key, stage from errors").fetchall()
        faces = con.execute(
            "select video_key, count(*) from internal.face_rows group by 1"
        ).fetchall()
    assert stages == [("a", "commit")] and faces == [("b", 1)]


def test_the_clock_commits_a_finished_video_while_nothing_else_arrives(tmp_path: Path) -> None:
    """The unit's age is checked by a clock, not only when the next video finishes (a
    bundle held by a slow download commits what is finished)."""
    import time

    buf, warehouse = buffer(tmp_path, max_videos=20, max_seconds=0.2)
    buf.add(Role.ANALYSED, summary("x", 0, faces=0))
    guard = time.monotonic() + 60  # only keeps a broken clock from hanging the test
    while not committed_units(warehouse, RUN.run_id) and time.monotonic() < guard:
        time.sleep(0.05)
    assert committed(warehouse) == [("x", "no_faces", 0)]
