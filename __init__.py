"""affectflow: public social-media videos -> face emotion tables -> cohort statistics.

The Python API, for notebooks (each function imports what it needs when called, so
`import affectflow` stays light; Beam's workers import this package too):

    wh = affectflow.open("out")                    # DuckDB connection with every view
    wh.sql("select cohort, count(*) from latest_videos group by all").df()
    df = affectflow.report("negative_share", warehouse="out", n_boot=2000, seed=7)
    df.attrs["notes"]                              # masked rows, parameters
    summary = affectflow.analyze("videos.csv", warehouse="out", fps=5, allow_local=True)

Errors: `affectflow.OptionError` (an option or value), `affectflow.JobError` (the job
cannot run), `affectflow.WarehouseError` (no warehouse there); all say what to change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas

    from affectflow.pipelines.summary import RunSummary
    from affectflow.queries.runner import Report

try:
    __version__ = version("affectflow")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "JobError",
    "OptionError",
    "WarehouseError",
    "__version__",
    "analyze",
    "open",
    "report",
]
# The error types, importable from here (`except affectflow.JobError`), loaded when used.
_ERRORS = {
    "OptionError": "affectflow.pipelines.option_types",
    "JobError": "affectflow.pipelines.preflight",
    "WarehouseError": "affectflow.warehouse.sql",
}


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        import importlib

        return getattr(importlib.import_module(_ERRORS[name]), name)
    raise AttributeError(f"module 'affectflow' has no attribute {name!r}")


def open(warehouse: str = "out") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to `warehouse` with every view and macro of the reports loaded
    (`latest_videos`, `faces`, `errors`, `runs`, ...; see `affectflow sql --print-setup`).

    Raises `WarehouseError` (a ValueError) when `warehouse` holds no warehouse.
    """
    from affectflow.queries.runner import connect

    return connect(warehouse)


def report(
    name: str = "cohort_summary",
    warehouse: str = "out",
    *,
    as_report: bool = False,
    **params: Any,
) -> pandas.DataFrame | Report:
    """Run a shipped report (`affectflow report --list`) with its parameters.

    Returns a pandas DataFrame whose `attrs` hold `notes` (masked rows: small-cell
    suppression, `min_videos`; the parameters used) and `params`; with `as_report`, the
    `Report` itself (`.columns`, `.rows`, `.notes`, `.to_pandas()`). Raises ValueError
    for an unknown report, parameter or value.
    """
    from affectflow.queries.runner import connect, run_report

    result = run_report(connect(warehouse), name, params)
    return result if as_report else result.to_pandas()


def analyze(video_list: str, warehouse: str = "out", **options: Any) -> RunSummary:
    """Run the analyze job on a list, as `affectflow analyze --quiet` would; returns the
    run's summary (`.counts()`, `.line()`, `.top_errors`).

    `options` are analyze options by name (`fps=5`, `allow_local=True`, `workers=2`) or
    Beam's (`runner="DirectRunner"`). Raises OptionError (a ValueError) for an unknown
    option or a bad value, JobError when the job cannot run (the message says why).
    """
    from affectflow.pipelines.logs import setup_logging
    from affectflow.pipelines.options import option_args
    from affectflow.pipelines.preflight import preflight

    setup_logging(verbose=False)
    argv = [str(video_list), *option_args({"warehouse": str(warehouse), **options})]
    preflight(argv)  # a mistake is raised before Beam and torch load
    from affectflow.pipelines.analyze import run

    return run(argv)
