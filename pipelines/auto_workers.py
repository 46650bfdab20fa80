"""`--workers auto`: one local worker process per core, when the videos to do repay it.

A worker process costs seconds of start-up (imports, models): a short list, or a rerun
whose videos are nearly all done, runs faster in one process whose stages use every
core's threads (`models/threads.py`).
"""

from __future__ import annotations

from affectflow.models.threads import available_cores
from affectflow.pipelines.options import AnalyzeOptions, is_local_runner
from affectflow.schemas.records import VideoRequest
from affectflow.sources.video_list import read_video_list
from affectflow.transforms.listed import ListedVideos
from affectflow.warehouse.commit import done_video_keys

# A second worker only for lists of at least this many videos to do per worker: a worker's
# start-up (about 6 s) costs what about 550 sampled frames do, and 12 short bundled clips
# ran slower on 2 workers than on 1 (README "Speed").
VIDEOS_PER_WORKER = 8


def auto_workers(videos: int, cores: int) -> int:
    """One worker per core, but each with VIDEOS_PER_WORKER videos or more."""
    return max(1, min(cores, videos // VIDEOS_PER_WORKER))


def resolve_workers(
    opts: AnalyzeOptions, video_list: str | None, videos: ListedVideos | None, analysis_id: str
) -> int:
    """The workers `--workers auto` means for this job: from the rows not done yet under
    `analysis_id` (all of them with `--force`) and the cores available; 1 off this machine."""
    if not is_local_runner(opts):
        return 1
    if videos is not None:
        return auto_workers(len(videos), available_cores())
    done: frozenset[str] = frozenset()
    if not opts.force:
        try:
            done = done_video_keys(opts.warehouse, analysis_id)
        except Exception:  # an estimate only: a warehouse not readable here counts as empty
            done = frozenset()
    rows = read_video_list(video_list, default_cohort=opts.cohort, allow_local=opts.allow_local)
    todo = sum(1 for row in rows if not isinstance(row, VideoRequest) or row.video_key not in done)
    return auto_workers(todo, available_cores())
