"""Mistakes in the command or the list: exit 2 and one line saying what to change,
before anything is downloaded (no server is started: a download would fail otherwise)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from affectflow.pipelines.beam_flags import beam_flag_kinds, listed_beam_flags, precheck_beam_args
from affectflow.pipelines.cli import main
from affectflow.pipelines.option_types import OptionError
from affectflow.pipelines.options import check_beam_args, option_args
from affectflow.pipelines.preflight import JobError, preflight

GOOD = "url,cohort\nhttp://127.0.0.1:9/a.mp4,a\n"


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    files = {
        "good.csv": GOOD,
        "no_cohort.csv": "url,note\nhttp://127.0.0.1:9/a.mp4,x\n",
        "no_url.csv": "link,cohort\nhttp://127.0.0.1:9/a.mp4,a\n",
        "local.csv": "url,cohort\nclip.mp4,a\n/data/b.mp4,a\n",
        "urls.txt": "http://127.0.0.1:9/a.mp4\n",
        "empty.csv": "url,cohort\n",
        "two_urls.csv": "URL,cohort,url\nhttp://127.0.0.1:9/a.mp4,a,http://127.0.0.1:9/b.mp4\n",
        "no_url.jsonl": '{"link": "http://127.0.0.1:9/a.mp4", "cohort": "a"}\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.csv").write_bytes(GOOD.encode() + "b.mp4,caf\xe9\n".encode("latin-1"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "zero.csv").symlink_to(os.devnull)  # a device: /dev/zero would never end
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path


CASES = [
    (["good.csv", "--warehose", "typo"], "unknown option --warehose (did you mean --warehouse?)"),
    (["good.csv", "--fsp=5"], "unknown option --fsp (did you mean --fps?)"),
    (["good.csv", "-w", "x"], "unknown option -w"),
    (["good.csv", "other.csv"], "unexpected argument 'other.csv'"),
    (["no_cohort.csv"], "names no cohort: add a cohort column (or pass --cohort NAME)"),
    (["urls.txt"], "pass --cohort NAME"),
    (["no_url.csv"], "has no 'url' or 'video_id' column: add a url (or video_id) column"),
    (["no_url.jsonl"], "has a url or video_id"),
    (["empty.csv"], "has no row to analyse"),
    (["two_urls.csv"], "header names column 'url' twice: one of them would be lost"),
    (["local.csv"], "pass --allow-local"),
    (["missing.csv"], "does not exist"),
    (["good.csv", "--fps", "0"], "argument --fps: must be more than 0, not 0"),
    (["good.csv", "--fps", "-3"], "argument --fps: must be more than 0, not -3"),
    (["good.csv", "--fps", "fast"], "argument --fps: takes a number, not 'fast'"),
    (["good.csv", "--workers", "0"], "argument --workers: must be at least 1"),
    (["good.csv", "--workers", "two"], "argument --workers: takes a whole number or auto"),
    (["good.csv", "--workers", "100000000"], "argument --workers: at most "),
    (["good.csv", "--retries", "-1"], "argument --retries: must be at least 0"),
    (["good.csv", "--umask", "777"], "argument --umask: 777 would take the owner's own access"),
    (["good.csv", "--umask", "0277"], "argument --umask: 0277 would take the owner's own access"),
    (["good.csv", "--scale-factor", "1"], "argument --scale-factor: must be more than 1"),
    (["good.csv", "--model", "nope"], "argument --model: invalid choice: 'nope'"),
    (["good.csv", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["good.csv", "--warehouse", "a_file"], "'a_file' is a file: give a folder"),
    (["good.csv", "--cache-dir", "a_file"], "'a_file' is a file: give a folder"),
    (["good.csv", "--warehouse", ""], "--warehouse is empty: give a folder or URI"),
    (["good.csv", "--warehouse= "], "--warehouse is empty: give a folder or URI"),
    (["good.csv", "--direct_num_workers", "x"], "--direct_num_workers: invalid int value"),
    (["good.csv", "--runner", "NoSuchRunner"], "--runner NoSuchRunner: Unexpected pipeline runner"),
    # flags without a value: Beam's own parser would drop them with a log line and run
    (["good.csv", "--keep-video"], "unknown option --keep-video (did you mean --keep-videos?)"),
    (["good.csv", "--alow-local"], "unknown option --alow-local (did you mean --allow-local?)"),
    (["good.csv", "--dry-run"], "unknown option --dry-run (did you mean --dry_run?)"),
    (["--keep-video", "good.csv"], "unknown option --keep-video (did you mean --keep-videos?)"),
    (["good.csv", "--runner", "DirectRunner", "--forse"], "unknown option --forse"),
    (["good.csv", "--streamin"], "unknown option --streamin (did you mean --streaming?)"),
    (["good.csv", "--keep_titel"], "unknown option --keep_titel (did you mean --keep-title?)"),
    (["folder"], "is a folder: give the list file"),
    (["zero.csv"], "video list 'zero.csv' is not a regular file: give the list file"),
    (["latin1.csv"], "'latin1.csv' is not UTF-8 text (byte 0xe9 on line 3): save it as UTF-8"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_mistake_exits_2_with_one_line(lists, monkeypatch, capsys, args, message) -> None:
    monkeypatch.chdir(lists)
    cache = [] if "--cache-dir" in args else ["--cache-dir", str(lists / "cache")]
    assert main(["analyze", *args, *cache]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("affectflow analyze:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not (lists / "out").exists()  # nothing ran, nothing written


def test_beam_options_pass_and_unknown_ones_do_not() -> None:
    check_beam_args(["--runner", "DirectRunner", "--direct_num_workers=2", "--save_main_session"])
    check_beam_args(["--no_pipeline_type_check", "--project", "p", "--region=europe-west4"])
    check_beam_args(["--streaming", "--experiments=a", "--experiment", "b", "--dry_run=true"])
    for valueless in (["--keep-video"], ["--save_main_sesion"], ["--runner", "X", "--x"]):
        with pytest.raises(OptionError, match="unknown option"):
            check_beam_args(valueless)
    with pytest.raises(OptionError, match="did you mean --project"):
        check_beam_args(["--projcet", "p"])


def test_the_list_of_beams_flags_is_beams_parsers() -> None:
    """The job checks Beam's flags against `beam_flags.txt` before importing Beam: it must be
    the pinned Beam's (after an upgrade: `python -m affectflow.pipelines.beam_flags`)."""
    assert listed_beam_flags() == beam_flag_kinds()
    for good in (["--runner", "X", "--streaming"], ["--update_compatibility_version", "--x=1"]):
        with pytest.raises(OptionError, match="unknown option --x"):
            precheck_beam_args([*good, "--x"] if "--x=1" not in good else good)
    precheck_beam_args(["--project", "p", "--no_pipeline_type_check", "--region=r"])
    with pytest.raises(OptionError, match="unexpected argument 'extra'"):
        precheck_beam_args(["--streaming", "extra"])


