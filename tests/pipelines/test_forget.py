"""`affectflow forget`: a video's rows leave every table, its cache files go, the rest stays."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest

from affectflow.pipelines.analyze import run
from affectflow.pipelines.forget import key_of, main, recorded_cache_dirs, video_cache_dir
from affectflow.sources.cached_videos import cached_files

pytestmark = pytest.mark.slow  # whole jobs


def _counts(warehouse: Path, key: str) -> dict[str, tuple[int, int]]:
    """(rows of key, rows of other keys) per table."""
    con = duckdb.connect()
    out = {}
    for table in ("videos", "faces", "errors"):
        glob = str(warehouse / table / "**" / "*.parquet")
        out[table] = con.execute(
            "select count(*) filter (video_key = $k),"
            " count(*) filter (video_key is distinct from $k)"
            f" from read_parquet('{glob}', union_by_name = true)",
            {"k": key},
        ).fetchone()
    return out


def test_forget_removes_rows_and_cache_files(job, tmp_path: Path, videos_dir: Path, capsys) -> None:
    warehouse = tmp_path / "out"
    shutil.copytree(job.warehouse, warehouse)
    ((key,),) = job.query("select video_key from videos where url = $u", u=job.urls["single"])
    ((failed_key,),) = job.query(
        "select video_key from videos where url = $u", u=job.urls["garbage"]
    )
    before = _counts(warehouse, key)
    assert before["videos"][0] == 1 and before["faces"][0] > 0
    cache = video_cache_dir(str(tmp_path / "cache"))
    cache.mkdir(parents=True)
    for name in (f"{key}.mp4", f"{key}.json", "url-0123456789abcdef.mp4"):
        shutil.copyfile(videos_dir / "pyfeat_single_face.mp4", cache / name)

    args = [key, "--warehouse", str(warehouse), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    assert "deleted 2 cached file(s)" in capsys.readouterr().out
    after = _counts(warehouse, key)
    assert {t: n for t, (n, _) in after.items()} == {"videos": 0, "faces": 0, "errors": 0}
    assert {t: rest for t, (_, rest) in after.items()} == {t: r for t, (_, r) in before.items()}
    assert sorted(p.name for p in cache.iterdir()) == ["url-0123456789abcdef.mp4"]
    assert not [p for p in warehouse.rglob("*") if ".tmp-" in p.name]

    # A failed video's errors row goes too; forgetting twice is harmless.
    assert _counts(warehouse, failed_key)["errors"][0] == 1
    assert main([failed_key, "--warehouse", str(warehouse), "--cache-dir", str(tmp_path)]) == 0
    assert _counts(warehouse, failed_key)["errors"][0] == 0
    assert main(args) == 0
    assert (warehouse / "_forgotten" / "keys.txt").read_text().split() == sorted([key, failed_key])

    # A forgotten video stays out of later runs: no row names it again.
    rerun = [*job.args[:2], str(warehouse), *job.args[3:]]
    run(rerun)
    assert {t: n for t, (n, _) in _counts(warehouse, key).items()} == {
        "videos": 0,
        "faces": 0,
        "errors": 0,
    }


def test_forget_refuses_what_is_not_a_video_key(tmp_path: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    code = main(["../../etc/passwd", "--warehouse", str(tmp_path / "out")])
    assert code == 2 and "is not a video key" in capsys.readouterr().err
    assert main(["url-00", "--warehouse", str(tmp_path / "nowhere")]) == 2


def test_a_video_is_named_by_its_key_its_url_or_its_youtube_id() -> None:
    watch = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert key_of(watch) == key_of("dQw4w9WgXcQ") == key_of("youtube-dQw4w9WgXcQ")
    assert key_of("https://Example.org/a.mp4#t=1") == key_of("https://example.org/a.mp4")
    assert key_of("../../etc/passwd") is None


def _rows_naming(warehouse: Path, *names: str) -> list[tuple]:
    """Every row of every table file (committed or not) with one of `names` in any column."""
    con = duckdb.connect()
    found = []
    for table in ("videos", "faces", "errors"):
        glob = str(warehouse / table / "**" / "*.parquet")
        rows = con.execute(f"select * from read_parquet('{glob}', union_by_name = true)")
        found += [row for row in rows.fetchall() if any(n in str(row) for n in names)]
    return found


def test_forget_by_url_removes_duplicate_cohortless_and_keyless_rows(
    tmp_path: Path, http_server, videos_dir: Path, model_cache_dir: Path, fer_weights
) -> None:
    """The list names one video four times: once valid, once again (a duplicate), once
    without a cohort, once with both a url and a video_id (refused before it has a key)."""
    url = http_server.add_file("forget/noface.mp4", videos_dir / "pyfeat_no_face.mp4")
    other = http_server.add_file("forget/single.mp4", videos_dir / "pyfeat_single_face.mp4")
    (tmp_path / "list.csv").write_text(
        f"url,cohort,video_id\n{url},a,\n{other},a,\n{url},a,\n{url},,\n{url},a,dQw4w9WgXcQ\n"
    )
    warehouse = tmp_path / "out"
    run([str(tmp_path / "list.csv"), "--warehouse", str(warehouse), "--fps", "2",
         "--cache-dir", str(model_cache_dir), "--retries", "0"])  # fmt: skip
    (key,) = {row[0] for row in _rows_naming(warehouse, url) if row[0]}
    assert len(_rows_naming(warehouse, url, key)) >= 6  # 4 videos rows, 3 errors rows
    others = _rows_naming(warehouse, other)
    cache = tmp_path / "cache"
    (cache / "tmp" / f"{key}-partial").mkdir(parents=True)
    (cache / "tmp" / f"{key}-partial" / "media.mp4.part").write_bytes(b"\0" * 1000)

    assert main([url, "--warehouse", str(warehouse), "--cache-dir", str(cache)]) == 0

    assert _rows_naming(warehouse, url, key) == []
    assert _rows_naming(warehouse, other) == others
    assert not (cache / "tmp" / f"{key}-partial").exists()


def _journal_names(warehouse: Path) -> list[str]:
    return [
        json.loads(line)["name"]
        for journal in warehouse.glob("_staging/*/progress-*.jsonl")
        for line in journal.read_text().splitlines()
    ]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_forget_finds_the_cache_the_runs_used_and_leaves_no_trace(
    tmp_path: Path, http_server, videos_dir: Path, model_cache_dir: Path, fer_weights, kill_midway
) -> None:
    """Without --cache-dir: an interrupted run's cache (its manifest), then a committed
    run's (`runs.config`); the video's file and ledger go, the staged journals no longer
    name it, and what forget writes is owner-only whatever the umask."""
    # The second clip's server answers only after the kill (a run that finished both
    # would leave no interrupted run to find the cache by), then at once for the rerun.
    second = {"body": (videos_dir / "hamilton_short_clip.mp4").read_bytes(),
              "content_type": "video/mp4"}  # fmt: skip
    urls = {
        "first-clip": http_server.add_file("trace/a.mp4", videos_dir / "pyfeat_single_face.mp4"),
        "second-clip": http_server.route("trace/b.mp4", delay_s=120.0, **second),
    }
    (tmp_path / "list.csv").write_text(
        "url,cohort,note\n" + "".join(f"{u},a,{n}\n" for n, u in urls.items())
    )
    warehouse, cache = tmp_path / "out", tmp_path / "cache"
    shutil.copytree(model_cache_dir / "models", cache / "models")
    args = [str(tmp_path / "list.csv"), "--warehouse", str(warehouse), "--cache-dir", str(cache),
            "--fps", "2", "--retries", "0", "--keep-videos"]  # fmt: skip
    kill_midway(["analyze", *args], tmp_path / "killed.log")
    assert _journal_names(warehouse) == ["first-clip"]  # the second still waits for its server
    done = "first-clip"
    key = key_of(urls[done])
    assert [p.suffix for p in cached_files(video_cache_dir(str(cache)), key)] == [".mp4", ".json"]
    previous = os.umask(0o022)
    try:
        assert main([urls[done], "--warehouse", str(warehouse)]) == 0
    finally:
        os.umask(previous)
    assert cached_files(video_cache_dir(str(cache)), key) == []
    assert done not in _journal_names(warehouse) and _rows_naming(warehouse, urls[done]) == []
    assert _mode(warehouse / "_forgotten") == 0o700
    assert _mode(warehouse / "_forgotten" / "keys.txt") == 0o600
    assert all(_mode(p) & 0o077 == 0 for p in warehouse.rglob("*.parquet"))  # rewritten ones too

    http_server.route("trace/b.mp4", **second)
    run(args)  # the run completes, committed (the forgotten video left out)
    (other,) = set(urls) - {done}
    other_key = key_of(urls[other])
    assert cached_files(video_cache_dir(str(cache)), other_key)
    assert main([urls[other], "--warehouse", str(warehouse)]) == 0
    assert cached_files(video_cache_dir(str(cache)), other_key) == []
    assert _rows_naming(warehouse, urls[other], urls[done]) == []


def test_forget_warns_when_no_run_records_its_cache(tmp_path: Path, caplog) -> None:
    (tmp_path / "out" / "runs").mkdir(parents=True)
    assert recorded_cache_dirs(str(tmp_path / "out")) == []
    assert main(["url-0123456789abcdef", "--warehouse", str(tmp_path / "out")]) == 0
    assert "no run of" in caplog.text and "records its cache" in caplog.text
