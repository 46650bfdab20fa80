"""Two worker processes give exactly the rows one worker gives, and log only what matters."""

from __future__ import annotations

import json
import logging

import apache_beam as beam
import duckdb
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from affectflow.pipelines.analyze import run
from affectflow.pipelines.local_workers import WorkerProcessRunner, _with_log_level
from affectflow.pipelines.options import resolve_runner_options

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
    one = run([*common, "--warehouse", str(tmp_path / "one"), "--workers", "1"])
    capfd.readouterr()
    two = run([*common, "--warehouse", str(tmp_path / "two"), "--workers", "2"])
    err = capfd.readouterr().err
    assert err.count("[affectflow] ok ") == 2, err  # the workers' per-video lines
    assert not [noise for noise in BEAM_WORKER_NOISE if noise in err], err
    assert one.videos_total == two.videos_total == 3
    assert faces(tmp_path / "one") == faces(tmp_path / "two")
    assert faces(tmp_path / "one")
    assert videos(tmp_path / "one") == videos(tmp_path / "two")


def test_worker_processes_show_errors_and_drop_beam_chatter(capfd) -> None:
    options = PipelineOptions(["--workers", "2"])
    resolve_runner_options(options)
    assert options.view_as(StandardOptions).runner.endswith(WorkerProcessRunner.__name__)
    assert options.view_as(DirectOptions).direct_num_workers == 2
    beam_logger = logging.getLogger("apache_beam.affectflow_test")
    with beam.Pipeline(options=options) as pipeline:
        words = pipeline | beam.Create(["worker-warning-marker", "worker-error-marker"])
        _ = words | "Warn" >> beam.Filter(lambda w: "warning" in w) | beam.Map(beam_logger.warning)
        _ = words | "Err" >> beam.Filter(lambda w: "error" in w) | beam.Map(beam_logger.error)
    err = capfd.readouterr().err
    assert err.count("worker-error-marker") == 1, err
    assert "worker-warning-marker" not in err, err
    assert not [noise for noise in BEAM_WORKER_NOISE if noise in err], err


def test_runner_options_for_workers() -> None:
    portable = PipelineOptions(["--workers", "2", "--runner", "PortableRunner"])
    resolve_runner_options(portable)
    assert portable.view_as(StandardOptions).runner == "PortableRunner"
    single = PipelineOptions([])
    resolve_runner_options(single)
    assert single.view_as(StandardOptions).runner == "FnApiRunner"
    assert json.loads(_with_log_level(None)) == {"default_sdk_harness_log_level": "ERROR"}
    given = json.dumps({"options": {"default_sdk_harness_log_level": "DEBUG"}})
    assert _with_log_level(given) == given
