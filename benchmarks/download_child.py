"""What a bounded download child costs: CPU seconds and wall time per fetch; prints JSON.

    python benchmarks/download_child.py [--fetches 8]

Serves the bundled single-face clip from a local HTTP server on 127.0.0.1 and fetches it
`--fetches` times one after another through `bounded_fetch.fetch_bounded` (each fetch a
fresh child interpreter: Python and yt-dlp start, extractor patterns compiled, the
download). CPU is the children's (`RUSAGE_CHILDREN`), so the parent's waiting is not
counted.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from affectflow.sources.bounded_child import FetchLimits
from affectflow.sources.bounded_fetch import fetch_bounded
from affectflow.sources.ytdlp_fetch import ytdlp_options

CLIP = Path(__file__).resolve().parent.parent / "tests/data/videos/pyfeat_single_face.mp4"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(CLIP, Path(folder) / "clip.mp4")
        handler = functools.partial(_Quiet, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/clip.mp4"
        limits = FetchLimits(allow_private=True)
        before, began = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        for i in range(args.fetches):
            fetch_bounded(url, ytdlp_options(f"{folder}/out{i}.%(ext)s"), limits=limits)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - began
        server.shutdown()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(
        json.dumps(
            {
                "fetches": args.fetches,
                "clip_bytes": CLIP.stat().st_size,
                "child_cpu_s_per_fetch": round(cpu / args.fetches, 3),
                "wall_s_per_fetch": round(wall / args.fetches, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
