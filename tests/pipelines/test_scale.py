"""Jobs at scale: durable units under SIGKILL and Ctrl-C, and a graph that does not grow.

A 30-video job (copies of the smallest clip with a face, served over HTTP) is SIGKILLed
at five moments and interrupted once; each rerun of the same command continues the run,
and the last ends with exactly the rows of one clean run, having analysed no more than
what the last kill lost (the `runs` table says how many videos were committed before).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest

from affectflow.pipelines.analyze import prepare, run
from affectflow.pipelines.analyze_graph import build
from affectflow.pipelines.child_processes import descendants
from affectflow.warehouse.commit import done_video_keys, ensure_tables
from affectflow.warehouse.partitions import write_table
from affectflow.warehouse.sql import connect

pytestmark = pytest.mark.slow  # whole jobs

VIDEOS = 30
SHORT = 6  # videos of the SIGTERM test (the first rows of the list)
UNIT = 4
LINE = re.compile(rb"\[affectflow\] (\d+)/\d+ ")


@pytest.fixture(scope="module")
def video_list(tmp_path_factory, session_http_server, videos_dir) -> Path:
    folder = tmp_path_factory.mktemp("scale")
    clip = videos_dir / "pyfeat_single_face.mp4"
    urls = [session_http_server.add_file(f"scale/clip-{i:02d}.mp4", clip) for i in range(VIDEOS)]
    video_list = folder / "videos.csv"
    video_list.write_text(
        "url,cohort\n" + "".join(f"{url},c{i % 2}\n" for i, url in enumerate(urls))
    )
    return video_list


def _args(video_list: Path, warehouse: Path, cache: Path) -> list[str]:
    return [
        str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(cache),
        "--fps", "2", "--unit-videos", str(UNIT),
        "--batch-size", "4",  # a video's faces come back from inference before the next's
        "--workers", "1",  # not `auto` (2 workers for 30 videos on 2 cores): one process
    ]  # fmt: skip


@pytest.fixture(scope="module")
def clean(video_list, tmp_path_factory, model_cache_dir, fer_weights, all_rows) -> dict:
    warehouse = tmp_path_factory.mktemp("clean") / "out"
    run(_args(video_list, warehouse, model_cache_dir))
    return all_rows(warehouse)


def _signal_after(
    args: list[str], log: Path, video: int, sig: int, *, group: bool = True
) -> tuple[subprocess.Popen, dict[int, bytes]]:
    """Run `affectflow analyze ARGS` in its own process group; `sig` it (its group, or the
    launcher alone) once it reported `video` finished videos (0: once it has started its
    run, before any video is done). Returns it and its child processes then (pid: command)."""
    command = [sys.executable, "-m", "affectflow.pipelines.cli", "analyze", *args]
    with log.open("wb") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while not _reached(log, video, Path(args[2])) and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.02)
        assert process.poll() is None, f"the job ended before video {video}"
        children = {pid: _cmdline(pid) for pid in descendants(process.pid)}
        (os.killpg if group else os.kill)(process.pid, sig)
        process.wait(timeout=60)
    return process, children


def _reached(log: Path, videos: int, warehouse: Path) -> bool:
    if videos == 0:
        return any(warehouse.glob("_staging/*/manifest.json"))
    return len(LINE.findall(log.read_bytes())) >= videos


def _seen(log: Path) -> int:
    """The highest k of the `[affectflow] k/N` lines of a log (videos reported finished)."""
    return max((int(k) for k in LINE.findall(log.read_bytes())), default=0)


def _committed(warehouse: Path) -> list[str]:
    """Video keys of the committed units of runs without a `runs` row (no duplicates)."""
    if not (warehouse / "runs").exists():
        return []
    with connect(str(warehouse)) as con:
        rows = con.execute(
            "select video_key from internal.video_rows "
            "where unit_id in (select unit_id from internal.units)"
        )
        return [key for (key,) in rows.fetchall()]


def _last_run(warehouse: Path) -> tuple[int, int, int]:
    with connect(str(warehouse)) as con:
        return con.execute(
            "select videos_total, videos_resumed, attempts from runs order by run_id desc limit 1"
        ).fetchone()


# (videos this attempt reported finished, signal): SIGKILLs of the process group and a
# Ctrl-C, each once the attempt is under way (0: it started its run, no video done yet).
MOMENTS = (
    (0, signal.SIGKILL),
    (1, signal.SIGKILL),
    (1, signal.SIGINT),
    (1, signal.SIGKILL),
    (1, signal.SIGKILL),
    (1, signal.SIGKILL),
)
INTERRUPTED = re.compile(
    rf"affectflow analyze: interrupted: (\d+) of {VIDEOS} videos committed; "
    "run the same command again to continue"
)


def test_killed_at_five_moments_and_interrupted_then_a_rerun_equals_one_clean_run(
    video_list, tmp_path, model_cache_dir, clean, all_rows
) -> None:
    """Five SIGKILLs and a Ctrl-C, each hitting the rerun of the one before: every signal
    loses at most one unit, Ctrl-C exits 130 with one line, and the last rerun ends with
    the rows of one clean run, having analysed only what the last kill lost."""
    warehouse = tmp_path / "out"
    args = _args(video_list, warehouse, model_cache_dir)
    for moment, (video, sig) in enumerate(MOMENTS):
        log = tmp_path / f"signalled-{moment}.log"
        process, _ = _signal_after(args, log, video, sig)
        committed = _committed(warehouse)
        assert len(committed) == len(set(committed))  # no video twice, whatever the kill hit
        assert _seen(log) - len(committed) <= UNIT, log.read_text()[-2000:]
        if sig == signal.SIGKILL:
            assert process.returncode == -signal.SIGKILL
            continue
        text = log.read_text()
        assert process.returncode == 130 and "Traceback" not in text, text[-2000:]
        assert text.count("interrupted:") == 1, text[-2000:]  # not again by a download
        line = INTERRUPTED.fullmatch(text.strip().splitlines()[-1])
        assert line and int(line.group(1)) == len(committed), text[-2000:]
    run(args)
    assert all_rows(warehouse) == clean
    total, resumed, attempts = _last_run(warehouse)
    assert (total, attempts) == (VIDEOS, len(MOMENTS) + 1)
    assert VIDEOS - resumed <= VIDEOS - _seen(log) + UNIT  # what the last kill lost, no more
    assert not list(warehouse.rglob("*.tmp-*"))
    stubs = [".lock", "_units", "_staging"]  # a finished warehouse keeps none of them
    assert [name for name in stubs if (warehouse / name).exists()] == []


def _ended(pids: set[int], hang_guard_s: float = 60.0) -> bool:
    """Whether every pid has ended (gone, or a zombie its new parent has not reaped yet).

    `hang_guard_s` only keeps a broken stop from hanging the test; it is not a speed
    claim (a worker left to die on its own is caught by the log: see the caller)."""
    deadline = time.monotonic() + hang_guard_s
    while time.monotonic() < deadline:
        states = []
        for pid in pids:
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                states.append(stat[stat.rindex(")") + 2])
        if all(state == "Z" for state in states):
            return True
        time.sleep(0.1)
    return False


def test_sigterm_to_the_launcher_alone_stops_its_workers_then_a_rerun_completes(
    video_list, tmp_path, model_cache_dir, clean, all_rows
) -> None:
    """`kill PID` of a launcher running two worker processes (not its group): its
    workers commit the videos they finished (units of 100 would close only at the end),
    it exits 130 with the one line, once, counting them, and no traceback; its workers
    end with it, and a rerun ends with the clean run's rows of its videos."""
    short = tmp_path / "videos.csv"
    short.write_text("".join(video_list.read_text().splitlines(keepends=True)[: SHORT + 1]))
    warehouse = tmp_path / "out"
    args = [*_args(short, warehouse, model_cache_dir), "--workers", "2", "--unit-videos", "100"]
    log = tmp_path / "terminated.log"
    process, children = _signal_after(args, log, 1, signal.SIGTERM, group=False)
    text = log.read_text()
    assert process.returncode == 130 and "Traceback" not in text, text[-2000:]
    assert text.count("interrupted:") == 1, text[-2000:]
    line = re.fullmatch(
        rf"affectflow analyze: interrupted: (\d+) of {SHORT} videos committed; "
        "run the same command again to continue",
        text.strip().splitlines()[-1],
    )
    assert line and 1 <= int(line.group(1)) == len(_committed(warehouse)), text[-2000:]
    workers = [pid for pid, command in children.items() if b"pipelines.worker" in command]
    assert len(workers) >= 2, children
    assert _ended(set(children)), children
    # Workers left behind die on their own once the runner is gone, printing gRPC
    # tracebacks into the same log; stopped by the launcher, they print nothing.
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]
    run(args)
    rows = all_rows(warehouse)
    keys = {row[0] for row in rows["videos"]}
    assert len(keys) == SHORT
    assert rows == {table: [r for r in clean[table] if r[0] in keys] for table in clean}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _graph_bytes(video_list: Path, warehouse: Path, cache: Path) -> int:
    job = prepare(_args(video_list, warehouse, cache))
    job = dataclasses.replace(job, run_info=dataclasses.replace(job.run_info, run_id="r" * 23))
    pipeline = beam.Pipeline(runner="FnApiRunner")
    build(pipeline, job)
    return len(pipeline.to_runner_api().SerializeToString())


