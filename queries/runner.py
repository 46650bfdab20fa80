"""Run the shipped SQL reports over a warehouse with DuckDB.

Each report is one `<name>.sql` file in this package whose header comment says what it
answers (`Question:`), its grain and its parameters; `views.sql` defines the views they
read. Every parameter (paths too) is bound, never formatted into the SQL: a report takes
exactly the `$names` its SQL uses, typed and checked here. Report names are checked
against the shipped list.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from importlib import resources
from typing import Any

import duckdb

from affectflow.queries.corrected_columns import correct
from affectflow.queries.corrections import CORRECTED, UNCORRECTED, UNCORRECTED_NOTE
from affectflow.queries.frames import typed_frame
from affectflow.queries.suppression import check_keys, declared_keys, mask_rows
from affectflow.warehouse.sql import connect as committed_views
from affectflow.warehouse.sql import setup_sql as committed_setup_sql
from affectflow.warehouse.validations import setup_sql as validations_setup_sql
from affectflow.warehouse.validations import validations_table

DEFAULT_MIN_VIDEOS = 5
# Most bootstrap replicates or permutations a report runs: memory grows with them
# (README "Reports"; benchmarks/report_memory.py).
MAX_RESAMPLES = 100_000
# DuckDB's memory for one report or `affectflow sql` session: past it, it spills to disk
# (`spill_dir`), so the permutation test's sort of n_perm x videos rows stays bounded.
MEMORY_LIMIT = "1GB"
VIEWS = "views"
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_SECTION = re.compile(r"^([A-Z][a-z]+):\s*(.*)$")


@dataclasses.dataclass(frozen=True)
class Param:
    """A report parameter: its type, default (None: worked out by the SQL) and range."""

    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


PARAMETERS: dict[str, Param] = {
    "model_id": Param(str, None, "model whose results are read (default: the latest run's)"),
    "analysis_id": Param(
        str, None, "analysis (model + settings) read (default: the model's latest run's)"
    ),
    "min_videos": Param(int, DEFAULT_MIN_VIDEOS, "mask rows built from fewer videos", 1),
    "n_boot": Param(int, 1000, "bootstrap replicates", 1, MAX_RESAMPLES),
    "n_perm": Param(int, 1000, "permutations of the cohort labels", 1, MAX_RESAMPLES),
    "seed": Param(int, 42, "seed of the bootstrap and the permutations"),
    "cohort_a": Param(str, None, "first cohort compared (default: first by name)"),
    "cohort_b": Param(str, None, "second cohort compared (default: next by name)"),
    "bin_s": Param(float, 1.0, "width of a timeline bin in seconds", 0.001),
    "video_key": Param(str, None, "one video's key (default: every video)"),
    "validation": Param(
        str,
        None,
        "validation whose misclassification corrects the shares (default: the "
        "analysis's latest; affectflow validate)",
    ),
}
COHORT_PARAMS = ("cohort_a", "cohort_b")


@dataclasses.dataclass(frozen=True)
class ReportInfo:
    """What a report file declares: its title, question and the parameters it takes."""

    name: str
    title: str
    question: str
    parameters: tuple[str, ...]
    keys: tuple[str, ...] = ()  # the columns a masked row keeps (`-- Keys:`)


@dataclasses.dataclass(frozen=True)
class Report:
    """A report's result: name, columns, rows and the parameter values it ran with."""

    name: str
    columns: list[str]
    rows: list[tuple]
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    types: tuple[str, ...] = ()  # each column's DuckDB type (`BIGINT`, `DOUBLE`, ...)
    keys: tuple[str, ...] = ()  # what a row is about (the report's `-- Keys:`)
    comments: tuple[str, ...] = ()  # e.g. which validation corrected the shares

    @property
    def suppressed(self) -> int:
        """How many rows are masked (small-cell suppression)."""
        if "suppressed" not in self.columns:
            return 0
        index = self.columns.index("suppressed")
        return sum(1 for row in self.rows if row[index])

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    @property
    def notes(self) -> list[str]:
        """Lines under the report: masked rows (small-cell suppression) and the parameters."""
        lines = []
        if self.suppressed:
            lines.append(
                f"{self.suppressed} row(s) masked: built from fewer than "
                f"{self.params.get('min_videos', DEFAULT_MIN_VIDEOS)} videos (--min-videos; "
                "small-cell suppression)"
            )
        lines += self.comments
        shown = {k: v for k, v in self.params.items() if v is not None}
        if shown:
            lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        return lines

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame, one dtype per SQL type whatever is masked
        (`queries.frames`); `attrs` hold `notes` and `params`."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError(
                'a DataFrame needs pandas: pip install "affectflow[notebook]"'
            ) from None
        frame = typed_frame(self.columns, self.types, self.rows)
        frame.attrs.update(report=self.name, notes=self.notes, params=dict(self.params))
        return frame


