"""Issue 24's GPU figures in one device call: detection, classifier, whole job; JSON.

    bash benchmarks/device_wheels.sh      # here, once: the pinned wheels into .whl/
    # then one device `run` call, carry [".whl"], timeout_s 540:
    PYTHONUNBUFFERED=1 python3 benchmarks/device_run.py

    python benchmarks/device_run.py --no-install --copies 1   # here: the plumbing, on CPU

Standard library only, run from the repository root by the image's `python3`. Unless
`--no-install`, it first installs `.whl/*.whl` (what the GPU image lacks: Beam, DuckDB,
yt-dlp, ...) into `--site` with the device README's offline pip line and links the
checkout there as `affectflow`, so that `PYTHONPATH=SITE` imports this code (no build, no
index). The job's cache (`AFFECTFLOW_CACHE_DIR`, unless set) is a fresh copy of
`.whl/cache`: the face detector's weights and ONNX exports, made by device_wheels.sh. Then,
each step bounded by `--budget-s` (steps that would start past it are skipped):

- `detect_batch`: `detect_batch.py --devices cuda --batches 1,16,64,256` (MTCNN alone,
  with the kernels' busy time per frame);
- `search_host_work`: `search_host_work.py`, the host CPU work of the batched search's
  crops per frame, on the device's own CPU;
- `inference`: `inference.py` on cuda, both mini-Xceptions, fp32 and bf16 (faces/s);
- `job_cuda`, `job_cpu`: `marginal.py --all-cores --copies N --rounds 1`, the whole job
  (FnApiRunner, local files, `--workers auto`), with and without `--device cuda
  --detect-batch 64 --batch-across-videos`: marginal sampled frames per wall second.

Steps that need CUDA are reported as skipped where torch sees none. Each step's JSON,
`env.json` (versions, `pip check`), `summary.json` and `log.txt` go to `--out`
(default `$OUT`, else `out/device_run`); a summary is printed at the end.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, importlib.metadata as md, platform, torch
names = ["apache-beam", "duckdb", "yt-dlp", "numpy", "pyarrow", "opencv-python-headless",
         "onnxruntime", "onnx", "grpcio", "protobuf", "h5py"]
found = {}
for name in names:
    try:
        found[name] = md.version(name)
    except md.PackageNotFoundError:
        found[name] = None
import affectflow.pipelines.analyze, affectflow.models.mtcnn  # noqa: the job imports
cuda = torch.cuda.is_available()
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__,
    "cuda": cuda, "gpu": torch.cuda.get_device_name() if cuda else None,
    "cpus": len(__import__("os").sched_getaffinity(0)), "packages": found}))
"""


def install(site: Path, log: list[str]) -> None:
    """The carried wheels into `site` (offline), and this checkout linked as affectflow."""
    wheels = sorted(glob.glob(str(ROOT / ".whl" / "*.whl")))
    if not wheels:
        sys.exit(f"no wheels in {ROOT / '.whl'}: run benchmarks/device_wheels.sh first")
    if importlib.util.find_spec("lzma") is None:
        sys.exit("this Python has no lzma module: it cannot read the LZMA-packed wheels")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    pip += ["--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site), *wheels]
    done = subprocess.run(pip, capture_output=True, text=True)
    log.append(f"$ pip install --target {site} ({len(wheels)} wheels): rc {done.returncode}")
    log.append(done.stderr[-2000:])
    if done.returncode:
        sys.exit(f"installing the wheels failed:\n{done.stderr[-2000:]}")
    link = site / "affectflow"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT, target_is_directory=True)


def environment(args: argparse.Namespace, log: list[str]) -> dict[str, str]:
    """The variables every step runs with: PYTHONPATH (after install), cache, weights."""
    env = dict(os.environ)
    if not args.no_install:
        install(Path(args.site), log)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.site, env.get("PYTHONPATH")]))
    if not env.get("AFFECTFLOW_CACHE_DIR"):
        cache = Path(tempfile.mkdtemp(prefix="affectflow-cache-")) / "cache"
        if (ROOT / ".whl" / "cache").is_dir():
            shutil.copytree(ROOT / ".whl" / "cache", cache)
        env["AFFECTFLOW_CACHE_DIR"] = str(cache)
    return env


def run_json(argv: list[str], env: dict[str, str], timeout: float, log: list[str]) -> dict:
    """One benchmark's JSON (its output from the first `{`), or why there is none. A run
    past `timeout` is killed with every process it started (its own session)."""
    log.append("$ " + " ".join(argv))
    started = time.perf_counter()
    with subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            stdout, stderr = child.communicate()
            log.append(stderr[-3000:])
            return {"error": f"timed out after {timeout:.0f} s", "stderr_tail": stderr[-1500:]}
    log.append(f"rc {child.returncode} in {time.perf_counter() - started:.1f} s")
    log.append(stderr[-3000:])
    if child.returncode or "{" not in stdout:
        return {"error": f"rc {child.returncode}", "stderr_tail": stderr[-1500:]}
    return json.loads(stdout[stdout.index("{") :])


