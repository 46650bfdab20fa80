"""The one logging set-up (`pipelines.logs`), as the CLI and the worker processes use it."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Emits one record of each kind after `setup_logging(*sys.argv[1:])`, called twice.
SCRIPT = """
import logging, sys
from affectflow.pipelines.logs import setup_logging

verbose, progress = sys.argv[1] == "1", {"1": True, "0": False, "-": None}[sys.argv[2]]
setup_logging(verbose, progress)
setup_logging(verbose, progress)
logging.getLogger("apache_beam.x").info("beam-info")
logging.getLogger("apache_beam.x").warning("beam-warning")
logging.getLogger("apache_beam.x").warning("No semi_persistent_directory found: x")
logging.warning("apitools not found, and bigquery client libraries are not available")
forwarded = logging.getLogger("apache_beam.runners.portability.local_job_service")
forwarded.error("Worker: %s", 'severity: ERROR message: "copy"')
logging.getLogger("affectflow.pipelines.x").info("own-info")
logging.getLogger("affectflow.pipelines.x").error("own-error")
logging.getLogger("affectflow.progress").info("ok video-1")
"""


def _stderr(verbose: str, progress: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, verbose, progress],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == ""
    return done.stderr


@pytest.mark.parametrize(
    ("verbose", "progress", "own_info", "progress_line"),
    [("1", "-", True, True), ("0", "-", False, False), ("0", "1", False, True)],
)
def test_setup_logging_shows_what_matters_once(verbose, progress, own_info, progress_line) -> None:
    err = _stderr(verbose, progress)
    lines = err.splitlines()
    assert [line for line in lines if line.endswith("WARNING apache_beam.x: beam-warning")]
    assert [line for line in lines if line.endswith("ERROR affectflow.pipelines.x: own-error")]
    assert ("INFO affectflow.pipelines.x: own-info" in err) is own_info
    assert lines.count("[affectflow] ok video-1") == (1 if progress_line else 0), err
    for dropped in ("beam-info", "semi_persistent", "apitools", "Worker: ", "copy"):
        assert dropped not in err, err
    expected = 2 + own_info + progress_line
    assert len(lines) == expected, err
