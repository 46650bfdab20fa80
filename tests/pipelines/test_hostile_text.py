"""Values from a list reach terminals and spreadsheets inert.

One real analyze run over a list whose cohort starts with `=` and holds ESC and U+202E,
whose note holds an OSC title sequence, a bell and `\\r`, and whose second row's URL holds
a raw ESC. The URL row is refused at ingest (one failed row, stage ingest); the summary,
`report --format table` and `sql` print every value escaped; `--format csv` quotes the
cells a spreadsheet would run, unless `--raw-csv`, and leaves numbers alone.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import stat
from pathlib import Path

import duckdb
import pytest

from affectflow.pipelines.cli import main
from affectflow.pipelines.logs import PrintableFormatter, setup_logging
from affectflow.pipelines.progress import Progress

COHORT = '=HYPERLINK("http://evil")\x1b[2J\u202e'
NOTE = "\x1b]0;owned\x07\rfake line"
INJECTED = ("\x1b[2J", "\x1b]0;", "\x07", "\u202e", "\rfake")


def _clean(text: str) -> None:
    for sequence in INJECTED:
        assert sequence not in text, (sequence, text)


@dataclasses.dataclass(frozen=True)
class Hostile:
    warehouse: Path
    stdout: str


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, session_http_server, model_cache_dir, fer_weights) -> Hostile:
    folder = tmp_path_factory.mktemp("hostile-text")
    missing = session_http_server.url("hostile/missing.mp4")
    with (folder / "videos.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "cohort", "note"])
        writer.writerow([missing, COHORT, NOTE])
        writer.writerow([session_http_server.url("hostile/a\x1b[2J.mp4"), "b", "escape in url"])
    warehouse = folder / "out"
    capture = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", capture)
        code = main(
            [
                "analyze", str(folder / "videos.csv"),
                "--warehouse", str(warehouse),
                "--cache-dir", str(model_cache_dir),
                "--retries", "0",
                "--socket-timeout", "5",
            ]
        )  # fmt: skip
    assert code == 0
    return Hostile(warehouse, capture.getvalue())


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_url_with_control_characters_is_refused_at_ingest(hostile: Hostile) -> None:
    con = duckdb.connect()
    glob = str(hostile.warehouse / "{}" / "**" / "*.parquet")
    videos = con.execute(
        f"select status, cohort from read_parquet('{glob.format('videos')}') order by cohort"
    ).fetchall()
    errors = con.execute(
        f"select stage, message from read_parquet('{glob.format('errors')}') where cohort = 'b'"
    ).fetchall()
    assert videos == [("failed", COHORT), ("failed", "b")]  # one row per input
    ((stage, message),) = errors
    assert stage == "ingest" and "holds control, bidi or other invisible characters" in message
    assert "a\\x1b[2J.mp4" in message
    _clean(message)


def test_the_summary_and_the_reports_print_values_escaped(hostile: Hostile, capsys) -> None:
    _clean(hostile.stdout)
    assert "1 failed" not in hostile.stdout and "2 failed" in hostile.stdout
    code, out, err = _run(
        capsys, "report", "errors", "--warehouse", str(hostile.warehouse), "--min-videos", "1"
    )
    assert code == 0, err
    _clean(out)
    # escaped, then cut to the terminal table's 36 characters (`queries.render.MAX_CELL`)
    assert '=HYPERLINK("http://evil")\\x1b[2J' in out
    code, out, _ = _run(
        capsys, "report", "errors", "--warehouse", str(hostile.warehouse),
        "--param", f"cohort_a={COHORT}",
    )  # fmt: skip
    _clean(out)  # an error quoting the parameter (errors takes no cohort_a): escaped too


def test_sql_prints_values_escaped(hostile: Hostile, capsys) -> None:
    sql = "select cohort, attributes['note'] as note from videos where cohort <> 'b'"
    code, out, err = _run(capsys, "sql", "--warehouse", str(hostile.warehouse), "-c", sql)
    assert code == 0, err
    _clean(out)
    assert "\\x1b]0;owned\\x07\\x0dfake line" in out
    code, _, err = _run(
        capsys, "sql", "--warehouse", str(hostile.warehouse), "-c", "select '\x1b[2J' +"
    )
    assert code == 2
    _clean(err)


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(hostile: Hostile, capsys) -> None:
    args = ("report", "errors", "--warehouse", str(hostile.warehouse), "--min-videos", "1")
    code, out, _ = _run(capsys, *args, "--format", "csv")
    cohorts = {row["cohort"] for row in csv.DictReader(io.StringIO(out))}
    assert code == 0 and "'" + COHORT in cohorts
    code, out, _ = _run(capsys, *args, "--format", "csv", "--raw-csv")
    assert COHORT in {row["cohort"] for row in csv.DictReader(io.StringIO(out))}
    sql = "select -1.5 as number, '-1' as text, '@x' as at, 'a-b' as plain"
    code, out, _ = _run(
        capsys, "sql", "--warehouse", str(hostile.warehouse), "--format", "csv", "-c", sql
    )
    assert out.splitlines() == ["number,text,at,plain", "-1.5,'-1,'@x,a-b"]


def _append(journal: Path, **record: object) -> None:
    with journal.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def test_progress_lines_print_values_escaped(tmp_path: Path, capsys) -> None:
    setup_logging(verbose=False, progress=True)  # as the CLI does, on this stderr
    journal = tmp_path / "progress-1.jsonl"
    with Progress(1, journal=str(journal), warehouse=str(tmp_path), run_id="r"):
        _append(journal, status="failed", name=f"x{NOTE}.mp4", error=f"download: {COHORT}")
    err = capsys.readouterr().err
    _clean(err)
    assert "[affectflow] 1/1 failed x\\x1b]0;owned\\x07\\x0dfake line.mp4" in err


def test_log_lines_are_printable_and_keep_a_traceback_s_lines() -> None:
    record = logging.LogRecord("affectflow.x", logging.WARNING, "f", 1, "got %s", (NOTE,), None)
    try:
        raise ValueError(COHORT)
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    _clean(line)
    assert line.startswith("WARNING affectflow.x: got \\x1b]0;owned") and "\nTraceback" in line


@pytest.fixture
def umask_022():
    """A permissive umask, as a user's shell has (analyze sets 077 in this process)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


