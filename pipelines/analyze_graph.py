"""The analyze job's graph: the stages wired from a prepared `Job` (`pipelines.analyze`)."""

from __future__ import annotations

import apache_beam as beam

from affectflow.pipelines.job import Job
from affectflow.transforms.detect import DetectFaces
from affectflow.transforms.download import DownloadVideos
from affectflow.transforms.infer import ClassifyEmotions
from affectflow.transforms.ingest import ReadVideoList
from affectflow.transforms.listed import ListedVideos, ReadListedVideos
from affectflow.transforms.outcomes import DropSettled, ReadSettled, SplitDone
from affectflow.transforms.unit_buffer import Role
from affectflow.transforms.units import CommitUnits
from affectflow.transforms.video_cache import ReleaseVideos
from affectflow.warehouse.layout import join, staging_dir


def listed_file(warehouse: str, run_id: str) -> str:
    """Where a run's gathered rows (`ListedVideos`) are written for the pipeline to read."""
    return join(staging_dir(warehouse, run_id), "input", "listed.jsonl")


def read_requests(
    pipeline: beam.Pipeline, videos: str | ListedVideos, job: Job
) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
    """(requests, invalid rows, failed sources) from a list file or rows gathered before."""
    if isinstance(videos, ListedVideos):
        listed = listed_file(job.opts.warehouse, job.run_info.run_id)
        return pipeline | "ListedVideos" >> ReadListedVideos(listed)
    requests, ingest_failed = pipeline | "ReadVideoList" >> ReadVideoList(
        videos, job.settings.ingest
    )
    return requests, ingest_failed, pipeline | "NoSourceFailures" >> beam.Create([])


def build(pipeline: beam.Pipeline, job: Job) -> None:
    """Wire the stages; every input row ends as exactly one `videos` row, in a unit.

    "Already done?" is a step of the graph (`ReadSettled`, a side input read from the
    warehouse when the job runs), and the failure routes are not flattened: each ends in
    `CommitUnits` inside the step that produced it (see `transforms.units`).
    """
    settings, run, opts = job.settings, job.run_info, job.opts
    requests, ingest_failed, source_failed = read_requests(pipeline, job.videos, job)
    settled = pipeline | "ReadSettled" >> ReadSettled(
        opts.warehouse, run, force=opts.force, settings=settings
    )
    todo, skipped = requests | "SplitDone" >> SplitDone(settled)
    if opts.workers > 1:
        todo = todo | "SpreadVideos" >> beam.Reshuffle()
    videos, download_failed = todo | "DownloadVideos" >> DownloadVideos(settings.download)
    faces, summaries, detect_failed = videos | "DetectFaces" >> DetectFaces(
        settings.detect, split_failures=True
    )
    _ = (summaries, *detect_failed) | "ReleaseVideos" >> ReleaseVideos(settings.download)
    face_rows, infer_failed = faces | "ClassifyEmotions" >> ClassifyEmotions(
        job.spec, run, settings.classify, split_failures=True
    )
    routes = {
        Role.FACE_SENT: faces,
        Role.FACE: face_rows,
        Role.FACE_FAILED: infer_failed,
        Role.ANALYSED: summaries,
        Role.VIDEO_FAILED: (download_failed, *detect_failed),
        Role.SKIPPED: skipped,
        Role.ROW_FAILED: ingest_failed | "DropSettledRows" >> DropSettled(settled),
        Role.SOURCE_FAILED: source_failed | "DropSettledSources" >> DropSettled(settled),
    }
    _ = routes | "CommitUnits" >> CommitUnits(settings.units, run, settings.classify.smooth_s)
