"""The worker image: its Dockerfile's steps, run into a folder, carry every weight a
default job loads, and workers use them (never a path of the launcher's machine).

`deploy/dataflow/Dockerfile` cannot be built here (no Docker, no internet), so its steps
run into a temporary folder standing for the image's `/`: `COPY . /opt/affectflow`
copies the repository, `pip install /opt/affectflow` installs it there (no
dependencies: the base image's are this environment's), each `ENV` (paths moved under
the folder), each `RUN affectflow ...`. A step this test does not know fails it: teach
it the new step. Then a job with the default settings runs on Beam's portable runner
whose worker pool has only that image: its package, its cache, an empty HOME, and pip
with no index.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import pytest
import torch

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.analyze import execute, prepare
from affectflow.pipelines.analyze_cli import main as analyze_main
from affectflow.schemas.records import PREFLIGHT
from affectflow.schemas.settings import ClassifySettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "dataflow" / "Dockerfile"
pytestmark = pytest.mark.slow


def dockerfile_steps() -> list[tuple[str, str]]:
    """(instruction, argument) of each step, continuation lines joined, comments out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, argument = line.partition(" ")
            steps.append((instruction.upper(), argument.strip()))
    return steps


@dataclasses.dataclass(frozen=True)
class Image:
    root: Path  # the image's "/"
    env: dict[str, str]  # what its processes see


def _inside(root: Path, value: str) -> str:
    return str(root / value.lstrip("/")) if value.startswith("/") else value


def _pip_install(argument: str, root: Path) -> None:
    """`pip install ... torch==X` (the base image's CUDA build): the pin is this
    environment's torch; `pip install /opt/affectflow`: the package into the image."""
    if "torch==" in argument:
        pinned = re.search(r"torch==([\w.]+)", argument).group(1)
        assert torch.__version__.split("+")[0] == pinned
        deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        assert f"torch=={pinned}" in deps, "the image's torch is not the package's pin"
        return
    assert "/opt/affectflow" in argument, f"unknown pip step: {argument}"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    command += ["--no-build-isolation", "--target", str(root / "site")]
    subprocess.run([*command, str(root / "opt" / "affectflow")], check=True, capture_output=True)


def _copy_context(root: Path) -> None:
    """`COPY . /opt/affectflow`: the build context, without what git ignores (a stale
    build/ would hide a module deleted since) and without git's own folder."""
    ignored = [line for line in (ROOT / ".gitignore").read_text().split() if line]
    patterns = [pattern.strip("/") for pattern in ignored] + [".git", ".ci-venv", "venv*"]
    shutil.copytree(ROOT, root / "opt" / "affectflow", ignore=shutil.ignore_patterns(*patterns))


def build_image(root: Path) -> Image:
    """Run the Dockerfile's steps into `root`."""
    env = {"PATH": os.environ["PATH"], "HOME": str(root / "root")}
    env["PYTHONPATH"] = str(root / "site")
    for instruction, argument in dockerfile_steps():
        if instruction in ("FROM", "ARG", "ENTRYPOINT"):
            continue  # the base image is this environment
        if instruction == "COPY":
            assert argument == ". /opt/affectflow", f"unknown COPY step: {argument}"
            _copy_context(root)
        elif instruction == "ENV":
            name, _, value = argument.partition("=")
            env[name] = _inside(root, value)
        elif instruction == "RUN" and argument.startswith("pip install"):
            _pip_install(argument, root)
        elif instruction == "RUN" and argument.startswith("affectflow "):
            command = [sys.executable, "-m", "affectflow.pipelines.cli"]
            subprocess.run(command + shlex.split(argument)[1:], check=True, env=env)
        else:
            raise AssertionError(f"a Dockerfile step this test does not know: {argument}")
    (root / "root").mkdir(exist_ok=True)
    return Image(root, env)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Image:
    return build_image(tmp_path_factory.mktemp("image"))


def worker_env(image: Image) -> dict[str, str]:
    """The worker pool's environment: the image only, and pip cannot download."""
    return {**image.env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}


def test_the_image_holds_the_package_from_the_repository(image) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import affectflow.warehouse.sql as m; print(m.__file__)"],
        env=worker_env(image),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found.startswith(str(image.root / "site"))
    assert (image.root / "site" / "affectflow" / "warehouse" / "committed.sql").is_file()


def test_a_default_job_needs_nothing_but_the_image(
    tmp_path, videos_dir, model_cache_dir, portable_services, image, monkeypatch
) -> None:
    default = get_model_spec(ClassifySettings().model)  # whatever the default model is
    expected_sha256 = default.fetch_weights(str(model_cache_dir)).sha256
    monkeypatch.setenv("AFFECTFLOW_CACHE_DIR", str(model_cache_dir))  # the launcher's cache
    video_list = tmp_path / "videos.txt"
    video_list.write_text(f"{videos_dir / 'pyfeat_single_face.mp4'}\n")
    worker_cache = tmp_path / "opt" / "affectflow-cache"  # the documented --cache-dir
    with portable_services(worker_env(image)) as flags:
        job = prepare(
            [str(video_list), "--cohort", "a", "--allow-local", "--warehouse",
             str(tmp_path / "out"), "--cache-dir", str(worker_cache), *flags]
        )  # fmt: skip
        assert not worker_cache.exists()  # the launcher wrote nothing there
        assert str(model_cache_dir) not in repr(job.settings)  # no launcher path
        assert job.settings.detect.detector_weights_path == "installed:mtcnn"
        summary = execute(job)
    assert (summary.videos_ok, summary.videos_failed) == (1, 0)
    rows = duckdb.execute(
        "select distinct weights_sha256 from read_parquet($glob)",
        {"glob": str(tmp_path / "out" / "faces" / "**" / "*.parquet")},
    ).fetchall()
    assert rows == [(expected_sha256,)]  # the image's copy is the launcher's
    assert {p.name for p in worker_cache.iterdir()} <= {"videos", "tmp"}  # workers' only


def test_a_worker_without_weights_fails_the_job_in_one_line(
    tmp_path,
    videos_dir,
    model_cache_dir,
    portable_services,
    image,
    monkeypatch,
    capsys,
) -> None:
    monkeypatch.setenv("AFFECTFLOW_CACHE_DIR", str(model_cache_dir))
    video_list = tmp_path / "videos.txt"
    video_list.write_text(f"{videos_dir / 'pyfeat_single_face.mp4'}\n")
    bare = {**worker_env(image), "AFFECTFLOW_CACHE_DIR": str(tmp_path / "empty-cache")}
    with portable_services(bare) as flags:
        code = analyze_main(
            [str(video_list), "--cohort", "a", "--allow-local",
             "--warehouse", str(tmp_path / "out"), *flags]
        )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"affectflow analyze: {PREFLIGHT}")
    assert "the face detector (installed:mtcnn): " in err[0] and "[while" not in err[0]
    written = (tmp_path / "out").glob("**/*.parquet")
    assert {p.name for p in written} <= {"empty.parquet"}  # nothing analysed, no unit
