"""Reports over a real warehouse (the analyze job's output), checked against direct SQL."""

from __future__ import annotations

import csv
import json
import os
import tempfile

import duckdb
import pytest

from affectflow.pipelines.cli import main
from affectflow.queries.render import format_table
from affectflow.queries.runner import connect, list_reports, run_report
from affectflow.schemas.printable import printable

pytestmark = pytest.mark.slow  # the tests read warehouses real pipelines write


def test_reports_are_listed() -> None:
    assert {"cohort_summary", "cohort_emotions"} <= set(list_reports())
    assert "views" not in list_reports()


def test_views_show_only_committed_runs_and_latest_rows(job) -> None:
    con = connect(str(job.warehouse))
    (runs,) = con.execute("select count(*) from runs").fetchall()[0]
    assert runs == 1
    statuses = dict(con.execute("select status, count(*) from videos group by 1").fetchall())
    assert statuses == {"ok": 2, "no_faces": 1, "failed": 5}
    valence = dict(con.execute("select label, valence from label_valence").fetchall())
    assert valence["happy"] == "positive" and valence["sad"] == "negative"


def test_cohort_emotions_match_a_direct_count(job) -> None:
    report = run_report(connect(str(job.warehouse)), "cohort_emotions", {"min_videos": 1})
    rows = {(r[0], r[1]): dict(zip(report.columns, r, strict=True)) for r in report.rows}
    direct = duckdb.execute(
        "select cohort, smoothed_label, count(*) from read_parquet($glob) group by 1, 2",
        {"glob": str(job.warehouse / "faces" / "**" / "*.parquet")},
    ).fetchall()
    assert {(c, label): n for c, label, n in direct} == {
        key: row["face_frames"] for key, row in rows.items()
    }
    for cohort in {c for c, _ in rows}:
        shares = [row["share_frames"] for (c, _), row in rows.items() if c == cohort]
        assert sum(shares) == pytest.approx(1.0, abs=1e-3)


def test_small_cells_are_masked(job) -> None:
    con = connect(str(job.warehouse))
    open_report = run_report(con, "cohort_summary", {"min_videos": 1})
    assert open_report.suppressed == 0
    masked = run_report(con, "cohort_summary", {"min_videos": 5})
    assert masked.suppressed == len(masked.rows) == 2
    negative = masked.columns.index("negative_share")
    assert all(row[negative] is None for row in masked.rows)
    assert "masked" in format_table(masked)