def test_the_graph_does_not_grow_with_the_videos_done(
    video_list, tmp_path, model_cache_dir, fer_weights
) -> None:
    """Serialized pipeline proto bytes at 0 and at 100,000 done keys: within the few bytes
    two builds of one graph differ by (compressed pickles of Beam's random ids); the keys
    themselves would add about 2 MB."""
    warehouse = tmp_path / "out"
    ensure_tables(str(warehouse))
    empty = _graph_bytes(video_list, warehouse, model_cache_dir)
    job = prepare(_args(video_list, warehouse, model_cache_dir))
    keys = [f"youtube-{i:011d}" for i in range(100_000)]
    rows = {"video_key": keys, "status": ["ok"] * len(keys), "cohort": ["c0"] * len(keys)}
    rows |= {"run_id": ["r"] * len(keys), "analysis_id": [job.run_info.analysis_id] * len(keys)}
    write_table(pa.table(rows), str(warehouse / "videos" / "run-r-00000-of-00001.parquet"))
    write_table(pa.table({"run_id": ["r"]}), str(warehouse / "runs" / "run-r.parquet"))
    assert len(done_video_keys(str(warehouse), job.run_info.analysis_id)) == 100_000
    assert abs(_graph_bytes(video_list, warehouse, model_cache_dir) - empty) < 1_000
