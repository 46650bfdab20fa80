"""Job-level failures exit 2 with one line saying what to fix, never a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from affectflow.pipelines import cli
from affectflow.pipelines.failures import job_failure

pytestmark = pytest.mark.slow  # whole jobs


def _analyze(tmp_path: Path, warehouse: str, cache: Path, capsys) -> tuple[int, str]:
    video_list = tmp_path / "list.csv"
    video_list.write_text("url,cohort\nfoo://x,a\n")
    argv = ["--quiet", "analyze", str(video_list), "--warehouse", warehouse]
    code = cli.main([*argv, "--cache-dir", str(cache)])
    return code, capsys.readouterr().err


def test_a_warehouse_path_with_glob_characters_is_refused(
    tmp_path: Path, model_cache_dir: Path, fer_weights, capsys
) -> None:
    code, err = _analyze(tmp_path, str(tmp_path / "out[1]"), model_cache_dir, capsys)
    assert code == 2 and "choose a --warehouse path without them" in err
    assert not (tmp_path / "out[1]").exists()


def test_a_warehouse_that_cannot_be_written_exits_2_with_one_line(
    tmp_path: Path, model_cache_dir: Path, fer_weights, capsys
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    code, err = _analyze(tmp_path, str(tmp_path / "a-file" / "out"), model_cache_dir, capsys)
    assert code == 2
    assert err.startswith("affectflow analyze: cannot write") and "Not a directory" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_disk_full_says_to_free_space() -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/data/out/videos/x.parquet")
    wrapped = RuntimeError("pipeline failed")
    wrapped.__cause__ = error
    assert job_failure(wrapped) == (
        "cannot write /data/out/videos/x.parquet: No space left on device: "
        "free disk space, or choose another --warehouse / --cache-dir"
    )


def test_report_out_onto_a_folder_exits_2(job, tmp_path: Path, capsys) -> None:
    argv = ["--quiet", "report", "--warehouse", str(job.warehouse), "--out", str(tmp_path)]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert (
        code == 2 and err == f"affectflow report: --out {tmp_path} is a folder: give a file name\n"
    )


@pytest.mark.parametrize("umask", ["077", "027"])
def test_what_a_job_creates_follows_the_umask(
    tmp_path: Path, model_cache_dir: Path, fer_weights, capsys, umask: str
) -> None:
    import os

    before = os.umask(0o022)
    try:
        video_list = tmp_path / "list.csv"
        video_list.write_text("url,cohort\nfoo://x,a\n")
        out = tmp_path / "out"
        argv = [str(video_list), "--warehouse", str(out), "--cache-dir", str(model_cache_dir)]
        assert cli.main(["--quiet", "analyze", *argv, "--umask", umask]) == 0
    finally:
        os.umask(before)
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [p for p in out.rglob("*") if p.is_dir()]
    assert files and folders
    mask = int(umask, 8)
    assert all(p.stat().st_mode & mask == 0 for p in files + folders)
