"""`affectflow forget`: a video's rows leave every table, its cache files go, the rest stays."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from affectflow.pipelines.analyze import run
from affectflow.pipelines.forget import main, video_cache_dir


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