def test_options_by_name_become_flags_and_unknown_names_are_refused() -> None:
    flags = option_args({"fps": 5, "keep_title": True, "force": False, "runner": "DirectRunner"})
    assert flags == ["--fps=5", "--keep_title", "--runner=DirectRunner"]
    with pytest.raises(OptionError, match="did you mean 'warehouse'"):
        option_args({"warehose": "out"})
    with pytest.raises(OptionError, match="keep_title: expected true or false"):
        option_args({"keep_title": "yes"})


def test_help_is_grouped_with_defaults_choices_and_an_example(capsys) -> None:
    assert main(["analyze", "--help"]) == 0
    out = capsys.readouterr().out
    groups = [
        "basics:",
        "face detection:",
        "labels:",
        "download and cache:",
        "privacy:",
        "runner (",
    ]
    assert [out.index(g) for g in groups] == sorted(out.index(g) for g in groups)
    basics = out[out.index("basics:") : out.index("face detection:")]
    for flag in ("--warehouse", "--cohort", "--model", "--fps", "--workers"):
        assert flag in basics
    assert "--trim_s" not in out and out.count("--trim-s") == 1  # each option once
    assert "(default: 10.0)" in out and "{cpu,cuda}" in out
    assert "example:" in out and "affectflow analyze videos.csv" in out


def test_a_remote_warehouse_that_cannot_be_reached_is_one_line_before_any_work(
    lists, monkeypatch, capsys
) -> None:
    """Beam's S3 filesystem retries an endpoint that refuses (or missing credentials) for
    minutes, a traceback each time: the job asks the bucket first, once, and stops."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "AKIAAFFECTFLOWTEST",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(lists)
    warehouse = "s3://affectflow-test/warehouse"
    assert main(["analyze", "good.csv", "--warehouse", warehouse, "--cache-dir", "cache"]) == 2
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith(f"affectflow analyze: warehouse {warehouse}: cannot list"), line
    assert not (lists / "cache").exists()  # nothing ran


def test_a_list_given_as_a_file_url_is_its_local_file(lists) -> None:
    """`file:///.../good.csv` (refused before as "does not exist") is checked and handed on
    as its path, which Beam's filesystems and `open` read; a missing one still is not."""
    checked = preflight([(lists / "good.csv").as_uri(), "--warehouse", str(lists / "w")])
    assert checked.video_list == str(lists / "good.csv")
    with pytest.raises(JobError, match="does not exist"):
        preflight([(lists / "missing.csv").as_uri(), "--warehouse", str(lists / "w")])
