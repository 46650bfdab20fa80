"""The analyze job: video list -> downloaded videos -> faces -> emotions -> warehouse.

`prepare()` checks what must hold before anything is downloaded (the list exists, the
model's weights are there, the device is real); `execute()` holds the warehouse's lock,
wires the stages, runs them and commits the run. `run()` does both; `refresh` calls them
separately, with the rows it gathered itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners import create_runner

from affectflow import __version__
from affectflow.models.cache import default_cache_dir
from affectflow.models.installed import MTCNN, installed
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights
from affectflow.models.registry import ModelSpec, get_model_spec
from affectflow.pipelines.analyze_graph import build, listed_file
from affectflow.pipelines.auto_workers import resolve_workers
from affectflow.pipelines.job import Job, make_run_info
from affectflow.pipelines.option_types import AUTO_WORKERS, OptionError
from affectflow.pipelines.options import (
    AnalyzeOptions,
    check_beam_args,
    is_local_runner,
    launcher_cache_dir,
    recorded_options,
    resolve_runner_options,
)
from affectflow.pipelines.preflight import Checked, JobError, preflight
from affectflow.pipelines.progress import Progress, interrupt_on_signals
from affectflow.pipelines.stage_settings import stage_settings
from affectflow.pipelines.summary import RunSummary, counter_values, top_errors
from affectflow.pipelines.weights import launcher_weights
from affectflow.sources.video_list import read_video_list
from affectflow.transforms.infer import check_device
from affectflow.transforms.listed import ListedVideos, write_listed
from affectflow.transforms.unit_clock import flush_all
from affectflow.warehouse.commit import commit_run, drop_stubs
from affectflow.warehouse.layout import is_remote, join, staging_dir
from affectflow.warehouse.lock import warehouse_lock
from affectflow.warehouse.resume import Resumed, read_manifest, settle_unfinished, write_manifest
from affectflow.warehouse.units import committed_videos

LOG = logging.getLogger(__name__)
__all__ = ["Job", "JobError", "execute", "prepare", "run"]


def _options(checked: Checked) -> PipelineOptions:
    """Beam's PipelineOptions of a checked job (Beam's own parser reads Beam's flags);
    `prepare` fills in the runner's defaults once the workers are known."""
    try:
        check_beam_args(checked.beam_args)
    except OptionError as error:
        raise JobError(str(error)) from None
    options = PipelineOptions(checked.flags)
    runner = options.view_as(StandardOptions).runner
    try:
        if runner:  # a runner Beam does not know, before the warehouse or a weight is touched
            create_runner(runner)
    except (ValueError, ImportError) as error:
        raise JobError(f"--runner {runner}: {error}") from None
    return options


def _check_model(opts: AnalyzeOptions) -> tuple[ModelSpec, str, str, str]:
    """Fail fast, before any download: model, both weights, device. Returns the spec and
    what the workers load: on a remote runner never a path of this machine's cache
    (`installed:NAME`: the workers' own copy)."""
    try:
        spec = get_model_spec(opts.model)
        if is_local_runner(opts):
            check_device(opts.device)  # else the workers check it where the model loads
        FileSystems.set_options(opts)  # a remote --weights's filesystem reads Beam's options
        cache_dir = launcher_cache_dir(opts)
        spec, weights = launcher_weights(spec, cache_dir, opts.weights)
        if not is_local_runner(opts):  # the workers' own (their image's) or --weights
            return spec, opts.weights or installed(spec.name), weights.sha256, installed(MTCNN)
        detector_weights = fetch_mtcnn_weights(cache_dir)
    except (ValueError, RuntimeError, OSError) as error:
        raise JobError(str(error)) from error
    return spec, weights.path, weights.sha256, str(detector_weights)


def prepare(
    argv: Sequence[str] | None, videos: ListedVideos | None = None, label: str | None = None
) -> Job:
    """Parse the options and check the job can run; `argv` names a list unless `videos`.

    The checks that need no Beam (options, list, warehouse path: `preflight`) come first.
    """
    checked = preflight(argv, with_list=videos is None)
    options = _options(checked)
    video_list = checked.video_list
    opts = options.view_as(AnalyzeOptions)
    os.umask(opts.umask)  # before anything is created: warehouse and cache owner-only
    if opts.cache_dir is None and is_local_runner(options):
        opts.cache_dir = str(default_cache_dir())
    spec, weights_path, weights_sha256, detector_weights = _check_model(opts)
    settings = stage_settings(opts, spec, weights_path, weights_sha256, detector_weights)
    if opts.workers == AUTO_WORKERS:  # the threads per stage follow the workers
        opts.workers = resolve_workers(opts, video_list, videos, settings.analysis_id())
        settings = stage_settings(opts, spec, weights_path, weights_sha256, detector_weights)
    resolve_runner_options(options)
    return Job(
        videos=video_list if videos is None else videos,
        label=label or str(video_list),
        options=options,
        spec=spec,
        settings=settings,
        run_info=make_run_info(settings),
    )


def execute(job: Job, test_pipeline: beam.Pipeline | None = None) -> RunSummary:
    """Run a prepared job under the warehouse's lock and commit its rows.

    Raises WarehouseBusy when another job holds the lock.
    """
    with warehouse_lock(job.opts.warehouse, launcher_cache_dir(job.options), command="analyze"):
        return _execute(job, test_pipeline)