def _sql(name: str) -> str:
    return resources.files("affectflow.queries").joinpath(f"{name}.sql").read_text("utf-8")


def list_reports() -> list[str]:
    """Names of the shipped reports."""
    files = resources.files("affectflow.queries").iterdir()
    return sorted(f.name[:-4] for f in files if f.name.endswith(".sql") and f.name != "views.sql")


def _check_name(name: str) -> None:
    if name not in list_reports():
        raise ValueError(f"unknown report {name!r}; reports: {', '.join(list_reports())}")


def report_sql(name: str) -> str:
    """The SQL text of a shipped report."""
    _check_name(name)
    return _sql(name)


def header_sections(sql: str) -> dict[str, str]:
    """The leading comment as sections: `title` (first line), `Question`, `Grain`, ..."""
    comment = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        comment.append(line[2:].strip())
    sections: dict[str, str] = {"title": comment[0] if comment else ""}
    key = None
    for line in comment[1:]:
        match = _SECTION.match(line)
        if match:
            key = match.group(1)
            sections[key] = match.group(2)
        elif key:
            sections[key] = f"{sections[key]} {line}".strip()
    return sections


def _body(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def report_info(name: str) -> ReportInfo:
    """A shipped report's title, question and parameters (the `$names` its SQL uses)."""
    _check_name(name)
    sql = _sql(name)
    sections = header_sections(sql)
    parameters = tuple(dict.fromkeys(_PARAM.findall(_body(sql))))
    keys = declared_keys(sections.get("Keys", ""))
    if name in CORRECTED:
        parameters += ("validation",)
    return ReportInfo(name, sections["title"], sections.get("Question", ""), parameters, keys)


def convert_param(name: str, value: Any) -> Any:
    """`value` as parameter `name`'s type, in its range; ValueError says what is wrong."""
    spec = PARAMETERS[name]
    if value is None:
        return None
    try:
        typed = spec.kind(value)
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number"}.get(spec.kind, "text")
        raise ValueError(f"parameter {name} takes {kind}, not {value!r}") from None
    if spec.minimum is not None and typed < spec.minimum:
        raise ValueError(f"parameter {name} must be at least {spec.minimum}, not {value!r}")
    if spec.maximum is not None and typed > spec.maximum:
        raise ValueError(f"parameter {name} must be at most {spec.maximum:,}, not {value!r}")
    return typed


def bind_params(info: ReportInfo, params: dict[str, Any] | None) -> dict[str, Any]:
    """Typed values of every parameter the report takes: given ones over the defaults."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(info.parameters))
    if unknown:
        raise ValueError(
            f"report {info.name!r} takes no parameter {', '.join(unknown)}; "
            f"it takes: {', '.join(info.parameters)}"
        )
    defaults = {name: PARAMETERS[name].default for name in info.parameters}
    return {name: convert_param(name, given.get(name, defaults[name])) for name in defaults}


def setup_sql(warehouse: str) -> str:
    """The SQL that loads every view and macro of `warehouse` in any DuckDB client
    (`affectflow sql --print-setup`): the committed views, `validations`, then `views.sql`."""
    return f"{committed_setup_sql(warehouse)}\n{validations_setup_sql(warehouse)}\n{_sql(VIEWS)}"


def connect(warehouse: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the committed views and `views.sql` defined,
    its memory bounded (`MEMORY_LIMIT`, spilling to `spill_dir`).

    Raises `WarehouseError` (a ValueError) when `warehouse` holds no warehouse or, for a
    remote one, when DuckDB cannot read it.
    """
    con = committed_views(warehouse)
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"set temp_directory = '{spill_dir()}'")
    con.execute(_sql(VIEWS))
    con.register("validations", validations_table(warehouse))
    return con


