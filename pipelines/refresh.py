"""`affectflow refresh --config cohorts.toml`: analyse what is new in the cohorts, then report.

Safe to run from cron: it holds the warehouse's lock (a second refresh exits at once
with status 75, EX_TEMPFAIL); it lists every source (list files, playlists, channels);
it analyses only the videos that no committed run has analysed under the same model and
analysis settings (changing either re-analyses everything, keeping the earlier runs);
and it regenerates the configured reports. A refresh with nothing new writes no run, so
running it twice in a row adds nothing the second time. A killed refresh leaves only
staged files, which the next run discards before it does the work again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from affectflow.pipelines.analyze import execute, prepare
from affectflow.pipelines.job import Job
from affectflow.pipelines.logs import phase
from affectflow.pipelines.options import AnalyzeOptions, launcher_cache_dir
from affectflow.pipelines.refresh_config import Cohort, RefreshConfig, Source
from affectflow.pipelines.summary import RunSummary, plural
from affectflow.schemas.records import ErrorRecord, Stage, VideoRequest
from affectflow.schemas.redact import redact_text
from affectflow.sources.bounded_child import FetchLimits
from affectflow.sources.fetch_errors import FetchError
from affectflow.sources.video_list import parse_video_list, read_video_list
from affectflow.sources.ytdlp_list import list_bounded, listing_options
from affectflow.transforms.listed import ListedVideos
from affectflow.warehouse.commit import (
    committed_runs,
    forgotten_keys,
    recorded_row_errors,
    settled_video_keys,
)
from affectflow.warehouse.lock import warehouse_lock

if TYPE_CHECKING:
    from affectflow.queries.export import WrittenReports

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RefreshResult:
    """What a refresh found, ran and wrote."""

    videos_listed: int
    videos_new: int
    failures_new: int
    summary: RunSummary | None
    reports: tuple[Path, ...] = ()
    report_failures: tuple[str, ...] = ()
    dry_run: bool = False

    def line(self) -> str:
        listed = (
            f"{plural(self.videos_listed, 'video')} listed, {self.videos_new:,} new, "
            f"{plural(self.failures_new, 'new listing error')}"
        )
        if self.dry_run:
            would = plural(self.videos_new, "video")
            return f"refresh --dry-run: {listed}; a refresh would analyse {would}; nothing run"
        ran = self.summary.line() if self.summary else "nothing new: no run"
        failed = f" ({plural(len(self.report_failures), 'report')} failed)" * bool(
            self.report_failures
        )
        return f"refresh: {listed}; {ran}; {plural(len(self.reports), 'report file')}{failed}"


def source_label(cohort: Cohort, index: int, source: Source) -> str:
    """How a source is named in errors and logs: no URL (it may name a channel)."""
    if not source.is_url:
        return f"cohort {cohort.name}, source {index + 1} ({Path(source.target).name})"
    digest = hashlib.sha256(source.target.encode()).hexdigest()[:12]
    return f"cohort {cohort.name}, source {index + 1} (URL sha256 {digest})"


def _redact(message: str, url: str) -> str:
    return redact_text(message.replace(url, "<source>")) or ""


def _source_failure(label: str, cohort: str, error: Exception, url: str) -> ErrorRecord:
    fetch = error if isinstance(error, FetchError) else None
    message = fetch.message if fetch else f"{type(error).__name__}: {error}"
    return ErrorRecord(
        stage=Stage.INGEST,
        error_class=fetch.error_class if fetch else type(error).__name__,
        message=f"{label}: could not be listed: {_redact(message, url)}",
        retryable=fetch.retryable if fetch else False,
        input=label,
        cohort=cohort,
    )


def _list_source(
    cohort: Cohort, source: Source, opts: AnalyzeOptions
) -> list[VideoRequest | ErrorRecord]:
    """The rows of one source; raises on a source that cannot be listed."""
    if not source.is_url:
        rows = read_video_list(
            source.target, default_cohort=cohort.name, allow_local=opts.allow_local
        )
        return list(rows)[: source.max_videos]
    options = listing_options(
        socket_timeout_s=opts.socket_timeout,
        allowed_extractors=tuple(opts.sites.split(",")) if opts.sites else None,
    )
    limits = FetchLimits(
        timeout_s=opts.download_timeout, allow_private=opts.allow_private_addresses
    )
    urls = list_bounded(
        source.target,
        options,
        limits=limits,
        max_entries=source.max_videos,
        retries=opts.retries,
        backoff_s=opts.backoff_s,
    )
    return list(parse_video_list("\n".join(urls), "txt", default_cohort=cohort.name))


def gather(config: RefreshConfig, opts: AnalyzeOptions) -> ListedVideos:
    """List every source of every cohort; a video listed twice keeps its first cohort."""
    requests: dict[str, VideoRequest] = {}
    row_failures: list[ErrorRecord] = []
    source_failures: list[ErrorRecord] = []
    relabelled = 0
    for cohort in config.cohorts:
        for index, source in enumerate(cohort.sources):
            label = source_label(cohort, index, source)
            try:
                rows = _list_source(cohort, source, opts)
            except (FetchError, OSError, ValueError) as error:
                LOG.warning("%s could not be listed: %s", label, error)
                source_failures.append(_source_failure(label, cohort.name, error, source.target))
                continue
            LOG.info("%s: %d rows", label, len(rows))
            for row in rows:
                if isinstance(row, ErrorRecord):
                    row_failures.append(
                        dataclasses.replace(row, cohort=cohort.name, input=f"{label}: {row.input}")
                    )
                    continue
                if row.cohort != cohort.name:  # the config's cohort wins over a list's column
                    relabelled += 1
                    row = dataclasses.replace(row, cohort=cohort.name)
                if row.video_key in requests:
                    first = requests[row.video_key].cohort
                    LOG.warning("%s is listed again in %s; kept in %s", row.video_key, label, first)
                else:
                    requests[row.video_key] = row
    if relabelled:
        LOG.warning("%d list rows named another cohort than the config's: relabelled", relabelled)
    return ListedVideos(tuple(requests.values()), tuple(row_failures), tuple(source_failures))


def new_work(
    listed: ListedVideos, warehouse: str, analysis_id: str, *, retry_failed: bool = False
) -> ListedVideos:
    """What no committed run has settled yet: new videos and errors not yet recorded.

    Settled: analysed (ok or no_faces) under `analysis_id`, forgotten (`affectflow
    forget`), or failed there for good (a 404, a video too long) unless `retry_failed`;
    retryable failures run again.
    """
    settled = settled_video_keys(warehouse, analysis_id, retry_failed=retry_failed)
    settled |= forgotten_keys(warehouse)
    recorded = recorded_row_errors(warehouse)

    def is_new(error: ErrorRecord) -> bool:
        return (str(error.stage), error.cohort, error.input) not in recorded

    return ListedVideos(
        tuple(r for r in listed.requests if r.video_key not in settled),
        tuple(filter(is_new, listed.row_failures)),
        tuple(filter(is_new, listed.source_failures)),
    )


def refresh(
    config: RefreshConfig,
    *,
    retry_failed: bool = False,
    wait_s: float = 0.0,
    dry_run: bool = False,
) -> RefreshResult:
    """One refresh under the warehouse's lock; raises JobError, WarehouseBusy."""
    job = prepare(list(config.analyze_args), ListedVideos(), label=f"refresh:{config.path}")
    opts = job.opts
    lock_dir = launcher_cache_dir(job.options)
    with warehouse_lock(config.warehouse, lock_dir, command="refresh", wait_s=wait_s):
        sources = sum(len(cohort.sources) for cohort in config.cohorts)
        phase(f"listing the videos of {plural(sources, 'source')} (lists, playlists, channels)")
        listed = gather(config, opts)
        todo = new_work(
            listed, config.warehouse, job.run_info.analysis_id, retry_failed=retry_failed
        )
        failures = len(todo.row_failures) + len(todo.source_failures)
        if dry_run:
            return RefreshResult(
                len(listed.requests), len(todo.requests), failures, None, dry_run=True
            )
        summary = execute(dataclasses.replace(job, videos=todo)) if len(todo) else None
        reports = _write_reports(config, job)
    return RefreshResult(
        len(listed.requests),
        len(todo.requests),
        failures,
        summary,
        reports.paths,
        reports.failures,
    )


def _write_reports(config: RefreshConfig, job: Job) -> WrittenReports:
    from affectflow.queries.export import WrittenReports, write_reports

    settings = config.reports
    if not settings.names or not settings.formats:
        return WrittenReports()
    if not committed_runs(job.opts.warehouse):
        LOG.warning("the warehouse holds no run yet: no reports written")
        return WrittenReports()
    written = write_reports(
        job.opts.warehouse,
        settings.names,
        settings.formats,
        settings.out_dir,
        params=settings.params,
        min_videos=settings.min_videos,
    )
    for failure in written.failures:
        LOG.error("report %s", failure)
    return written
