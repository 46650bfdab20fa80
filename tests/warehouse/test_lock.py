"""The warehouse lock: one holder across processes, re-entrant within one, gone on kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from affectflow.warehouse.lock import WarehouseBusy, lock_path, warehouse_lock

HOLD = (
    "import sys; from affectflow.warehouse.lock import warehouse_lock\n"
    "with warehouse_lock(sys.argv[1], sys.argv[2], command='holder'):\n"
    "    print('held', flush=True); sys.stdin.read()"
)


def _holder(warehouse: Path, cache: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse), str(cache)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.mark.slow
def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    holder = _holder(tmp_path / "wh", tmp_path / "cache")
    try:
        with (
            pytest.raises(WarehouseBusy, match=f"pid {holder.pid} .*holder"),
            warehouse_lock(str(tmp_path / "wh"), str(tmp_path / "cache"), command="x"),
        ):
            pass
    finally:
        holder.communicate("", timeout=30)
    with warehouse_lock(str(tmp_path / "wh"), str(tmp_path / "cache"), command="x"):
        pass  # free again once the holder finished


@pytest.mark.slow
def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path / "wh", tmp_path / "cache")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with warehouse_lock(str(tmp_path / "wh"), str(tmp_path / "cache"), command="x", wait_s=5):
        assert lock_path(str(tmp_path / "wh"), str(tmp_path / "cache")).exists()


@pytest.mark.slow
def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    warehouse, cache = str(tmp_path / "wh"), str(tmp_path / "cache")
    with warehouse_lock(warehouse, cache, command="outer"):
        with warehouse_lock(warehouse, cache, command="inner"):
            pass
        holder = subprocess.run(
            [sys.executable, "-c", HOLD, warehouse, cache],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert holder.returncode != 0 and "WarehouseBusy" in holder.stderr


def test_a_remote_warehouse_is_locked_in_the_local_cache(tmp_path: Path) -> None:
    path = lock_path("gs://bucket/warehouse", str(tmp_path / "cache"))
    assert path.parent == tmp_path / "cache" / "locks" and path.name.startswith("warehouse-")
    assert lock_path("gs://bucket/warehouse/", str(tmp_path / "cache")) == path
