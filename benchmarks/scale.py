"""The analyze job at N = 10, 100, 1,000 videos; prints JSON.

    python benchmarks/scale.py [--sizes 10,100,1000] [--clip pyfeat_single_face.mp4]
                               [--fps 10] [--unit-videos 20] [--workers auto]

N names for one bundled clip (symlinks under distinct names: distinct URLs, distinct
videos) are served by a local HTTP server, so yt-dlp really downloads each. For each N
a real `affectflow analyze` process runs the list into a fresh warehouse, then the same
command runs again (everything is already done). Measured per N: wall time and time per
video (with and without the seconds to the first finished video, which hold the start-up),
seconds to the first finished video (its progress line), peak memory of the process
group (PSS and the RSS sum, polled from /proc every 0.2 s; see `group_memory_mb`), the
rerun's wall time (the "already done" check and a run of skipped rows), and the
warehouse's Parquet files after each run. `--workers` goes to analyze (its default,
auto, starts more workers for longer lists: each holds its own models), and the most
processes seen at once in the group is reported (`peak_processes`).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
LINE = re.compile(rb"\[affectflow\] \d+/\d+ ")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log."""


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """yt-dlp hangs up early on purpose (probing): no traceback."""


def serve(root: Path) -> str:
    """Serve `root` on 127.0.0.1 in a thread; returns its base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def write_list(folder: Path, www: Path, base_url: str, clip: Path, videos: int) -> Path:
    for index in range(videos):
        link = www / f"n{videos}-{index:05d}.mp4"
        if not link.exists():
            link.symlink_to(clip)
    rows = "".join(f"{base_url}/n{videos}-{i:05d}.mp4,c{i % 2}\n" for i in range(videos))
    video_list = folder / f"videos-{videos}.csv"
    video_list.write_text("url,cohort\n" + rows)
    return video_list


def group_memory_mb(pgid: int) -> tuple[float, float, int]:
    """(RSS, PSS) summed over every process of a process group, in MB, and its processes.

    RSS counts a page shared by several processes once per process: the download
    pool's forked children share their parent's pages (copy-on-write), so the RSS sum
    overstates the group's memory several times over while they run. PSS divides each
    shared page among its sharers: its sum is the memory the group really holds.
    """
    rss_kb = pss_kb = processes = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:  # field 5 of stat: the process group
                continue
            processes += 1
            rss_kb += int(fields[21]) * PAGE_KB  # field 24: resident pages
            for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return rss_kb / 1024, pss_kb / 1024, processes


def run_job(args: list[str], log: Path) -> dict:
    """One `affectflow analyze` process: wall time, first video, peak RSS of its group."""
    command = [sys.executable, "-m", "affectflow.pipelines.cli", "analyze", *args]
    start, first, peak_rss, peak_pss, peak_processes = time.monotonic(), None, 0.0, 0.0, 0
    with log.open("wb") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
        while process.poll() is None:
            rss, pss, processes = group_memory_mb(process.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            peak_processes = max(peak_processes, processes)
            if first is None and LINE.search(log.read_bytes()):
                first = time.monotonic() - start
            time.sleep(0.2)
    seconds = time.monotonic() - start
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited {process.returncode}: {log.read_text()[-2000:]}")
    summary = process.stdout.read().decode().strip().splitlines()[-1]
    return {
        "seconds": round(seconds, 2),
        "first_video_s": round(first, 2) if first is not None else None,
        "peak_pss_mb": round(peak_pss, 1),
        "peak_rss_sum_mb": round(peak_rss, 1),
        "peak_processes": peak_processes,
        "summary": summary,
    }


def parquet_files(warehouse: Path) -> int:
    """Parquet files of the tables (the empty placeholders left out)."""
    return sum(1 for p in warehouse.rglob("*.parquet") if p.name != "empty.parquet")


def measure(
    folder: Path, www: Path, base_url: str, clip: Path, videos: int, extra: list[str]
) -> dict:
    video_list = write_list(folder, www, base_url, clip, videos)
    warehouse = folder / f"out-{videos}"
    args = [str(video_list), "--warehouse", str(warehouse), "--cache-dir", str(folder / "cache")]
    args += extra
    first = run_job(args, folder / f"run-{videos}.log")
    files_first = parquet_files(warehouse)
    again = run_job(args, folder / f"rerun-{videos}.log")
    startup = first["first_video_s"] or 0.0
    return {
        "videos": videos,
        **first,
        "seconds_per_video": round(first["seconds"] / videos, 3),
        "seconds_per_video_after_first": round(
            (first["seconds"] - startup) / max(videos - 1, 1), 3
        ),
        "rerun_seconds": again["seconds"],
        "rerun_summary": again["summary"],
        "parquet_files_after_run": files_first,
        "parquet_files_after_rerun": parquet_files(warehouse),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--clip", default="pyfeat_single_face.mp4")
    parser.add_argument("--fps", default="10")
    parser.add_argument("--unit-videos", default="20")
    parser.add_argument("--workers", default="auto", help="analyze's --workers (N or auto)")
    args = parser.parse_args()
    cache = Path(os.environ.get("AFFECTFLOW_CACHE", Path.home() / ".cache" / "affectflow"))
    extra = ["--fps", args.fps, "--unit-videos", args.unit_videos, "--workers", args.workers]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, www = Path(tmp), Path(tmp) / "www"
        www.mkdir()
        (folder / "cache").symlink_to(cache)  # the model weights, fetched once
        base_url = serve(www)
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(measure(folder, www, base_url, CLIPS / args.clip, size, extra))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    smallest, largest = results[0], results[-1]
    print(
        json.dumps(
            {
                "clip": args.clip,
                "fps": float(args.fps),
                "unit_videos": int(args.unit_videos),
                "workers": args.workers,
                "runs": results,
                "per_video_ratio_largest_vs_smallest": round(
                    largest["seconds_per_video_after_first"]
                    / smallest["seconds_per_video_after_first"],
                    3,
                ),
                "peak_pss_ratio_largest_vs_smallest": round(
                    largest["peak_pss_mb"] / smallest["peak_pss_mb"], 3
                ),
                "peak_rss_sum_ratio_largest_vs_smallest": round(
                    largest["peak_rss_sum_mb"] / smallest["peak_rss_sum_mb"], 3
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
