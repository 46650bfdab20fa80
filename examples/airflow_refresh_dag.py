"""Airflow DAG: a daily `affectflow refresh` of the configured cohorts.

Copy into Airflow's dags folder and set the two paths (or the environment variables).
affectflow runs from its own virtualenv as a subprocess, so Airflow's environment needs
neither Beam nor torch. Exit 75 (another refresh holds the warehouse's lock) skips the
task; any other non-zero exit fails it with the command's stderr.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess

from airflow.decorators import dag, task
from airflow.exceptions import AirflowSkipException

AFFECTFLOW = os.environ.get("AFFECTFLOW_BIN", "/srv/affectflow/venv/bin/affectflow")
CONFIG = os.environ.get("AFFECTFLOW_CONFIG", "/srv/affectflow/cohorts.toml")
BUSY = 75


@dag(
    schedule="15 3 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["affectflow"],
)
def affectflow_refresh() -> None:
    @task(retries=2, retry_delay=dt.timedelta(minutes=30), execution_timeout=dt.timedelta(hours=20))
    def refresh() -> str:
        done = subprocess.run(
            [AFFECTFLOW, "--quiet", "refresh", "--config", CONFIG],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == BUSY:
            raise AirflowSkipException(done.stderr.strip())
        if done.returncode != 0:
            raise RuntimeError(
                f"affectflow refresh exited {done.returncode}:\n{done.stderr[-4000:]}"
            )
        return done.stdout.strip()  # the summary line and the report files, kept as XCom

    refresh()


affectflow_refresh()
