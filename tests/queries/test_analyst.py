"""The analyst's side over a real warehouse: `affectflow sql`, the Python API, the errors
report, report files (CSV line ends, unrounded numbers, umask) and video names."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat

import duckdb
import pytest

import affectflow
from affectflow.models.registry import get_model_spec
from affectflow.pipelines.cli import main
from affectflow.pipelines.option_types import OptionError
from affectflow.pipelines.validation_results import validation_row
from affectflow.pipelines.validation_set import LabelledItem
from affectflow.queries.html import emotion_colour
from affectflow.queries.runner import Report, connect, run_report
from affectflow.warehouse.validations import write_validation

pytestmark = pytest.mark.slow  # the tests read warehouses real pipelines write


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def test_sql_runs_a_command_with_the_views_loaded(job, capsys) -> None:
    sql = "select count(*) as n from latest_videos"
    assert main(["sql", "--warehouse", str(job.warehouse), "-c", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", str(len(job.urls))]  # one per input


def test_print_setup_loads_the_same_views_in_a_plain_duckdb(job, capsys, tmp_path) -> None:
    assert main(["sql", "--warehouse", str(job.warehouse), "--print-setup"]) == 0
    setup = capsys.readouterr().out
    assert (
        "set variable videos_glob" in setup and "create or replace temp view latest_videos" in setup
    )
    con = duckdb.connect()
    con.execute(setup)
    ours = connect(str(job.warehouse))
    for view in ("latest_videos", "videos", "faces", "errors", "runs", "video_affect"):
        assert _count(con, f"select count(*) from {view}") == _count(
            ours, f"select count(*) from {view}"
        )
    model, analysis = con.execute("select model_id, analysis_id from runs limit 1").fetchone()
    assert _count(con, f"select count(*) from bootstrap_shares('{model}', '{analysis}', 3, 1)") > 0
    assert main(["sql", "--warehouse", str(tmp_path), "--print-setup"]) == 2
    assert "no affectflow warehouse" in capsys.readouterr().err


def test_print_setup_loads_the_validations_as_affectflow_sql_does(job, capsys, tmp_path) -> None:
    warehouse = str(tmp_path / "out")
    shutil.copytree(job.warehouse, warehouse)

    def both() -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
        """A plain DuckDB that ran the printed setup, and `affectflow sql`'s connection."""
        assert main(["sql", "--warehouse", warehouse, "--print-setup"]) == 0
        plain = duckdb.connect()
        plain.execute(capsys.readouterr().out)
        return plain, connect(warehouse)

    def described(con: duckdb.DuckDBPyConnection) -> list[tuple]:
        return [row[:2] for row in con.execute("describe validations").fetchall()]

    plain, ours = both()  # no validation yet: the same empty, typed view
    assert described(plain) == described(ours) and len(described(ours)) > 20
    assert _count(plain, "select count(*) from validations") == 0
    spec = get_model_spec("fer-minixception")
    run = {"analysis_id": "abc", "model_id": spec.name, "weights_sha256": "00"}
    for seed, labels in enumerate([("happy", "sad"), ("neutral", "happy")]):
        items = [
            LabelledItem(f"/x/{n}.jpg", f"k{n}", label, f"s{n}") for n, label in enumerate(labels)
        ]
        row = validation_row(name=f"set{seed}", fingerprint="f" * 64, items=items,
                             predicted=[labels[0], None], spec=spec, run=run, n_boot=20,
                             seed=seed)  # fmt: skip
        write_validation(warehouse, row)
    plain, ours = both()
    assert described(plain) == described(ours)
    query = "select * from validations order by name"
    rows = plain.execute(query).fetchall()
    assert [row[1] for row in rows] == ["set0", "set1"]
    assert rows == ours.execute(query).fetchall()


def test_the_builtin_shell_reads_statements_until_end_of_input(job, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("select 41 +\n 1 as answer;\nselect nope;\n"))
    assert main(["sql", "--warehouse", str(job.warehouse)]) == 0
    captured = capsys.readouterr()
    assert "answer" in captured.out and "42" in captured.out
    assert "error:" in captured.err and "nope" in captured.err  # a bad statement: no exit


def test_latest_videos_has_one_row_per_input_named_by_its_note(job) -> None:
    con = affectflow.open(str(job.warehouse))
    rows = con.execute("select video_name, status, url from latest_videos").fetchall()
    assert len(rows) == len(job.urls) and "skipped" not in {status for _, status, _ in rows}
    named = {name for name, status, _ in rows}
    assert named and all(name.startswith("row ") for name in named)  # the list's note, failed too


def test_report_returns_a_dataframe_with_its_notes_or_the_report(job) -> None:
    frame = affectflow.report("data_quality", warehouse=str(job.warehouse), min_videos=100)
    assert list(frame.columns)[:3] == ["cohort", "suppressed", "videos"]
    assert frame["suppressed"].all() and "small-cell suppression" in frame.attrs["notes"][0]
    report = affectflow.report("data_quality", str(job.warehouse), min_videos=1, as_report=True)
    assert isinstance(report, Report) and report.to_pandas().shape == (
        len(report.rows),
        len(report.columns),
    )
    with pytest.raises(ValueError, match="takes no parameter n_boot"):
        affectflow.report("data_quality", warehouse=str(job.warehouse), n_boot=3)


