"""How steadily videos finish: per-video inference batches versus batches across videos.

    python benchmarks/steady.py [--videos 20] [--fps 2,10] [--trials 2]
                                [--clip pyfeat_single_face.mp4]

`--videos` names for one short bundled clip are served over a local HTTP server (as in
benchmarks/scale.py) and analysed by real `affectflow analyze` processes, alternating the
default (each inference batch holds one video's faces) and `--batch-across-videos`
(Beam's batching fills every batch of 64 across videos), `--trials` times per `--fps`.
Each per-video progress line is time-stamped as it arrives on stderr. Per run: the gaps
between consecutive finished videos (median, max; a burst shows as many near-zero gaps
and a few long ones), the seconds to the first video, and the throughput from the first
to the last video line (videos/min: the start-up left out) and over the whole run. The
best run of each configuration counts (the machine is shared); ratios are per-video
over across-videos. Prints JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CLIPS, LINE, serve, write_list

CONFIGS = {"per video": [], "across videos": ["--batch-across-videos"]}


def timed_run(args: list[str]) -> dict:
    """One `affectflow analyze ARGS`: the time of each per-video line, and the wall time."""
    command = [sys.executable, "-m", "affectflow.pipelines.cli", "analyze", *args]
    start, stamps = time.monotonic(), []
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def read() -> None:
        for line in process.stderr:
            if LINE.match(line):
                stamps.append(time.monotonic() - start)

    reader = threading.Thread(target=read)
    reader.start()
    process.wait()
    reader.join()
    wall = time.monotonic() - start
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited {process.returncode}")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    span = stamps[-1] - stamps[0]
    return {
        "wall_s": round(wall, 2),
        "first_video_s": round(stamps[0], 2),
        "median_gap_s": round(statistics.median(gaps), 3),
        "max_gap_s": round(max(gaps), 3),
        "videos_per_min_after_first": round((len(stamps) - 1) / span * 60, 1),
        "videos_per_min": round(len(stamps) / wall * 60, 1),
    }


def compare(folder: Path, video_list: Path, fps: str, trials: int) -> dict:
    """Every run of both configurations, alternating; the best run (least wall) of each."""
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for trial in range(trials):
        for name, flags in CONFIGS.items():
            warehouse = folder / f"out-{fps}-{trial}-{len(runs[name])}-{name.replace(' ', '-')}"
            args = [str(video_list), "--warehouse", str(warehouse)]
            args += ["--cache-dir", str(folder / "cache"), "--fps", fps, *flags]
            runs[name].append({"load": round(os.getloadavg()[0], 2), **timed_run(args)})
            print(json.dumps({"fps": fps, name: runs[name][-1]}), file=sys.stderr, flush=True)
    best = {name: min(results, key=lambda r: r["wall_s"]) for name, results in runs.items()}
    per, across = best["per video"], best["across videos"]
    return {
        "fps": float(fps),
        "best": best,
        "runs": runs,
        "ratios_per_video_over_across": {
            key: round(per[key] / across[key], 3) if across[key] else None
            for key in ("median_gap_s", "max_gap_s", "videos_per_min_after_first", "wall_s")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--fps", default="2,10")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--clip", default="pyfeat_single_face.mp4")
    args = parser.parse_args()
    cache = Path(os.environ.get("AFFECTFLOW_CACHE", Path.home() / ".cache" / "affectflow"))
    with tempfile.TemporaryDirectory() as tmp:
        folder, www = Path(tmp), Path(tmp) / "www"
        www.mkdir()
        (folder / "cache").symlink_to(cache)  # the model weights, fetched once
        video_list = write_list(folder, www, serve(www), CLIPS / args.clip, args.videos)
        results = [compare(folder, video_list, fps, args.trials) for fps in args.fps.split(",")]
    print(json.dumps({"clip": args.clip, "videos": args.videos, "results": results}, indent=2))


if __name__ == "__main__":
    main()
