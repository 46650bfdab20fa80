"""An analyze job that passed its checks (`pipelines.analyze.prepare`): what the graph
(`pipelines.analyze_graph`) is built from, in a module of its own so neither imports
the other."""

from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions

from affectflow.models.registry import ModelSpec
from affectflow.pipelines.options import AnalyzeOptions
from affectflow.schemas.records import RunInfo
from affectflow.schemas.settings import StageSettings
from affectflow.transforms.listed import ListedVideos
from affectflow.warehouse.commit import new_run_id


def make_run_info(settings: StageSettings) -> RunInfo:
    """A new run under these settings: its `analysis_id` is their fingerprint."""
    return RunInfo(
        run_id=new_run_id(),
        model_id=settings.classify.model,
        weights_sha256=settings.classify.weights_sha256,
        analysis_id=settings.analysis_id(),
    )


@dataclasses.dataclass
class Job:
    """An analyze job that passed its checks: what it reads, its options, model and run."""

    videos: str | ListedVideos
    label: str
    options: PipelineOptions
    spec: ModelSpec
    settings: StageSettings
    run_info: RunInfo

    @property
    def opts(self) -> AnalyzeOptions:
        return self.options.view_as(AnalyzeOptions)
