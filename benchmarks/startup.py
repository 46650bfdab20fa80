"""How long each command takes to start and answer, in a fresh process; prints JSON.

    python benchmarks/startup.py --warehouse out [--repeat 5] [--baseline-python PY]

Each case runs `python -m affectflow.pipelines.cli ...` (what the `affectflow` script
runs) `--repeat` times, alternating cases so that machine load spreads over all of them,
and reports the median wall and CPU seconds (the child's user + system time, from
`resource.getrusage`), whether it imported Beam or torch is `tests/pipelines/
test_startup.py`'s to check. Targets: `report`, `sql -c` and `--help` under 1 s, a
mistake told under 1 s, on a quiet machine. `--warehouse` is any finished warehouse (the
README's example job's `out`); the mistakes use a list written to a temporary folder.
`--baseline-python` runs the same cases with another environment's interpreter (another
checkout's venv) in the same alternation, for a side-by-side ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.0


def cases(warehouse: str, folder: Path) -> dict[str, list[str]]:
    """Command lines by name; the ones with a target first."""
    good = folder / "list.csv"
    good.write_text("url,cohort\nhttps://example.org/a.mp4,a\n")
    out = str(folder / "never-written")
    return {
        "--help": ["--help"],
        "analyze --help": ["analyze", "--help"],
        "refresh --help": ["refresh", "--help"],
        "report --list": ["report", "--list"],
        "report": ["report", "--warehouse", warehouse],
        "sql -c": ["sql", "--warehouse", warehouse, "-c", "select count(*) from videos"],
        "mistake: missing list": ["analyze", str(folder / "nope.csv"), "--warehouse", out],
        "mistake: bad value": ["analyze", str(good), "--warehouse", out, "--fps", "-1"],
        "mistake: typo'd flag": [
            "analyze", str(good), "--warehouse", out, "--keep-video",
        ],
    }  # fmt: skip


def timed(python: str, argv: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of one run of the command in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(
        [python, "-m", "affectflow.pipelines.cli", "--quiet", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    ).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, code


def measure(pythons: dict[str, str], commands: dict[str, list[str]], repeat: int) -> dict:
    samples: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for _ in range(repeat):
        for name, argv in commands.items():
            for label, python in pythons.items():
                samples.setdefault((label, name), []).append(timed(python, argv))
    results: dict = {}
    for (label, name), runs in samples.items():
        wall = statistics.median(r[0] for r in runs)
        results.setdefault(label, {})[name] = {
            "wall_s": round(wall, 3),
            "cpu_s": round(statistics.median(r[1] for r in runs), 3),
            "exit_codes": sorted({r[2] for r in runs}),
            "under_1s": wall < TARGET_S,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="a finished warehouse folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-python", help="another environment's python, side by side")
    args = parser.parse_args()
    pythons = {"this": sys.executable}
    if args.baseline_python:
        pythons["baseline"] = args.baseline_python
    with tempfile.TemporaryDirectory() as folder:
        results = measure(pythons, cases(args.warehouse, Path(folder)), args.repeat)
    if "baseline" in results:
        results["ratio_baseline_over_this"] = {
            name: round(results["baseline"][name]["wall_s"] / max(row["wall_s"], 1e-9), 2)
            for name, row in results["this"].items()
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
