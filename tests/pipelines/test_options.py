"""Analyze options: values that cannot work are refused by the parser; runs.config
records an allow-list of options, never a secret."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from affectflow.pipelines import cli
from affectflow.pipelines.options import launcher_cache_dir, recorded_options


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("--fps=nan", "--fps: takes a finite number, not 'nan'"),
        ("--fps=0", "--fps: must be more than 0"),
        ("--trim-s=-1", "--trim-s: must be at least 0"),
        ("--scale-factor=1.0", "--scale-factor: must be more than 1"),
        ("--detect-every=0", "--detect-every: must be at least 1"),
        ("--download-timeout=inf", "--download-timeout: takes a finite number"),
        ("--umask=999", "--umask: takes an octal mask like 077"),
    ],
)
def test_values_that_cannot_work_exit_2_before_anything_runs(
    tmp_path, option: str, words: str, capsys
) -> None:
    video_list = tmp_path / "list.csv"
    video_list.write_text("url,cohort\nhttps://example.org/a.mp4,a\n")
    warehouse = tmp_path / "out"
    argv = ["--quiet", "analyze", str(video_list), "--warehouse", str(warehouse), option]
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's own exit
        code = exit_.code
    assert code == 2
    flag, reason = words.split(": ", 1)
    err = capsys.readouterr().err
    assert flag in err and reason in err
    assert not warehouse.exists()


def test_runs_config_records_an_allow_list_never_secrets() -> None:
    secrets = ["s3-SECRET", "azure-SECRET", "salt-SECRET", "gcp-SECRET"]
    options = PipelineOptions(
        [
            f"--s3_secret_access_key={secrets[0]}",
            f"--azure_connection_string={secrets[1]}",
            f"--channel-salt={secrets[2]}",
            f"--dataflow_service_options=token={secrets[3]}",
            "--fps=5",
        ]
    )
    recorded = recorded_options(options)
    assert recorded["fps"] == 5.0 and "runner" in recorded
    assert not any(secret in repr(recorded) for secret in secrets)


def test_the_launcher_keeps_its_own_cache_on_a_remote_runner(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AFFECTFLOW_CACHE_DIR", str(tmp_path / "launcher"))
    local = PipelineOptions(["--cache-dir", str(tmp_path / "here")])
    assert launcher_cache_dir(local) == str(tmp_path / "here")  # workers share this machine
    remote = ["--cache-dir", "/opt/affectflow-cache", "--runner", "DataflowRunner"]
    assert launcher_cache_dir(PipelineOptions(remote)) == str(tmp_path / "launcher")
