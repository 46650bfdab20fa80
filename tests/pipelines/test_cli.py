"""The `affectflow` command's dispatch: one module with `main(argv)` per command."""

from __future__ import annotations

import importlib

from affectflow.pipelines.cli import COMMANDS, EPILOG, main


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
