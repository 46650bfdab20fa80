"""`--workers N` on the local runner: N worker processes that log like the CLI.

`LocalWorkersRunner` is Beam's FnApiRunner given, through its public
`default_environment` argument, a subprocess environment whose command starts
`affectflow.pipelines.worker`; `--direct_num_workers N` (set by
`options.resolve_runner_options`) makes it start N of them. Beam's own
`--direct_running_mode multi_processing` would start `sdk_worker_main` directly: its
workers get no pipeline options from FnApiRunner (so no log level), print about twenty
lines of start-up and shutdown each and print the per-video lines in Beam's format.
Beam warns that N workers want a multi_processing or multi_threading mode; both would
replace the environment, and `logs.BEAM_NOISE` drops the warning. The command is built
from `sys.executable` and quoted: no user input reaches it.
"""

from __future__ import annotations

import shlex
import sys

from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

WORKER_MODULE = "affectflow.pipelines.worker"


def worker_command() -> str:
    """The shell command line Beam runs to start one worker process."""
    return f"{shlex.quote(sys.executable)} -m {WORKER_MODULE}"


class LocalWorkersRunner(FnApiRunner):
    """FnApiRunner whose workers are `worker_command()` processes (`--runner` names it)."""

    def __init__(self) -> None:
        environment = SubprocessSDKEnvironment.from_command_string(worker_command())
        super().__init__(default_environment=environment)
