"""Two worker processes give exactly the rows one worker gives, and log only what matters."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import duckdb
import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from affectflow.pipelines.analyze import run
from affectflow.pipelines.logs import setup_logging
from affectflow.pipelines.options import LOCAL_WORKERS_RUNNER, resolve_runner_options

pytestmark = pytest.mark.slow  # worker processes

# Lines Beam's worker processes print on start-up and shutdown unless silenced.
BEAM_WORKER_NOISE = ("sdk_worker", "semi_persistent", "sdk harness", "apitools", "Resource module")

FACE_COLUMNS = (
    "video_key, frame_index, timestamp_ms, track_id, bbox_x, bbox_y, bbox_w, bbox_h, label"
)


def faces(warehouse) -> list[tuple]:
    return duckdb.execute(
        f"select {FACE_COLUMNS}, round(score, 5) from read_parquet($glob) order by all",
        {"glob": str(warehouse / "faces" / "**" / "*.parquet")},
    ).fetchall()


def videos(warehouse) -> list[tuple]:
    return duckdb.execute(
        "select video_key, status, frames_sampled, faces_detected, tracks "
        "from read_parquet($glob) order by all",
        {"glob": str(warehouse / "videos" / "**" / "*.parquet")},
    ).fetchall()


def test_two_workers_give_the_same_rows_as_one(
    tmp_path, videos_dir, model_cache_dir, capfd
) -> None:
    clips = ["pyfeat_single_face.mp4", "carphone_pristine.mp4", "pyfeat_no_face.mp4"]
    video_list = tmp_path / "videos.txt"
    video_list.write_text("".join(f"{videos_dir / clip}\n" for clip in clips))
    common = [
        str(video_list),
        "--cohort",
        "a",
        "--allow-local",
        "--cache-dir",
        str(model_cache_dir),
    ]
    setup_logging(verbose=False, progress=True)  # as the CLI does
    one = run([*common, "--warehouse", str(tmp_path / "one"), "--workers", "1"])
    capfd.readouterr()
    two = run([*common, "--warehouse", str(tmp_path / "two"), "--workers", "2"])
    err = capfd.readouterr().err
    # one line per video, printed by the launching process from the workers' journal
    assert len(re.findall(r"\[affectflow\] [123]/3 ok ", err)) == 2, err
    assert not [noise for noise in BEAM_WORKER_NOISE if noise in err], err
    assert one.videos_total == two.videos_total == 3
    assert faces(tmp_path / "one") == faces(tmp_path / "two")
    assert faces(tmp_path / "one")
    assert videos(tmp_path / "one") == videos(tmp_path / "two")


# A pipeline on `--workers 2` in a process set up as the CLI sets up its logging.
WORKER_SCRIPT = """
import logging, os
from affectflow.pipelines.logs import setup_logging

setup_logging(verbose=False)  # before Beam's import, as the CLI does
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from affectflow.pipelines.options import resolve_runner_options

options = PipelineOptions(["--workers", "2"])
resolve_runner_options(options)
beam_logger = logging.getLogger("apache_beam.affectflow_test")
with beam.Pipeline(options=options) as pipeline:
    words = pipeline | beam.Create(["info-marker", "warning-marker", "error-marker"])
    _ = words | "Info" >> beam.Filter(lambda w: "info" in w) | beam.Map(beam_logger.info)
    _ = words | "Warn" >> beam.Filter(lambda w: "warn" in w) | beam.Map(beam_logger.warning)
    _ = words | "Err" >> beam.Filter(lambda w: "error" in w) | beam.Map(beam_logger.error)
    progress = logging.getLogger("affectflow.progress")
    _ = words | "Ok" >> beam.Map(lambda w: progress.info("ok %s", w))
    _ = (
        pipeline
        | "Many" >> beam.Create(range(64))
        | beam.Reshuffle()
        | beam.Map(lambda _: os.getpid())
        | beam.Distinct()
        | beam.Map(lambda pid: print("worker-pid", pid, flush=True))
    )
print("main-pid", os.getpid())
"""


def test_worker_processes_log_like_the_cli_once(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, err
    assert err.count("ERROR apache_beam.affectflow_test: error-marker") == 1, err
    assert err.count("WARNING apache_beam.affectflow_test: warning-marker") == 1, err
    assert "affectflow_test: info-marker" not in err, err  # no Beam INFO, as with one worker
    assert err.count("[affectflow] ok ") == 3, err  # the workers' progress lines, CLI format
    assert "Worker: " not in err, err  # the runner's forwarded copies are dropped
    assert not [noise for noise in BEAM_WORKER_NOISE if noise in err], err
    pids = {line.split()[1] for line in out.splitlines() if line.startswith("worker-pid")}
    (main_pid,) = [line.split()[1] for line in out.splitlines() if line.startswith("main-pid")]
    # Both workers did work, never the launcher. This does not depend on timing:
    # FnApiRunner splits each stage's input into one part per worker (after the
    # Reshuffle, its 64 random keys are dealt round-robin, so both parts hold elements)
    # and sends the parts to distinct worker processes (`ParallelBundleManager`).
    assert len(pids) == 2 and main_pid not in pids, out


def test_runner_options_for_workers() -> None:
    portable = PipelineOptions(["--workers", "2", "--runner", "PortableRunner"])
    resolve_runner_options(portable)
    assert portable.view_as(StandardOptions).runner == "PortableRunner"
    single = PipelineOptions([])
    resolve_runner_options(single)
    assert single.view_as(StandardOptions).runner == "FnApiRunner"
    assert single.view_as(DirectOptions).direct_num_workers == 1
    two = PipelineOptions(["--workers", "2"])
    resolve_runner_options(two)
    assert two.view_as(StandardOptions).runner == LOCAL_WORKERS_RUNNER
    assert two.view_as(DirectOptions).direct_num_workers == 2
    module, name = LOCAL_WORKERS_RUNNER.rsplit(".", 1)
    assert issubclass(getattr(importlib.import_module(module), name), FnApiRunner)
    threads = PipelineOptions(["--workers", "2", "--direct_running_mode", "multi_threading"])
    resolve_runner_options(threads)  # Beam's own running mode is left as given
    assert threads.view_as(StandardOptions).runner == "FnApiRunner"
    assert threads.view_as(DirectOptions).direct_num_workers == 2
