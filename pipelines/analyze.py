"""The analyze job: video list -> downloaded videos -> faces -> emotions -> warehouse.

`prepare()` checks what must hold before anything is downloaded (the list exists, the
model's weights are there, the device is real); `execute()` holds the warehouse's lock,
wires the stages, runs them and commits the run. `run()` does both; `refresh` calls them
separately, with the rows it gathered itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from affectflow import __version__
from affectflow.models.cache import default_cache_dir
from affectflow.models.registry import ModelSpec, get_model_spec
from affectflow.pipelines.lock import warehouse_lock
from affectflow.pipelines.options import GIB, AnalyzeOptions, resolve_runner_options
from affectflow.pipelines.summary import RunSummary, counter_values, summarise
from affectflow.pipelines.warehouse import (
    commit_run,
    discard_stale_staging,
    done_video_keys,
    forgotten_keys,
    new_run_id,
    staging_dir,
)
from affectflow.schemas.records import RunInfo
from affectflow.transforms.detect import DetectFaces
from affectflow.transforms.download import DownloadVideos
from affectflow.transforms.infer import ClassifyEmotions, check_device
from affectflow.transforms.ingest import ReadVideoList, list_format
from affectflow.transforms.listed import ListedVideos, ReadListedVideos, write_listed
from affectflow.transforms.outcomes import SplitDone, ToVideoRows
from affectflow.transforms.rows import error_row
from affectflow.transforms.sinks import WriteTables
from affectflow.transforms.video_cache import ReleaseVideos

LOG = logging.getLogger(__name__)
PRIVATE_OPTIONS = ("channel_salt",)


class JobError(RuntimeError):
    """The job itself cannot run (not a failure of one video): the message says what to fix."""


def analysis_settings(opts: AnalyzeOptions, spec: ModelSpec) -> dict:
    """Everything that changes the results of a video, fingerprinted as the analysis_id."""
    return {
        "model": spec.name,
        "fps": opts.fps,
        "trim_s": opts.trim_s,
        "scale_factor": opts.scale_factor,
        "min_neighbors": opts.min_neighbors,
        "min_face": opts.min_face,
        "detect_width": opts.detect_width,
        "detect_every": opts.detect_every,
        "min_track_frames": opts.min_track_frames,
        "crop_size": spec.input_size,
        "crop_margin_px": spec.crop_margin_px,
        "clahe": clahe_for(opts, spec),
    }


def clahe_for(opts: AnalyzeOptions, spec: ModelSpec) -> bool:
    return spec.clahe if opts.clahe is None else opts.clahe == "on"


def make_run_info(opts: AnalyzeOptions, spec: ModelSpec, weights_sha256: str) -> RunInfo:
    settings = {**analysis_settings(opts, spec), "weights_sha256": weights_sha256}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return RunInfo(
        run_id=new_run_id(),
        model_id=spec.name,
        weights_sha256=weights_sha256,
        analysis_id=digest,
    )


def listed_file(warehouse: str, run_id: str) -> str:
    """Where a run's gathered rows (`ListedVideos`) are written for the pipeline to read."""
    return FileSystems.join(staging_dir(warehouse, run_id), "input", "listed.jsonl")


def read_requests(
    pipeline: beam.Pipeline, videos: str | ListedVideos, opts: AnalyzeOptions, run_id: str
) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
    """(requests, invalid rows, failed sources) from a list file or rows gathered before."""
    if isinstance(videos, ListedVideos):
        return pipeline | "ListedVideos" >> ReadListedVideos(listed_file(opts.warehouse, run_id))
    requests, ingest_failed = pipeline | "ReadVideoList" >> ReadVideoList(
        videos, default_cohort=opts.cohort, allow_local=opts.allow_local
    )
    return requests, ingest_failed, pipeline | "NoSourceFailures" >> beam.Create([])


def build(
    pipeline: beam.Pipeline,
    videos: str | ListedVideos,
    opts: AnalyzeOptions,
    spec: ModelSpec,
    weights_path: str,
    run: RunInfo,
    done_keys: frozenset[str],
    forgotten: frozenset[str] = frozenset(),
) -> None:
    """Wire the stages; every input row ends as exactly one `videos` row."""
    one_thread = 1 if opts.workers > 1 else None
    video_cache = opts.cache_dir  # the download stage keeps videos in <cache>/videos
    requests, ingest_failed, source_failed = read_requests(pipeline, videos, opts, run.run_id)
    todo, skipped = requests | "SplitDone" >> SplitDone(done_keys, forgotten)
    if opts.workers > 1:
        todo = todo | "SpreadVideos" >> beam.Reshuffle()
    videos, download_failed = todo | "DownloadVideos" >> DownloadVideos(
        cache_dir=video_cache,
        max_duration_s=opts.max_duration,
        max_filesize_bytes=opts.max_filesize,
        max_height=opts.max_height,
        socket_timeout_s=opts.socket_timeout,
        retries=opts.retries,
        backoff_s=opts.backoff_s,
        allowed_extractors=tuple(opts.sites.split(",")) if opts.sites else None,
        keep_title=opts.keep_title,
        channel_salt=opts.channel_salt,
    )
    faces, summaries, detect_failed = videos | "DetectFaces" >> DetectFaces(
        fps=opts.fps,
        trim_s=opts.trim_s,
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=clahe_for(opts, spec),
        scale_factor=opts.scale_factor,
        min_neighbors=opts.min_neighbors,
        min_size=(opts.min_face, opts.min_face),
        cv2_threads=one_thread,
        min_track_frames=opts.min_track_frames,
        detect_width=opts.detect_width,
        detect_every=opts.detect_every,
        debug_crops_dir=opts.debug_crops,
    )
    _ = (summaries, detect_failed) | "ReleaseVideos" >> ReleaseVideos(
        video_cache,
        keep_videos=opts.keep_videos,
        max_bytes=int(opts.cache_max_gb * GIB) if opts.cache_max_gb is not None else None,
    )
    face_rows, infer_failed = faces | "ClassifyEmotions" >> ClassifyEmotions(
        spec,
        weights_path,
        run,
        batch_size=opts.batch_size,
        device=opts.device,
        torch_threads=one_thread,
        model_copies=opts.model_copies,
    )
    failed = (ingest_failed, download_failed, detect_failed) | "VideoFailures" >> beam.Flatten()
    errors = (failed, infer_failed, source_failed) | "AllFailures" >> beam.Flatten()
    video_rows = (summaries, skipped, failed) | "ToVideoRows" >> ToVideoRows(run)
    tables = {
        "videos": video_rows,
        "faces": face_rows,
        "errors": errors | "ToErrorRows" >> beam.Map(error_row, run=run),
    }
    _ = tables | "WriteTables" >> WriteTables(staging_dir(opts.warehouse, run.run_id), run.run_id)


