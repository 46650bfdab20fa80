"""The table schemas: the columns the SQL relies on, and what `schemas/` may import.

The views are run for real (DuckDB) over Parquet files written with these schemas from
the row functions, so a renamed or dropped column fails here, not in an analyst's report.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectflow.models.class_sets import with_ambiguous
from affectflow.schemas.records import (
    ErrorRecord,
    FaceBox,
    FaceCrop,
    RunInfo,
    Stage,
    VideoFile,
    VideoRequest,
    VideoStatus,
    VideoSummary,
)
from affectflow.schemas.rows import (
    error_row,
    face_row,
    failed_video_row,
    summary_video_row,
    with_smoothed,
)
from affectflow.schemas.tables import RUNS, SCHEMAS, TABLE_NAMES
from affectflow.warehouse.sql import setup_sql
from affectflow.warehouse.units import ensure_unit_files

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

# The columns the SQL joins, filters and partitions on (queries/views.sql,
# warehouse/committed.sql, warehouse/commit.py, warehouse/partitions.py).
REQUIRED = {
    "videos": {
        "run_id", "video_key", "url", "cohort", "status", "model_id", "analysis_id",
        "duration_s", "upload_date",
    },
    "faces": {"run_id", "video_key", "cohort", "model_id", "label", "track_id"},
    "errors": {"run_id", "video_key", "cohort", "stage", "input", "retryable"},
    "runs": {"run_id", "model_id", "valence", "analysis_id"},
}  # fmt: skip


def sql_text(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text("utf-8")


VIEWS_SQL = sql_text("affectflow.queries", "views.sql")
COMMITTED_SQL = sql_text("affectflow.warehouse", "committed.sql")


def test_table_names_and_schemas_agree() -> None:
    assert tuple(SCHEMAS) == TABLE_NAMES == ("videos", "faces", "errors", "runs")
    for schema in SCHEMAS.values():
        assert len(set(schema.names)) == len(schema.names)  # no column twice


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_table_has_the_columns_the_sql_relies_on(table: str) -> None:
    assert REQUIRED[table] <= set(SCHEMAS[table].names)


@pytest.mark.parametrize("table", ["videos", "faces", "errors"])
def test_partitioned_tables_carry_their_cohort(table: str) -> None:
    """Files are split into cohort=<name>/ folders and read with hive_partitioning off."""
    assert SCHEMAS[table].field("cohort").type == pa.string()
    assert SCHEMAS[table].field("video_key").type == pa.string()


def test_the_runs_row_takes_every_run_info_field() -> None:
    """analyze writes `dataclasses.asdict(run_info)` into the runs row."""
    names = {field.name for field in dataclasses.fields(RunInfo)}
    assert names <= set(RUNS.names)
    assert RUNS.field("valence").type == pa.map_(pa.string(), pa.string())


def test_status_literals_in_the_sql_are_video_statuses() -> None:
    literals = set()
    for sql in (VIEWS_SQL, COMMITTED_SQL):
        for match in re.finditer(r"status\s*(?:=|<>|!=)\s*'(\w+)'", sql):
            literals.add(match.group(1))
        for match in re.finditer(r"status\s+in\s*\(([^)]*)\)", sql):
            literals.update(re.findall(r"'(\w+)'", match.group(1)))
    assert {"ok", "no_faces", "skipped"} <= literals
    assert literals <= {str(status) for status in VideoStatus}


# ---------------------------------------------------------------- the views, for real

RUN = RunInfo("20250102T030405Z-r", "m1", "f" * 64, "a1")
KILLED = RunInfo("20250103T000000Z-k", "m1", "f" * 64, "a1")  # rows, but no runs row
LABELS = ("angry", "happy", "neutral", "surprise")
VALENCE = {"angry": "negative", "happy": "positive", "neutral": "neutral", "surprise": "negative"}


def request(key: str, row: int) -> VideoRequest:
    return VideoRequest(key, f"https://example.org/{key}.mp4", "a", row)


def write(folder: Path, rows: list[dict], schema: pa.Schema) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{len(rows)}.parquet")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny warehouse written from the row functions: one committed run, one killed."""
    root = tmp_path_factory.mktemp("warehouse")
    video = VideoFile(request("v1", 0), "/v1.mp4", 10.0, 25.0, 64, 64, upload_date="20210301")
    summary = VideoSummary(video, 20, 3, 2, 10.0, 1.0)
    face = FaceCrop("v1", "a", 0, 0, 0, FaceBox(0, 0, 8, 8), crop=None)
    faces = [
        face_row(face, [0.6, 0.2, 0.1, 0.1], LABELS, RUN),
        with_smoothed(  # happy on its own, angry smoothed: the views count the smoothed label
            face_row(dataclasses.replace(face, frame_index=1), [0.1, 0.7, 0.1, 0.1], LABELS, RUN),
            [0.5, 0.3, 0.1, 0.1],
        ),
        face_row(dataclasses.replace(face, frame_index=2), [0.1, 0, 0.1, 0.8], LABELS, RUN),
        face_row(dataclasses.replace(face, frame_index=3, track_id=1), [0, 1, 0, 0], LABELS, RUN),
    ]
    error = ErrorRecord.for_request(request("v2", 1), Stage.DOWNLOAD, "HTTP Error 404")
    write(root / "videos" / "cohort=a", [summary_video_row(summary, RUN)], SCHEMAS["videos"])
    write(
        root / "videos" / "cohort=b",
        [
            failed_video_row(error, RUN),
            failed_video_row(error, KILLED),
            summary_video_row(summary, KILLED),
        ],
        SCHEMAS["videos"],
    )
    write(root / "faces" / "cohort=a", faces, SCHEMAS["faces"])
    killed_face = face_row(face, [0, 1, 0, 0], LABELS, KILLED)
    write(root / "faces" / "killed", [killed_face], SCHEMAS["faces"])
    write(root / "errors", [error_row(error, RUN), error_row(error, KILLED)], SCHEMAS["errors"])
    runs_row = {
        **dataclasses.asdict(RUN),
        "valence": VALENCE,
        "valence_ambiguous": with_ambiguous(VALENCE),
        "videos_total": 2,
    }
    (root / "runs").mkdir()
    pq.write_table(pa.Table.from_pylist([runs_row], schema=RUNS), root / "runs" / "run-r.parquet")
    return root