def steps(copies: int) -> dict[str, tuple[dict[str, list[str]], bool, float]]:
    """Each step: its runs (label -> argv), whether it needs CUDA, each run's cap in s."""
    py = sys.executable
    detect = [py, "benchmarks/detect_batch.py", "--devices", "cuda", "--batches", "1,16,64,256"]
    infer = [py, "benchmarks/inference.py", "--devices", "cuda", "--layouts", "nchw"]
    infer += ["--models", "affectflow-minixception,fer-minixception", "--seconds", "2"]
    infer += ["--batches", "1,256,4096,16384"]
    job = [py, "benchmarks/marginal.py", "--all-cores", "--copies", str(copies), "--rounds", "1"]
    gpu_job = [*job, "--", "--device", "cuda", "--detect-batch", "64", "--batch-across-videos"]
    host = [py, "benchmarks/search_host_work.py"]
    return {
        "detect_batch": ({"": detect}, True, 120.0),
        "search_host_work": ({"": host}, False, 60.0),
        "inference": ({"fp32": infer, "bf16": [*infer, "--bf16"]}, True, 45.0),
        "job_cuda": ({"": gpu_job}, True, 200.0),
        "job_cpu": ({"": job}, False, 200.0),
    }


def headline(name: str, result: dict) -> str:
    """The figures of one step's JSON, on one line."""
    if "skipped" in result or "error" in result:
        return str(result.get("skipped") or result.get("error"))
    if name.startswith("job_"):
        run = result["runs"]["this"][0]
        keys = ("marginal_frames_per_wall_s", "frames", "short_job_wall_s", "faces_long")
        return ", ".join(f"{key} {run[key]}" for key in keys)
    if name == "detect_batch":
        return "; ".join(
            f"batch {r['batch']} {r['frames_per_s']} frames/s (count diff {r['box_count_diff']},"
            f" max {r['max_box_diff_px']} px, kernels {r.get('kernel_ms_per_frame')} ms/frame)"
            for r in result["rows"]
        )
    if name == "search_host_work":
        return json.dumps(result["host_cpu_ms_per_frame"])
    parts = []
    for label, part in result.items():
        best: dict[str, dict] = {}
        for row in part.get("results", []):
            if row["faces_per_s"] > best.get(row["model"], {}).get("faces_per_s", -1):
                best[row["model"]] = row
        parts += [f"{label} {m} {r['faces_per_s']:.0f}/s (b{r['batch']})" for m, r in best.items()]
        if not best:
            parts.append(f"{label}: {part.get('skipped') or part.get('error')}")
    return "; ".join(parts)


def run_steps(args: argparse.Namespace, env: dict, no_cuda: str, log: list[str]) -> dict:
    """Every step within the budget: its JSON to `args.out`, its headline returned.
    `no_cuda`: why the steps that need CUDA are skipped (empty: they run)."""
    headlines = {}
    for name, (runs, needs_cuda, cap) in steps(args.copies).items():
        if args.only and name not in args.only.split(","):
            continue
        results = {}
        for label, argv in runs.items():
            left = args.budget_s - (time.perf_counter() - args.started)
            if needs_cuda and no_cuda:
                results[label] = {"skipped": no_cuda}
            elif left < 30:
                results[label] = {"skipped": f"budget: {left:.0f} s left"}
            else:
                results[label] = run_json(argv, env, min(cap, left), log)
        result = results.get("", results)
        (Path(args.out) / f"{name}.json").write_text(json.dumps(result, indent=2))
        headlines[name] = headline(name, result)
        print(f"{name}: {headlines[name]}", flush=True)
    return headlines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-install", action="store_true", help="use this environment")
    parser.add_argument("--site", default="/tmp/site", help="where the wheels go")
    parser.add_argument("--copies", type=int, default=16, help="marginal.py --copies")
    parser.add_argument("--budget-s", type=float, default=420.0, help="whole run, seconds")
    parser.add_argument("--only", default="", help="comma-separated steps (default: all)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "out/device_run")
    args = parser.parse_args()
    args.started, log = time.perf_counter(), []
    Path(args.out).mkdir(parents=True, exist_ok=True)
    env = environment(args, log)
    probe = run_json([sys.executable, "-c", PROBE], env, 120, log)
    check = subprocess.run([sys.executable, "-m", "pip", "check"], env=env, capture_output=True)
    probe["pip_check"] = check.stdout.decode(errors="replace").splitlines()
    (Path(args.out) / "env.json").write_text(json.dumps(probe, indent=2))
    print("env:", json.dumps({k: v for k, v in probe.items() if k != "pip_check"}), flush=True)
    summary = {"env": {k: probe.get(k) for k in ("python", "torch", "gpu", "cpus", "error")}}
    no_cuda = "" if probe.get("cuda") else "torch sees no CUDA device"
    if "error" in probe:
        no_cuda = "the environment probe failed (env.json)"
        print(probe.get("stderr_tail", ""), flush=True)
    summary |= run_steps(args, env, no_cuda, log)
    summary["wall_s"] = round(time.perf_counter() - args.started, 1)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    (Path(args.out) / "log.txt").write_text("\n".join(log))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