def spill_dir() -> str:
    """Where DuckDB spills what does not fit in `MEMORY_LIMIT`: an owner-only folder of
    this user's in the system's temp folder (not the current folder)."""
    folder = os.path.join(tempfile.gettempdir(), f"affectflow-duckdb-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder.replace("'", "''")


# Statements whose result is worth printing (a CREATE, INSERT or SET returns a count only).
RESULT_STATEMENTS = ("SELECT", "PRAGMA", "EXPLAIN", "CALL")


def query(con: duckdb.DuckDBPyConnection, sql: str) -> list[Report]:
    """Run an analyst's SQL, statement by statement; the result of each query (and of the
    last statement, whatever it is), in order."""
    statements = con.extract_statements(sql)
    results = []
    for index, statement in enumerate(statements):
        cursor = con.execute(statement)
        last = index == len(statements) - 1
        if cursor.description is None or not (last or statement.type.name in RESULT_STATEMENTS):
            continue
        columns, types = _described(cursor)
        results.append(Report(name="sql", columns=columns, rows=cursor.fetchall(), types=types))
    return results


def _described(cursor: duckdb.DuckDBPyConnection) -> tuple[list[str], tuple[str, ...]]:
    """The column names and DuckDB types of a result."""
    return [d[0] for d in cursor.description], tuple(str(d[1]) for d in cursor.description)


def resolve_analysis(
    con: duckdb.DuckDBPyConnection, model_id: str | None, analysis_id: str | None
) -> tuple[str | None, str | None]:
    """(model_id, analysis_id) a report reads: one analysis, never a pool of several.

    Given an analysis: its model. Given a model: its latest run's analysis. Neither: the
    latest run's. An analysis no committed run has, or one of another model, is an error.
    """
    rows = con.execute(
        "select model_id, analysis_id from runs "
        "where ($model is null or model_id = $model) "
        "and ($analysis is null or analysis_id = $analysis) "
        "order by run_id desc limit 1",
        {"model": model_id, "analysis": analysis_id},
    ).fetchall()
    if rows:
        return rows[0]
    if analysis_id is not None:
        known = [r[0] for r in con.execute("select distinct analysis_id from runs").fetchall()]
        raise ValueError(
            f"analysis_id: no committed run of {analysis_id!r}"
            + (f" with model {model_id!r}" if model_id else "")
            + f" (analyses: {', '.join(sorted(map(str, known))) or 'none'})"
        )
    return model_id, None


def _named(names: list[str], most: int = 20, width: int = 40) -> str:
    """Names from the data for a one-line message: each quoted with its control
    characters escaped (`repr`) and cut to `width` characters, at most `most` of them."""
    shown = [repr(n if len(n) <= width else n[: width - 1] + "\u2026") for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _check_cohorts(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    known = [row[0] for row in con.execute("select distinct cohort from videos").fetchall()]
    for name in COHORT_PARAMS:
        if values.get(name) is not None and values[name] not in known:
            cohorts = _named(sorted(c for c in known if c is not None))
            raise ValueError(f"{name}: no cohort {values[name]!r} in the warehouse ({cohorts})")
    chosen = [values.get(name) for name in COHORT_PARAMS]
    if chosen[0] is not None and chosen[0] == chosen[1]:
        raise ValueError(f"cohort_a and cohort_b are both {chosen[0]!r}: compare two cohorts")


def run_report(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> Report:
    """Run one shipped report with bound, type-checked parameters; rows built from fewer
    than `min_videos` videos keep only their key columns (`queries.suppression`)."""
    info = report_info(name)
    values = bind_params(info, params)
    if "analysis_id" in values:  # every shipped report: it reads one analysis
        values["model_id"], values["analysis_id"] = resolve_analysis(
            con, values.get("model_id"), values["analysis_id"]
        )
    _check_cohorts(con, values)
    cursor = con.execute(_sql(name), {k: v for k, v in values.items() if k != "validation"})
    columns, types = _described(cursor)
    check_keys(name, info.keys, columns)
    rows = cursor.fetchall()
    comments: list[str] = []
    if name in CORRECTED:  # before masking: a masked row's corrected columns are masked too
        added_from = len(columns)
        columns, rows, comments = correct(con, name, values, columns, rows)
        types = (*types, *(_added_type(c) for c in columns[added_from:]))
    elif name in UNCORRECTED:
        comments = [UNCORRECTED_NOTE]
    # A masked row keeps its keys and the name of the validation (about the report, not
    # the row: every row has the same one).
    rows = mask_rows(columns, rows, (*info.keys, "validation") if name in CORRECTED else info.keys)
    return Report(
        name,
        columns,
        rows,
        params=values,
        types=types,
        keys=info.keys,
        comments=tuple(comments),
    )


def _added_type(column: str) -> str:
    """The DuckDB type of a column the correction adds: the validation's name is text,
    every other one a share or a bound."""
    return "VARCHAR" if column == "validation" else "DOUBLE"