@dataclasses.dataclass
class Job:
    """An analyze job that passed its checks: what it reads, its options, model and run."""

    videos: str | ListedVideos
    label: str
    options: PipelineOptions
    spec: ModelSpec
    weights_path: str
    run_info: RunInfo

    @property
    def opts(self) -> AnalyzeOptions:
        return self.options.view_as(AnalyzeOptions)


def _parse(argv: Sequence[str] | None, with_list: bool) -> tuple[str | None, PipelineOptions]:
    parser = argparse.ArgumentParser(prog="affectflow analyze", add_help=False)
    if with_list:
        parser.add_argument("video_list")
    known, rest = parser.parse_known_args(argv)
    options = PipelineOptions(rest)
    resolve_runner_options(options)
    return getattr(known, "video_list", None), options


def _preflight(video_list: str | None, opts: AnalyzeOptions) -> tuple[ModelSpec, str, str]:
    """Fail fast, before any download: list, model, weights and device."""
    if video_list is not None and not FileSystems.exists(video_list):
        raise JobError(f"video list {video_list!r} does not exist")
    try:
        if video_list is not None:
            list_format(video_list)
        spec = get_model_spec(opts.model)
        check_device(opts.device)
        weights = spec.fetch_weights(opts.cache_dir, source=opts.weights)
        spec = spec.for_weights(weights.path)
    except (ValueError, RuntimeError, OSError) as error:
        raise JobError(str(error)) from error
    return spec, weights.path, weights.sha256


def prepare(
    argv: Sequence[str] | None, videos: ListedVideos | None = None, label: str | None = None
) -> Job:
    """Parse the options and check the job can run; `argv` names a list unless `videos`."""
    video_list, options = _parse(argv, with_list=videos is None)
    opts = options.view_as(AnalyzeOptions)
    if opts.cache_dir is None:
        opts.cache_dir = str(default_cache_dir())
    spec, weights_path, weights_sha256 = _preflight(video_list, opts)
    return Job(
        videos=video_list if videos is None else videos,
        label=label or str(video_list),
        options=options,
        spec=spec,
        weights_path=weights_path,
        run_info=make_run_info(opts, spec, weights_sha256),
    )


def execute(job: Job, test_pipeline: beam.Pipeline | None = None) -> RunSummary:
    """Run a prepared job under the warehouse's lock and commit its rows.

    Raises WarehouseBusy when another job holds the lock.
    """
    with warehouse_lock(job.opts.warehouse, job.opts.cache_dir, command="analyze"):
        return _execute(job, test_pipeline)


def _execute(job: Job, test_pipeline: beam.Pipeline | None) -> RunSummary:
    opts, run_info, spec = job.opts, job.run_info, job.spec
    discard_stale_staging(opts.warehouse)
    if isinstance(job.videos, ListedVideos):
        write_listed(job.videos, listed_file(opts.warehouse, run_info.run_id))
    done = frozenset() if opts.force else done_video_keys(opts.warehouse, run_info.analysis_id)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    LOG.info(
        "run %s: %s with %s (%d videos already done)",
        run_info.run_id,
        job.label,
        spec.name,
        len(done),
    )
    pipeline = test_pipeline or beam.Pipeline(options=job.options)
    forgotten = forgotten_keys(opts.warehouse)
    build(pipeline, job.videos, opts, spec, job.weights_path, run_info, done, forgotten)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarise(result, seconds=time.monotonic() - clock)
    if left_out := counter_values(result).get("videos_forgotten", 0):
        LOG.warning("%d listed videos were forgotten (affectflow forget): left out", left_out)
    config = {k: v for k, v in opts.get_all_options().items() if k not in PRIVATE_OPTIONS}
    commit_run(
        opts.warehouse,
        run_info.run_id,
        {
            **dataclasses.asdict(run_info),
            **summary.counts(),
            "valence": dict(spec.valence),
            "started_at": started,
            "finished_at": dt.datetime.now(dt.UTC),
            "config": json.dumps({"video_list": job.label, **config}, default=str, sort_keys=True),
            "code_version": __version__,
            "runner": str(job.options.view_as(StandardOptions).runner),
        },
    )
    return summary


def run(
    argv: Sequence[str] | None = None, test_pipeline: beam.Pipeline | None = None
) -> RunSummary:
    """Run the analyze job on the list `argv` names and commit its rows; returns its summary."""
    return execute(prepare(argv), test_pipeline)