def committed(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A fresh connection with the file relations and `committed.sql` set up, as `connect`
    does for a local warehouse."""
    con = duckdb.connect()
    ensure_unit_files(str(warehouse))
    con.execute(setup_sql(str(warehouse)))
    return con


def test_committed_views_run_over_the_schemas(warehouse: Path) -> None:
    con = committed(warehouse)
    assert con.execute("select run_id, analysis_id from runs").fetchall() == [(RUN.run_id, "a1")]
    assert con.execute(
        "select video_key, status from internal.video_rows order by all"
    ).fetchall() == [
        ("v1", "ok"),
        ("v2", "failed"),
    ]
    assert con.execute("select count(*) from internal.face_rows").fetchone() == (4,)
    assert con.execute("select video_key, stage, retryable from errors").fetchall() == [
        ("v2", "download", False)
    ]


def test_report_views_run_over_the_schemas(warehouse: Path) -> None:
    con = committed(warehouse)
    con.execute(VIEWS_SQL)  # builds on the committed views
    assert con.execute("select * from label_valence order by label").fetchall() == [
        ("a1", "m1", "angry", "negative", "negative"),
        ("a1", "m1", "happy", "positive", "positive"),
        ("a1", "m1", "neutral", "neutral", "neutral"),
        ("a1", "m1", "surprise", "negative", "ambiguous"),
    ]
    assert con.execute("select video_key, status, cohort from videos order by all").fetchall() == [
        ("v1", "ok", "a"),
        ("v2", "failed", "a"),
    ]
    assert con.execute(
        "select frame_index, analysis_id, label, valence, smoothed_label, smoothed_valence, "
        "smoothed_valence_ambiguous, round(p_negative, 4), round(p_negative_excl_surprise, 4) "
        "from faces order by frame_index"
    ).fetchall() == [
        (0, "a1", "angry", "negative", "angry", "negative", "negative", 0.7, 0.6),
        (1, "a1", "happy", "positive", "angry", "negative", "negative", 0.6, 0.5),
        (2, "a1", "surprise", "negative", "surprise", "negative", "ambiguous", 0.9, 0.1),
        (3, "a1", "happy", "positive", "happy", "positive", "positive", 0.0, 0.0),
    ]
    assert con.execute(
        "select track_id, face_frames, label, negative_share, negative_share_excl_surprise "
        "from persons order by track_id"
    ).fetchall() == [(0, 3, "angry", 1.0, pytest.approx(2 / 3)), (1, 1, "happy", 0.0, 0.0)]
    assert con.execute(
        "select video_key, analysis_id, upload_date, face_frames, negative_frames, "
        "negative_frames_excl_surprise, ambiguous_frames, persons from video_affect"
    ).fetchall() == [("v1", "a1", "20210301", 4, 3, 2, 1, 2)]
    assert con.execute(
        "select cohort, video_key, face_frames, negative_frames, negative_frames_excl_surprise, "
        "round(p_negative_sum, 4), round(p_negative_excl_surprise_sum, 4) "
        "from videos_with_faces('m1', 'a1')"
    ).fetchall() == [("a", "v1", 4, 3, 2, 2.2, 1.2)]
    assert con.execute("select * from videos_with_faces('m1', 'other')").fetchall() == []
    shares = con.execute(
        "select cohort, share, share_excl_surprise, p_share "
        "from bootstrap_shares('m1', 'a1', 3, 42)"
    ).fetchall()
    assert len(shares) == 3 and {c for c, *_ in shares} == {"a"}
    assert all(row[1:] == (0.75, 0.5, pytest.approx(0.55)) for row in shares)
    assert con.execute("select count(*) from errors").fetchone() == (1,)


# ---------------------------------------------------------------- what schemas/ imports


def imported_modules(path: Path) -> set[tuple[str, int]]:
    """(module, relative level) of every import in a file, nested ones included."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "", node.level))
    return found


def test_schemas_import_only_the_standard_library_and_pyarrow() -> None:
    files = sorted(SCHEMAS_DIR.glob("*.py"))
    assert {f.name for f in files} >= {"records.py", "rows.py", "settings.py", "tables.py"}
    allowed = set(sys.stdlib_module_names) | {"__future__", "pyarrow"}
    outside = {}
    for path in files:
        for module, level in imported_modules(path):
            top = module.split(".")[0]
            inside = (
                level > 0
                or module == "affectflow.schemas"
                or module.startswith("affectflow.schemas.")
            )
            if not inside and top not in allowed:
                outside.setdefault(path.name, set()).add(module)
    assert outside == {}
    assert ("pyarrow", 0) in imported_modules(SCHEMAS_DIR / "tables.py")  # the check sees imports
