"""Commands that run no pipeline never import Beam or torch, and a job's mistakes are told
before they load: each case runs in a fresh interpreter and reads its `sys.modules`.

(`benchmarks/startup.py` measures how long each command takes to start.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("apache_beam", "torch", "cv2", "yt_dlp")
PROGRAM = """
import contextlib, io, json, sys
from affectflow.pipelines.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = {call}
    except SystemExit as stop:  # argparse's --help
        code = stop.code
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue(), "err": err.getvalue()}}))
"""


def run_isolated(call: str, cwd: Path) -> dict:
    """Run `call` (Python, returning an exit code) in a fresh interpreter."""
    program = PROGRAM.format(call=call, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def cli(*argv: str) -> str:
    return f"main({list(argv)!r})"


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("analyze", "--help"),
        ("refresh", "--help"),
        ("report", "--help"),
        ("report", "--list"),
        ("sql", "--help"),
        ("forget", "--help"),
        ("prepare", "--help"),
        ("train", "--help"),
        ("evaluate", "--help"),
        ("validate", "--help"),
        ("models", "--help"),
    ],
)
def test_help_imports_neither_beam_nor_torch(argv, tmp_path) -> None:
    result = run_isolated(cli(*argv), tmp_path)
    assert result["code"] == 0 and result["out"]
    assert result["heavy"] == []


def test_reports_sql_forget_and_the_api_import_neither_beam_nor_torch(job, tmp_path) -> None:
    warehouse = str(job.warehouse)
    calls = [
        cli("report", "--warehouse", warehouse),
        cli("report", "data_quality", "--warehouse", warehouse, "--format", "html"),
        cli("sql", "--warehouse", warehouse, "-c", "select count(*) from videos"),
        f"affectflow.report('cohort_summary', {warehouse!r}) is not None and 0",
        f"affectflow.open({warehouse!r}).sql('select 1').fetchall() and 0",
    ]
    for call in calls:
        result = run_isolated(call.replace("affectflow.", "__import__('affectflow')."), tmp_path)
        assert result["code"] == 0, (call, result["err"])
        assert result["heavy"] == [], call
        assert "WARNING" not in result["stderr"] + result["err"], call
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(job.warehouse, copy)
    forget = cli("forget", "youtube-dQw4w9WgXcQ", "--warehouse", str(copy), "--cache-dir",
                 str(tmp_path / "cache"))  # fmt: skip
    result = run_isolated(forget, tmp_path)
    assert result["code"] == 0 and result["heavy"] == [], result["err"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--keep-video"], "unknown option --keep-video (did you mean --keep-videos?)"),
        (["--fps", "-1"], "--fps"),
        (["--list-missing"], "does not exist"),
        (["--list-folder"], "is a folder"),
    ],
)
def test_a_jobs_mistake_is_told_before_beam_loads(extra, words, tmp_path) -> None:
    """Options, list and warehouse are checked before Beam or torch loads, a flag left for
    Beam (`--keep-video` here) against the list of Beam's flags."""
    video_list = tmp_path / "list.csv"
    video_list.write_text("url,cohort\nhttps://example.org/a.mp4,a\n")
    target = {"--list-missing": str(tmp_path / "nope.csv"), "--list-folder": str(tmp_path)}
    given = target.get(extra[0], str(video_list))
    options = [o for o in extra if o not in target]
    result = run_isolated(cli("analyze", given, "--warehouse", str(tmp_path / "out"), *options),
                          tmp_path)  # fmt: skip
    assert result["code"] == 2 and words in result["err"], result["err"]
    assert result["heavy"] == []
    assert not (tmp_path / "out").exists()


def test_the_error_types_are_importable_from_affectflow(tmp_path) -> None:
    import affectflow
    from affectflow import JobError, OptionError, WarehouseError

    assert issubclass(OptionError, ValueError) and issubclass(WarehouseError, ValueError)
    with pytest.raises(WarehouseError, match="no affectflow warehouse"):
        affectflow.open(str(tmp_path))
    with pytest.raises(JobError, match="does not exist"):
        affectflow.analyze(str(tmp_path / "nope.csv"), warehouse=str(tmp_path / "out"))
    with pytest.raises(OptionError, match="did you mean 'keep_videos'"):
        affectflow.analyze(str(tmp_path / "nope.csv"), keep_video=True)
    with pytest.raises(AttributeError):
        affectflow.NoSuchError  # noqa: B018


def test_a_finished_warehouse_holds_no_stub(job) -> None:
    """No empty lock file, staging folder or empty unit tables once the job is done; the
    views still read it (with empty unit tables of their own)."""
    import affectflow

    names = sorted(p.name for p in job.warehouse.iterdir())
    assert names == ["errors", "faces", "runs", "videos"], names
    con = affectflow.open(str(job.warehouse))
    assert con.execute("select count(*) from latest_videos").fetchone()[0] == len(job.urls)
