"""Local worker processes that stay quiet: Beam's FnApiRunner, multi_processing mode.

Beam's own multi_processing workers log their start-up and shutdown at INFO and WARNING
to stderr and receive none of the pipeline options (so no log level). `--workers N`
runs `WorkerProcessRunner` instead, whose workers start through `worker_main`: errors,
affectflow's warnings and its per-video progress lines only. Beam starts each worker
from a command line (`worker_command`, built from `sys.executable` and quoted: no user
input reaches it).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from typing import TYPE_CHECKING

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

if TYPE_CHECKING:
    from apache_beam import Pipeline
    from apache_beam.runners.runner import PipelineResult

# Worker processes log only errors, affectflow's warnings and its per-video lines.
WORKER_LOG_LEVEL = "ERROR"


def worker_command() -> str:
    """The shell command line Beam runs to start one worker process (`worker_main`)."""
    code = (
        "import logging; logging.getLogger().addHandler(logging.NullHandler()); "
        f"from {__name__} import worker_main; worker_main()"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


class WorkerProcessRunner(FnApiRunner):
    """FnApiRunner whose multi_processing workers start quietly (`worker_command`).

    Beam's own multi_processing workers log their start-up and shutdown at INFO and
    WARNING to stderr and pass none of the pipeline options (so no log level) on.
    """

    def run_pipeline(self, pipeline: Pipeline, options: PipelineOptions) -> PipelineResult:
        direct = options.view_as(DirectOptions)
        if direct.direct_running_mode != "multi_processing":
            return super().run_pipeline(pipeline, options)
        self._default_environment = SubprocessSDKEnvironment.from_command_string(worker_command())
        direct.direct_running_mode = None  # keeps the environment above; workers stay N
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            direct.direct_running_mode = "multi_processing"


def worker_main() -> None:
    """Run Beam's SDK harness with worker logging: errors, affectflow's own lines.

    Beam INFO/WARNING records (start-up, shutdown, RunInference's resource warning)
    are dropped; errors and affectflow's warnings go to stderr once (not also through
    the runner), `affectflow.progress` lines in the CLI's `[affectflow]` format.
    """
    from apache_beam.runners.worker import sdk_worker_main

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    errors = logging.StreamHandler(sys.stderr)
    errors.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    errors.addFilter(_worker_record)
    root.addHandler(errors)
    logging.getLogger("affectflow").setLevel(logging.WARNING)
    progress = logging.getLogger("affectflow.progress")
    progress.setLevel(logging.INFO)
    progress.propagate = False
    lines = logging.StreamHandler(sys.stderr)
    lines.setFormatter(logging.Formatter("[affectflow] %(message)s"))
    progress.addHandler(lines)
    os.environ["PIPELINE_OPTIONS"] = _with_log_level(os.environ.get("PIPELINE_OPTIONS"))
    # Records printed here are not also sent to the runner, which would print them again.
    os.environ.pop("LOGGING_API_SERVICE_DESCRIPTOR", None)
    sdk_worker_main.main(sys.argv)


def _worker_record(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR:
        return True
    return record.name.startswith("affectflow") and record.levelno >= logging.WARNING


def _with_log_level(options_json: str | None) -> str:
    """The harness's options with `default_sdk_harness_log_level` set unless given."""
    options = json.loads(options_json or "{}")
    target = options["options"] if isinstance(options.get("options"), dict) else options
    target.setdefault("default_sdk_harness_log_level", WORKER_LOG_LEVEL)
    return json.dumps(options)
