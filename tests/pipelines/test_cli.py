"""The `affectflow` command's dispatch: one module with `main(argv)` per command."""

from __future__ import annotations

import errno
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from affectflow.pipelines.cli import COMMANDS, EPILOG, SIGINT_EXIT, SIGPIPE_EXIT, main


def test_every_command_is_a_module_with_main_and_is_listed() -> None:
    listed = {line.split()[0] for line in EPILOG.splitlines()[1:] if line.strip()}
    assert listed == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert callable(importlib.import_module(module).main), name


def test_analyze_help_lists_its_options(capsys) -> None:
    assert main(["analyze", "--help"]) == 0
    out = capsys.readouterr().out
    assert "affectflow analyze LIST" in out and "--workers" in out and "--fps" in out
    assert main(["analyze"]) == 2  # no list: the help, and a usage error
    assert "--warehouse" in capsys.readouterr().out


def test_version_and_usage(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("affectflow ")
    assert main(["--help"]) == 0
    assert "commands:" in capsys.readouterr().out  # asked: stdout
    assert main([]) == 2
    assert main(["analyse"]) == 2
    assert "unknown command 'analyse'" in capsys.readouterr().err


def test_report_and_refresh_help_say_what_they_do_with_examples(capsys) -> None:
    from affectflow.queries.runner import list_reports

    for argv in (["report", "--help"], ["refresh", "--help"]):
        try:
            main(argv)
        except SystemExit as stop:  # argparse's --help
            assert stop.code == 0
    out = capsys.readouterr().out
    report_help, refresh_help = out.split("usage: affectflow refresh")
    assert "small-cell suppression" in report_help and "examples:" in report_help
    assert all(name in report_help for name in list_reports())
    assert "--wide" in report_help and "parquet" in report_help
    assert "examples:" in refresh_help and "examples/refresh/cohorts.toml" in refresh_help
    assert "--dry-run" in refresh_help


MISTAKES = [
    (["report", "--warehouse"], "argument --warehouse: expected one argument"),
    (["report", "errors", "--format", "xlsx"], "argument --format: invalid choice: 'xlsx'"),
    (["sql", "--warehouse"], "argument --warehouse: expected one argument"),
    (["models"], "the following arguments are required: action"),
    (["models", "bogus"], "argument action: invalid choice: 'bogus'"),
    (["prepare"], "the following arguments are required: splits, --out"),
    (["train"], "the following arguments are required: data, --out"),
    (["evaluate"], "the following arguments are required: data"),
    (["refresh"], "the following arguments are required: --config"),
    (["forget"], "the following arguments are required: video"),
    (["forget", "x", "--warehose", "\x1b[2Jout"], "unrecognized arguments: --warehose"),
]


@pytest.mark.parametrize(("argv", "words"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_a_commands_mistake_is_one_line_and_exit_2(argv: list[str], words: str, capsys) -> None:
    """Every command as analyze: no usage block, the value escaped, a pointer to --help."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"affectflow {argv[0]}: ") and words in line, line
    assert line.endswith(f"(see affectflow {argv[0]} --help)") and "\x1b" not in line
    assert captured.out == ""


@pytest.mark.parametrize("argv", [["--help"], ["report", "--list"]])
def test_a_reader_that_left_ends_the_command_quietly(argv: list[str]) -> None:
    """`affectflow report ... | head`: the pipe's reader is gone (here before the command
    writes a byte); the command exits as one killed by SIGPIPE would, with no traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        command = [sys.executable, "-m", "affectflow.pipelines.cli", *argv]
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (SIGPIPE_EXIT, "")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """Ctrl-C in a command (here refresh, waiting to read its config from a FIFO nobody
    writes): `affectflow: interrupted`, exit 130, no traceback."""
    config = tmp_path / "cohorts.toml"
    os.mkfifo(config)
    command = [sys.executable, "-m", "affectflow.pipelines.cli", "refresh", "--config"]
    process = subprocess.Popen([*command, str(config)], stderr=subprocess.PIPE, text=True)
    while True:  # the FIFO takes a writer only once the command opened it to read
        try:
            writer = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as error:
            assert error.errno == errno.ENXIO and process.poll() is None
            time.sleep(0.05)
    try:
        process.send_signal(signal.SIGINT)  # it waits in read(): nothing is ever written
        assert process.wait(timeout=60) == SIGINT_EXIT
    finally:
        os.close(writer)
    assert process.stderr.read() == "affectflow: interrupted\n"
    process.stderr.close()
