"""One worker versus two on the bundled clips (each copied `--repeat` times); prints JSON.

    python benchmarks/workers.py [--repeat 2] [--workers 1,2]

Runs benchmarks/end_to_end.py once per worker count, each in its own subprocess (so
peak RSS is per run), and prints the speed-up of each count over the first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

END_TO_END = Path(__file__).resolve().parent / "end_to_end.py"


def run_once(workers: int, repeat: int, fps: float) -> dict:
    command = [sys.executable, str(END_TO_END), "--workers", str(workers)]
    command += ["--repeat", str(repeat), "--fps", str(fps)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout[done.stdout.index("{") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeat", type=int, default=2, help="copies of the 6 clips")
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args()
    runs = [run_once(int(n), args.repeat, args.fps) for n in args.workers.split(",")]
    base = runs[0]["seconds"]
    print(
        json.dumps(
            {
                "benchmark": "workers",
                "videos": runs[0]["videos"],
                "runs": [
                    {
                        "workers": r["workers"],
                        "seconds": r["seconds"],
                        "sampled_frames_per_s": r["sampled_frames_per_s"],
                        "speedup": round(base / r["seconds"], 2),
                        "peak_rss_mb": r["peak_rss_mb"],
                    }
                    for r in runs
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