REFUSED = [
    ("copy (select 1 as a) to '{tmp}/out.csv'", "COPY is refused"),
    ("copy (select 1 as a) to '{warehouse}/videos/x.parquet'", "COPY is refused"),
    ("export database '{tmp}/dump'", "EXPORT is refused"),
    ("attach '{tmp}/other.db' as other", "ATTACH is refused"),
    ("install httpfs", "LOAD is refused"),
    ("select 1; copy (select 1) to '{tmp}/second.csv'", "COPY is refused"),
    ("select * from read_csv('/etc/passwd')", "Permission Error"),
    ("select * from read_text('{warehouse}/../videos.csv')", "Permission Error"),
    ("set enable_external_access = true", "configuration has been locked"),
    ("set allowed_directories = ['/']", "configuration has been locked"),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_sql_is_read_only_and_reads_the_warehouse_only(
    hostile: Hostile, tmp_path: Path, capsys, sql: str, message: str
) -> None:
    statement = sql.format(tmp=tmp_path, warehouse=hostile.warehouse)
    code, _, err = _run(capsys, "sql", "--warehouse", str(hostile.warehouse), "-c", statement)
    assert code == 2 and message in err, err
    assert list(tmp_path.iterdir()) == []
    assert not (hostile.warehouse / "videos" / "x.parquet").exists()


def test_sql_reads_the_views_and_writes_only_when_writable(
    hostile: Hostile, tmp_path: Path, capsys, umask_022
) -> None:
    warehouse = str(hostile.warehouse)
    sql = "create temp table t as select status from latest_videos; select count(*) from t"
    code, out, err = _run(capsys, "sql", "--warehouse", warehouse, "--format", "csv", "-c", sql)
    assert code == 0 and out.splitlines()[1] == "2", err
    copy = f"copy (select status from videos) to '{tmp_path}/out.csv'"
    code, _, err = _run(capsys, "sql", "--warehouse", warehouse, "--writable", "-c", copy)
    assert code == 0, err
    assert (tmp_path / "out.csv").read_text().splitlines() == ["status", "failed", "failed"]
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o600
    with pytest.raises(SystemExit):
        main(["sql", "--help"])
    assert "Read-only unless --writable" in " ".join(capsys.readouterr().out.split())


def test_report_files_are_owner_only(hostile: Hostile, tmp_path: Path, capsys, umask_022) -> None:
    out = tmp_path / "new" / "errors.csv"
    code, _, err = _run(
        capsys, "report", "errors", "--warehouse", str(hostile.warehouse),
        "--min-videos", "1", "--format", "csv", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
