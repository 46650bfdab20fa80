"""Peak memory of the resampling reports versus n_boot, n_perm and videos; prints JSON.

    python benchmarks/report_memory.py WAREHOUSE [--copies 1,100] [--n-boot 1000,100000]
                                       [--n-perm 1000,100000]

WAREHOUSE is a real one (any `affectflow analyze` output). For each `--copies` k, a temp
copy of it holds every committed `videos` and `faces` row k times under k distinct keys
(k times the videos, the same faces each), so the reports resample k times as many
videos. Each report runs in its own process (`affectflow report`) and its peak RSS
(ru_maxrss of that process) is reported: `negative_share` for each n_boot (the
bootstrap), `cohort_comparison` for each n_perm (with n_boot 1: the permutation test).
DuckDB spills past `queries.runner.MEMORY_LIMIT`, which bounds both.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

CHILD = """
import resource, sys
from affectflow.pipelines.report import main
import duckdb
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code, file=sys.stderr)
"""


def _replicated(warehouse: Path, copies: int, folder: Path) -> Path:
    """A copy of `warehouse` whose committed videos and faces are there `copies` times."""
    target = folder / f"copies-{copies}"
    shutil.copytree(warehouse, target)
    if copies == 1:
        return target
    con = duckdb.connect()
    for table in ("videos", "faces"):
        files = sorted(str(p) for p in (target / table).rglob("run-*.parquet"))
        out = target / table / "run_date=2000-01-01" / "cohort_folder=copies"
        out.mkdir(parents=True)
        run_id = Path(files[0]).name.split("-")[1]
        con.execute(
            f"copy (select * replace (video_key || '~' || c.range as video_key) "
            f"from read_parquet($files, union_by_name = true) cross join range(1, $k) as c) "
            f"to '{out}/run-{run_id}-copies-00000-of-00001.parquet'",
            {"files": files, "k": copies},
        )
    return target


def _peak_mb(warehouse: Path, report: str, params: dict[str, int]) -> dict:
    argv = [report, "--warehouse", str(warehouse), "--min-videos", "1", "--format", "json"]
    argv += [f"--param={k}={v}" for k, v in params.items()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1].split()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "report": report,
        **params,
        "exit": int(last[1]),
        "peak_rss_mb": round(int(last[0]) / 1024, 1),
        "cpu_s": round(cpu_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--copies", default="1,100")
    parser.add_argument("--n-boot", default="1000,100000")
    parser.add_argument("--n-perm", default="1000,100000")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for copies in (int(c) for c in args.copies.split(",")):
            warehouse = _replicated(args.warehouse, copies, Path(folder))
            glob = f"{warehouse}/videos/**/*.parquet"
            videos = duckdb.execute(
                "select count(distinct video_key) from read_parquet($glob)", {"glob": glob}
            ).fetchone()[0]
            for n in (int(v) for v in args.n_boot.split(",")):
                row = _peak_mb(warehouse, "negative_share", {"n_boot": n})
                results.append({"videos": videos, **row})
            for n in (int(v) for v in args.n_perm.split(",")):
                params = {"n_boot": 1, "n_perm": n}
                row = _peak_mb(warehouse, "cohort_comparison", params)
                results.append({"videos": videos, **row})
            shutil.rmtree(warehouse)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
