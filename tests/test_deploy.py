"""deploy/README.md says what the code prints and what the installed Beam publishes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import apache_beam
import pytest
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    PipelineOptions,
    SparkRunnerOptions,
)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "deploy" / "README.md").read_text()
MARKER = re.compile(r"<!-- cost_model: (.*?) -->\n(.*)\n")


def test_the_cost_figures_are_what_cost_model_prints() -> None:
    quoted = MARKER.findall(README)
    assert len(quoted) >= 2
    for flags, sentence in quoted:
        command = [sys.executable, str(ROOT / "deploy" / "cost_model.py"), *flags.split()]
        printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert sentence == printed.strip(), f"deploy/README.md drifted from `{flags}`"


def flink_versions() -> set[str]:
    named = re.findall(r"beam_flink([\d.]+)_job_server", README)
    return set(named + re.findall(r"--flink_version ([\d.]+)", README))


def test_the_flink_and_spark_job_servers_are_ones_this_beam_publishes() -> None:
    assert flink_versions()
    for version in flink_versions():
        assert version in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    spark = set(re.findall(r"beam_spark(\d)_job_server", README))
    spark |= set(re.findall(r"--spark_version (\d)", README))
    assert spark
    for version in spark:  # an unknown choice makes Beam's parser exit
        options = PipelineOptions(["--spark_version", version]).view_as(SparkRunnerOptions)
        assert options.spark_version == version
    with pytest.raises(SystemExit):  # the check can fail
        PipelineOptions(["--spark_version", "1"]).view_as(SparkRunnerOptions)
    tags = set(re.findall(r"_job_server:([\w.]+)", README))
    tags |= set(re.findall(r"job-server-([\d.]+)\.jar", README))
    assert tags == {apache_beam.__version__}


def test_the_worker_image_is_this_beam_and_python() -> None:
    dockerfile = (ROOT / "deploy" / "dataflow" / "Dockerfile").read_text()
    base = re.search(r"FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)", dockerfile)
    assert base is not None
    assert base.group(2) == apache_beam.__version__
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"
