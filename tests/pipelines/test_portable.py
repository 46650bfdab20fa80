"""The analyze job on Beam's PortableRunner (job service + external worker pool processes)."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import duckdb
import pytest

from affectflow.pipelines.analyze import run

FACE_COLUMNS = "video_key, frame_index, track_id, bbox_x, bbox_y, bbox_w, bbox_h, label"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def portable_endpoints() -> Iterator[tuple[str, str]]:
    """(job endpoint, worker pool address) of two real Beam service processes."""
    job_port, pool_port = unused_port(), unused_port()
    modules = (
        ("apache_beam.runners.portability.local_job_service_main", "--port", job_port),
        ("apache_beam.runners.worker.worker_pool_main", "--service_port", pool_port),
    )
    processes = []
    try:
        for module, flag, port in modules:
            command = [sys.executable, "-m", module, flag, str(port)]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
            wait_for_port(port, processes[-1])
        yield f"localhost:{job_port}", f"localhost:{pool_port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def rows(warehouse, table: str, columns: str) -> list[tuple]:
    return duckdb.execute(
        f"select {columns} from read_parquet($glob) order by all",
        {"glob": str(warehouse / table / "**" / "*.parquet")},
    ).fetchall()


def test_portable_runner_gives_the_rows_of_fnapirunner(
    tmp_path, videos_dir, model_cache_dir, portable_endpoints
) -> None:
    job_endpoint, pool = portable_endpoints
    video_list = tmp_path / "videos.txt"
    clips = ["pyfeat_single_face.mp4", "pyfeat_no_face.mp4"]
    video_list.write_text("".join(f"{videos_dir / clip}\n" for clip in clips))
    common = [str(video_list), "--cohort", "a", "--allow-local"]
    common += ["--cache-dir", str(model_cache_dir)]
    local = run([*common, "--warehouse", str(tmp_path / "local")])
    portable = run(
        [
            *common,
            "--warehouse",
            str(tmp_path / "portable"),
            "--runner",
            "PortableRunner",
            "--job_endpoint",
            job_endpoint,
            "--environment_type",
            "EXTERNAL",
            "--environment_config",
            pool,
        ]
    )
    video_columns = "video_key, status, frames_sampled, faces_detected, tracks"
    assert rows(tmp_path / "portable", "videos", video_columns) == rows(
        tmp_path / "local", "videos", video_columns
    )
    assert rows(tmp_path / "portable", "faces", FACE_COLUMNS) == rows(
        tmp_path / "local", "faces", FACE_COLUMNS
    )
    assert rows(tmp_path / "local", "faces", FACE_COLUMNS)
    assert local.videos_total == 2
    # Beam metrics reach the job service: the run summaries agree too.
    assert dataclasses.replace(portable, seconds=0) == dataclasses.replace(local, seconds=0)
