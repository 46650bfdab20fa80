"""A real two-cohort warehouse for the report tests: one analyze run over real clips.

Cohort `depressed` has 5 videos with faces (plus one without faces and one that fails);
cohort `control` has exactly 4 videos, all with faces: small-cell suppression at the
default of 5 masks `control` and keeps `depressed`. Some clips are served over HTTP with
a set Last-Modified date, which yt-dlp's generic extractor records as `upload_date`;
local copies have none.
"""

from __future__ import annotations

import calendar
import dataclasses
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from affectflow.pipelines.analyze import run
from affectflow.pipelines.summary import RunSummary

PEXELS = "pyfeat_WolfgangLanger_Pexels.mp4"
SINGLE = "pyfeat_single_face.mp4"
HAMILTON = "hamilton_short_clip.mp4"
NO_FACE = "pyfeat_no_face.mp4"

# (file name, source clip, cohort, upload month "YYYY-MM" for HTTP or None for local)
CLIPS = [
    ("d1.mp4", PEXELS, "depressed", "2021-03"),
    ("d2.mp4", PEXELS, "depressed", None),
    ("d3.mp4", SINGLE, "depressed", "2021-03"),
    ("d4.mp4", HAMILTON, "depressed", "2021-04"),
    ("d5.mp4", SINGLE, "depressed", None),
    ("d6.mp4", NO_FACE, "depressed", None),
    ("c1.mp4", HAMILTON, "control", "2021-03"),
    ("c2.mp4", SINGLE, "control", "2021-04"),
    ("c3.mp4", HAMILTON, "control", None),
    ("c4.mp4", PEXELS, "control", None),
]
FPS = "5"


@dataclasses.dataclass(frozen=True)
class Cohorts:
    """The finished run: its warehouse and a DuckDB connection over the raw Parquet files."""

    warehouse: Path
    summary: RunSummary
    clips: list[tuple[str, str, str, str | None]] = dataclasses.field(default_factory=lambda: CLIPS)

    def raw(self) -> duckdb.DuckDBPyConnection:
        """Plain views over the Parquet files (no report SQL): for direct computations."""
        con = duckdb.connect()
        for table in ("videos", "faces", "errors", "runs"):
            con.read_parquet(str(self.warehouse / table / "**" / "*.parquet")).create_view(table)
        return con


def _serve(server, name: str, source: Path, month: str) -> str:
    url = server.add_file(f"cohorts/{name}", source)
    stamp = Path(server.root, "cohorts", name)
    year, mon = (int(part) for part in month.split("-"))
    seconds = calendar.timegm((year, mon, 15, 12, 0, 0))
    os.utime(stamp, (seconds, seconds))
    return url


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory, session_http_server, videos_dir, model_cache_dir, fer_weights):
    folder = tmp_path_factory.mktemp("cohorts")
    local = folder / "clips"
    local.mkdir()
    rows = []
    for name, clip, cohort, month in CLIPS:
        if month is None:
            url = str(shutil.copyfile(videos_dir / clip, local / name))
        else:
            url = _serve(session_http_server, name, videos_dir / clip, month)
        rows.append(f"{url},{cohort}")
    rows.append(f"{session_http_server.url('cohorts/missing.mp4')},depressed")
    video_list = folder / "videos.csv"
    video_list.write_text("url,cohort\n" + "\n".join(rows) + "\n")
    warehouse = folder / "out"
    summary = run(
        [
            str(video_list),
            "--warehouse", str(warehouse),
            "--cache-dir", str(model_cache_dir),
            "--allow-local",
            "--fps", FPS,
            "--retries", "0",
            "--socket-timeout", "5",
        ]
    )  # fmt: skip
    return Cohorts(warehouse, summary)