def _identity(job: Job) -> str:
    """What makes a rerun "the same command": the same rows under the same analysis."""
    digest = hashlib.sha256()
    if isinstance(job.videos, ListedVideos):
        for kind, record in job.videos.records():
            digest.update(json.dumps([kind, dataclasses.asdict(record)], default=str).encode())
    else:
        with FileSystems.open(job.videos) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    key = [job.run_info.analysis_id, job.opts.force, job.label, digest.hexdigest()]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def _input_rows(job: Job) -> int:
    """How many input rows the job has (the N of `k/N`): read in the driver, not the graph."""
    if isinstance(job.videos, ListedVideos):
        return len(job.videos)
    ingest = job.settings.ingest
    rows = read_video_list(
        job.videos, default_cohort=ingest.default_cohort, allow_local=ingest.allow_local
    )
    return sum(1 for _ in rows)


def _run_row(job: Job, started: dt.datetime) -> dict:
    """The run's `runs` row before its counts (written into the manifest at its start)."""
    config = recorded_options(job.options)
    return {
        **dataclasses.asdict(job.run_info),
        "valence": dict(job.spec.valence),
        "valence_ambiguous": dict(job.spec.valence_ambiguous),
        "started_at": started.isoformat(),
        "config": json.dumps(
            {"video_list": job.label, **config, "analysis": job.settings.fingerprint()},
            default=str,
            sort_keys=True,
        ),
        "code_version": __version__,
        "runner": str(job.options.view_as(StandardOptions).runner),
    }


def _start(job: Job) -> tuple[Job, dict, Resumed | None]:
    """Resume the run this command started before, or start one; returns (job, manifest, ...)."""
    opts = job.opts
    identity = _identity(job)
    resumed = settle_unfinished(opts.warehouse, identity)
    if resumed is not None:
        job = dataclasses.replace(
            job, run_info=dataclasses.replace(job.run_info, run_id=resumed.run_id)
        )
        manifest = read_manifest(opts.warehouse, resumed.run_id) or {}
    else:
        manifest = {"identity": identity, "attempts": 1}
        manifest["run_row"] = _run_row(job, dt.datetime.now(dt.UTC))
        write_manifest(opts.warehouse, job.run_info.run_id, manifest)
    warehouse, run_id = opts.warehouse, job.run_info.run_id
    if isinstance(job.videos, ListedVideos):
        write_listed(job.videos, listed_file(warehouse, run_id))
    journal = None
    if not is_remote(warehouse):
        attempt = manifest.get("attempts", 1)
        journal = join(staging_dir(warehouse, run_id), f"progress-{attempt}.jsonl")
    units = dataclasses.replace(job.settings.units, warehouse=warehouse, journal=journal)
    settings = dataclasses.replace(job.settings, units=units)
    return dataclasses.replace(job, settings=settings), manifest, resumed


def _execute(job: Job, test_pipeline: beam.Pipeline | None) -> RunSummary:
    clock = time.monotonic()
    job, manifest, resumed = _start(job)
    opts, run_info = job.opts, job.run_info
    total, before = _input_rows(job), resumed.videos_committed if resumed else 0
    LOG.info(
        "run %s: %s with %s (%d input rows%s)",
        run_info.run_id,
        job.label,
        job.spec.name,
        total,
        f"; attempt {resumed.attempt}, {before} committed before" if resumed else "",
    )

    def interrupted() -> str:
        flush_all()  # what is finished is committed (in this process: `--workers 1`)
        committed = committed_videos(opts.warehouse, run_info.run_id)
        return (
            f"interrupted: {committed:,} of {total:,} videos committed; "
            "run the same command again to continue"
        )

    pipeline = test_pipeline or beam.Pipeline(options=job.options)
    build(pipeline, job)
    units = job.settings.units
    progress = Progress(
        total, journal=units.journal, warehouse=opts.warehouse, run_id=run_info.run_id,
        done_before=before,
    )  # fmt: skip
    with interrupt_on_signals(interrupted), progress:
        result = pipeline.run()
        result.wait_until_finish()
    if left_out := counter_values(result).get("videos_forgotten", 0):
        LOG.warning("%d listed videos were forgotten (affectflow forget): left out", left_out)
    seconds = time.monotonic() - clock
    row = dict(manifest["run_row"])
    row["started_at"] = dt.datetime.fromisoformat(row["started_at"])
    row |= {"finished_at": dt.datetime.now(dt.UTC), "seconds": seconds}
    row |= {"attempts": manifest.get("attempts", 1), "videos_resumed": before}
    counts = commit_run(opts.warehouse, run_info.run_id, row)
    drop_stubs(opts.warehouse)
    summary = RunSummary.from_counts(counts, seconds=seconds, resumed=before)
    return dataclasses.replace(summary, top_errors=top_errors(opts.warehouse, run_info.run_id))


def run(
    argv: Sequence[str] | None = None, test_pipeline: beam.Pipeline | None = None
) -> RunSummary:
    """Run the analyze job on the list `argv` names and commit its rows; returns its summary."""
    return execute(prepare(argv), test_pipeline)