def test_report_command_prints_the_cohort_table(job, capsys) -> None:
    assert main(["report", "--warehouse", str(job.warehouse), "--min-videos", "1"]) == 0
    out = capsys.readouterr().out
    assert "cohort" in out and "negative_share" in out
    assert "\na " in out and "\nb " in out
    assert (
        main(
            [
                "report",
                "cohort_emotions",
                "--warehouse",
                str(job.warehouse),
                "--min-videos",
                "1",
                "--format",
                "json",
            ]
        )
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    assert {r["cohort"] for r in records} == {"a", "b"}


def test_unknown_report_and_missing_warehouse_are_clear_errors(job, tmp_path, capsys) -> None:
    assert main(["report", "nope", "--warehouse", str(job.warehouse)]) == 2
    assert "unknown report 'nope'" in capsys.readouterr().err
    assert main(["report", "--warehouse", str(tmp_path)]) == 2
    assert "no affectflow warehouse" in capsys.readouterr().err


def test_list_shows_every_report_with_its_question(capsys) -> None:
    assert main(["report", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if not line.startswith(" ")]
    assert [line.split(":", 1)[0] for line in lines] == list_reports()
    assert all(line.rstrip().endswith("?") for line in lines)
    params = [line.split() for line in out if line.startswith(" ")]
    n_boot = ["n_boot", "bootstrap", "replicates", "(default:", "1000,", "at", "most", "100,000)"]
    assert n_boot in params
    assert any(words[0] == "min_videos" and words[-1] == "5)" for words in params)


def test_parameters_are_checked_typed_and_bound(cohorts, capsys) -> None:
    argv = ["report", "negative_share", "--warehouse", str(cohorts.warehouse)]
    assert main([*argv, "--param", "cohort_a=control"]) == 2
    assert "takes no parameter cohort_a" in capsys.readouterr().err
    assert main([*argv, "--param", "seed=1; drop table x"]) == 2
    assert "seed takes an integer" in capsys.readouterr().err
    assert main([*argv, "--param", "n_boot=0"]) == 2
    assert "at least" in capsys.readouterr().err
    comparison = ["report", "cohort_comparison", "--warehouse", str(cohorts.warehouse)]
    assert main([*comparison, "--param", "cohort_a=x' or '1'='1"]) == 2
    assert "no cohort" in capsys.readouterr().err
    con = connect(str(cohorts.warehouse))
    report = run_report(con, "negative_share", {"seed": "7", "n_boot": "50", "min_videos": "1"})
    assert report.params["seed"] == 7 and report.params["model_id"] == "affectflow-minixception"


def test_csv_and_json_keep_the_suppressed_column_and_out_writes_a_file(
    cohorts, tmp_path, capsys
) -> None:
    argv = ["report", "paper_figure5", "--warehouse", str(cohorts.warehouse)]
    assert main([*argv, "--format", "csv", "--out", str(tmp_path / "f5.csv")]) == 0
    with (tmp_path / "f5.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["cohort"] for r in rows if r["suppressed"] == "True"} == {"control"}
    assert all(r["share_frames"] == "" for r in rows if r["suppressed"] == "True")
    capsys.readouterr()
    assert main([*argv, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["suppressed"] for r in records} == {True, False}
    assert main([*argv]) == 0
    assert "7 row(s) masked" in capsys.readouterr().out


def test_data_quality_counts_every_failed_row_of_the_job(job) -> None:
    report = run_report(connect(str(job.warehouse)), "data_quality", {"min_videos": 1})
    rows = {r["cohort"]: r for r in report.records()}
    direct = dict(job.query("select cohort, count(*) from errors group by 1"))
    assert {c: r["videos_failed"] for c, r in rows.items()} == direct == {"a": 1, "b": 4}
    assert {c: r["videos"] for c, r in rows.items()} == {"a": 3, "b": 5}


@pytest.mark.parametrize("name", list_reports())
def test_the_terminal_table_of_every_report_fits_100_columns(cohorts, name) -> None:
    """Key columns and those that fit by default (a line names the rest); `--wide`: every
    column, one row per block; both within 100 columns."""
    con = connect(str(cohorts.warehouse))
    report = run_report(con, name, {"min_videos": 1})
    narrow = format_table(report)
    assert max(len(line) for line in narrow.splitlines()) <= 100, name
    header = narrow.splitlines()[0].split()
    assert set(report.keys) <= set(header), name
    if len(header) < len(report.columns):
        assert "--wide shows every column" in narrow
    wide = format_table(report, wide=True)
    assert max(len(line) for line in wide.splitlines()) <= 100
    for column in report.columns:
        assert f"\n{column} " in wide, column


def test_parquet_reports_keep_types_and_every_digit(cohorts, tmp_path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "negative_share.parquet"
    argv = ["report", "negative_share", "--warehouse", str(cohorts.warehouse), "--min-videos"]
    assert main([*argv, "5", "--format", "parquet", "--out", str(out)]) == 0
    table = pq.read_table(out)
    con = connect(str(cohorts.warehouse))
    report = run_report(con, "negative_share", {"min_videos": 5})
    assert table.column_names == report.columns and table.num_rows == len(report.rows)
    assert str(table.schema.field("videos").type) == "int64"
    assert str(table.schema.field("negative_share").type) == "double"
    assert table.to_pylist() == report.records()
    with pytest.raises(SystemExit) as stop:  # bytes need --out
        main([*argv, "5", "--format", "parquet"])
    assert stop.value.code == 2


@pytest.mark.parametrize("param", ["n_boot=1000000000", "n_perm=100001"])
def test_resampling_parameters_have_an_upper_bound(job, capsys, param: str) -> None:
    """A billion replicates grew to 8.7 GB: refused at once, exit 2, with the bound."""
    argv = ["report", "cohort_comparison", "--warehouse", str(job.warehouse), "--param", param]
    assert main(argv) == 2
    assert f"{param.split('=')[0]} must be at most 100,000" in capsys.readouterr().err
    assert main(["report", "--list"]) == 0
    assert "(default: 1000, at most 100,000)" in capsys.readouterr().out


def test_a_report_connection_has_bounded_memory_and_spills_privately(job) -> None:
    con = connect(str(job.warehouse))
    limit, spill = con.execute(
        "select current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert limit.endswith("MiB") and float(limit.split()[0]) <= 1024
    assert spill.startswith(tempfile.gettempdir()) and os.stat(spill).st_mode & 0o077 == 0


def test_a_cohort_not_found_lists_the_cohorts_on_one_bounded_escaped_line() -> None:
    """The cohorts a message lists come from the data: a newline, a tab or 100,000
    characters of one must not reach the terminal as such (nor 1,000 cohorts)."""
    con = duckdb.connect()
    con.execute("create table runs (model_id varchar, analysis_id varchar, run_id varchar)")
    hostile = ["nl\nhere", "tab\there", "\x1b[2J", "c" * 100_000]
    cohorts = [*hostile, *(f"z{i:04d}" for i in range(1000))]
    con.execute("create table videos as select unnest($c) as cohort", {"c": cohorts})
    with pytest.raises(ValueError) as error:
        run_report(con, "cohort_comparison", {"cohort_a": "nosuch"})
    message = str(error.value)
    cut = "'" + "c" * 39 + "\u2026'"
    listed = f"('\\x1b[2J', {cut}, 'nl\\nhere', 'tab\\there', 'z0000', "
    assert message.startswith(f"cohort_a: no cohort 'nosuch' in the warehouse {listed}")
    assert message.endswith(" and 984 more)") and len(message) < 1000
    assert printable(message) == message  # nothing left to escape