@pytest.mark.parametrize("name", ["cohort_summary", "data_quality", "negative_share"])
def test_a_masked_report_keeps_its_numeric_dtypes(job, name) -> None:
    """Masked cells are typed nulls (NaN, pd.NA): the dtypes are the unmasked report's and
    `df.mean()` works on both."""
    params = {"n_boot": 20} if name == "negative_share" else {}
    masked = affectflow.report(name, str(job.warehouse), min_videos=100, **params)
    opened = affectflow.report(name, str(job.warehouse), min_videos=1, **params)
    assert masked["suppressed"].all() and not opened["suppressed"].any()
    assert masked.dtypes.to_dict() == opened.dtypes.to_dict()
    numeric = masked.select_dtypes("number").columns
    assert "videos_ok" in numeric or "videos" in numeric
    assert not [c for c in masked.columns if masked[c].dtype == object]
    assert masked[numeric].mean().isna().all()
    assert opened[numeric].mean().notna().any()
    for column in numeric:
        assert str(masked[column].dtype) in ("Int64", "float64"), column


def test_analyze_runs_the_job_and_returns_its_summary(job, tmp_path, model_cache_dir) -> None:
    warehouse = tmp_path / "out"
    shutil.copytree(job.warehouse, warehouse)
    with pytest.raises(OptionError, match="did you mean 'socket_timeout'"):
        affectflow.analyze(job.video_list, warehouse=warehouse, socket_timout=5)
    summary = affectflow.analyze(
        job.video_list, warehouse=warehouse, cache_dir=str(model_cache_dir),
        allow_local=True, retries=0, socket_timeout=5,
    )  # fmt: skip
    assert summary.videos_skipped == job.summary.videos_ok + job.summary.videos_no_faces
    assert summary.videos_failed == job.summary.videos_failed
    texts = [text for text, _ in summary.top_errors]
    assert any(t.startswith("ingest: unsupported URL scheme 'foo'") for t in texts)
    assert any(t.startswith("download: ") for t in texts)
    assert sum(n for _, n in summary.top_errors) <= summary.videos_failed
    assert summary.error_lines()[0].startswith("top errors")


def test_errors_report_groups_by_stage_and_cohort(job) -> None:
    con = connect(str(job.warehouse))
    rows = run_report(con, "errors", {"min_videos": 1}).records()
    assert {row["stage"] for row in rows} >= {"ingest", "download"}
    total = _count(con, "select count(*) from errors")
    assert sum(row["errors"] for row in rows) == total
    scheme = [row for row in rows if "unsupported URL scheme" in row["message"]]
    assert scheme and scheme[0]["cohort"] == "b" and scheme[0]["still_failing"] == 1
    masked = run_report(con, "errors", {"min_videos": 2})
    assert masked.suppressed and all(
        r["message"] is None for r in masked.records() if r["suppressed"]
    )


def test_report_files_csv_lines_numbers_and_umask(job, tmp_path, capsys) -> None:
    argv = ["report", "data_quality", "--warehouse", str(job.warehouse), "--min-videos", "1"]
    old = os.umask(0o027)
    try:
        assert main([*argv, "--format", "csv", "--out", str(tmp_path / "dq.csv")]) == 0
    finally:
        os.umask(old)
    path = tmp_path / "dq.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only whatever the umask
    assert b"\r\n" not in path.read_bytes()
    assert main([*argv, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for row in rows:  # shares are exact fractions, not rounded to 4 digits
        assert row["failed_share"] == row["videos_failed"] / row["videos"]


def test_one_emotion_palette_whatever_the_class_set_calls_a_label() -> None:
    assert emotion_colour("neutral") == "#9e9e9e"
    assert emotion_colour("angry") == emotion_colour("anger") == "#d62728"
    assert emotion_colour("sad") == emotion_colour("Sadness") == "#1f77b4"
    assert emotion_colour("happy") == emotion_colour("happiness")
    assert emotion_colour("boredom") == emotion_colour("boredom")  # stable for others


def test_show_tables_lists_what_analysts_query_and_every_result_is_printed(job, capsys) -> None:
    argv = ["sql", "--warehouse", str(job.warehouse), "--format", "csv"]
    assert main([*argv, "-c", "show tables"]) == 0
    tables = set(capsys.readouterr().out.split()[1:])
    assert {"videos", "latest_videos", "faces", "errors", "runs", "persons"} <= tables
    assert not tables & {"video_rows", "face_rows", "units"}  # internal: `internal.*`
    assert main([*argv, "-c", "select 1 as a; create temp table t as select 2 as b; from t"]) == 0
    assert capsys.readouterr().out.split() == ["a", "1", "b", "2"]
