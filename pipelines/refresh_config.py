"""The refresh config (TOML): the warehouse, cohorts and their sources, options, reports.

```toml
warehouse = "warehouse"            # relative paths are relative to this file

[analyze]                          # any `affectflow analyze` option, by its long name
fps = 10
allow_local = true

[beam]                             # Beam pipeline options, passed through (runner, project...)
runner = "FnApiRunner"

[cohorts.depression]
sources = ["depression.csv", "https://www.youtube.com/playlist?list=PL..."]

[cohorts.control]
sources = [{ url = "https://www.youtube.com/@someone/videos", max_videos = 50 }]

[reports]                          # regenerated after every refresh
names = ["cohort_summary", "negative_share", "cohort_comparison"]
formats = ["html", "csv"]
out_dir = "reports"
min_videos = 5
params = { n_boot = 2000 }
```

A source is a video list file (CSV, JSONL, TXT; its rows take the cohort of the config)
or an http(s) URL of a playlist, channel or feed, listed with yt-dlp's flat extraction.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from affectflow.pipelines.option_types import OptionError
from affectflow.pipelines.options import option_args, parse_analyze_args

TOP_KEYS = ("warehouse", "analyze", "beam", "cohorts", "reports")
SOURCE_KEYS = ("url", "path", "max_videos")
REPORT_KEYS = ("names", "formats", "out_dir", "min_videos", "params")
# Set elsewhere in the config (warehouse, cohorts) or meaningless for a refresh.
NOT_IN_ANALYZE = ("warehouse", "cohort", "force", "video_list")
PATH_OPTIONS = ("cache_dir", "weights", "debug_crops")
DEFAULT_REPORTS = ("cohort_summary", "data_quality")


class ConfigError(ValueError):
    """The refresh config is invalid; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Source:
    """A video list file, or a URL to list with yt-dlp (`max_videos`: newest N entries)."""

    target: str
    is_url: bool
    max_videos: int | None = None


@dataclasses.dataclass(frozen=True)
class Cohort:
    name: str
    sources: tuple[Source, ...]


@dataclasses.dataclass(frozen=True)
class ReportSettings:
    names: tuple[str, ...] = DEFAULT_REPORTS
    formats: tuple[str, ...] = ("html",)
    out_dir: str = "reports"
    min_videos: int | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RefreshConfig:
    """A checked config; `analyze_args` is the analyze command line without a list."""

    path: str
    warehouse: str
    cohorts: tuple[Cohort, ...]
    analyze_args: tuple[str, ...]
    reports: ReportSettings


def _unknown(keys: Any, allowed: tuple[str, ...] | list[str], where: str) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def _resolve(base: Path, value: str) -> str:
    """A local path relative to the config file's folder; URIs stay as they are."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return os.path.normpath(path if path.is_absolute() else base / path)


def _analyze_args(table: dict[str, Any], base: Path, where: str) -> list[str]:
    """The `[analyze]` table as flags, each value checked as on the command line."""
    values = {
        key: _resolve(base, value)
        if key.replace("-", "_") in PATH_OPTIONS and isinstance(value, str)
        else value
        for key, value in table.items()
    }
    try:
        args = option_args(values, beam=False, exclude=NOT_IN_ANALYZE)
        parse_analyze_args(args, with_list=False)
    except OptionError as error:
        raise ConfigError(f"{where}: {error}") from None
    return args


def _beam_args(table: dict[str, Any], where: str) -> list[str]:
    try:
        return option_args(table, analyze=False)
    except OptionError as error:
        raise ConfigError(f"{where}: {error}") from None


def _source(item: Any, base: Path, where: str) -> Source:
    if isinstance(item, str):
        item = {"url": item} if item.lower().startswith(("http://", "https://")) else {"path": item}
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: a source is a string or a table, not {item!r}")
    _unknown(item, SOURCE_KEYS, where)
    if ("url" in item) == ("path" in item):
        raise ConfigError(f"{where}: give a source either `url` or `path`")
    limit = item.get("max_videos")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{where}.max_videos: a positive integer, not {limit!r}")
    if "url" in item:
        return Source(str(item["url"]), is_url=True, max_videos=limit)
    return Source(_resolve(base, str(item["path"])), is_url=False, max_videos=limit)


def _cohorts(table: Any, base: Path, where: str) -> tuple[Cohort, ...]:
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{where}: name at least one cohort ([cohorts.NAME] sources = [...])")
    cohorts = []
    for name, body in table.items():
        here = f"{where}.{name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{here}: expected a table with `sources`")
        _unknown(body, ("sources",), here)
        sources = body.get("sources")
        if not isinstance(sources, list) or not sources:
            raise ConfigError(f"{here}.sources: a non-empty list of files or URLs")
        cohorts.append(
            Cohort(
                name, tuple(_source(s, base, f"{here}.sources[{i}]") for i, s in enumerate(sources))
            )
        )
    return tuple(cohorts)


def _reports(table: Any, base: Path, where: str) -> ReportSettings:
    from affectflow.queries.render import FORMATS
    from affectflow.queries.runner import PARAMETERS, convert_param, list_reports

    table = dict(table or {})
    _unknown(table, REPORT_KEYS, where)
    names = tuple(table.get("names", DEFAULT_REPORTS))
    _unknown(names, list_reports(), f"{where}.names")
    formats = tuple(table.get("formats", ("html",)))
    _unknown(formats, FORMATS, f"{where}.formats")
    params = dict(table.get("params", {}))
    _unknown(params, list(PARAMETERS), f"{where}.params")
    for name, value in params.items():
        try:
            convert_param(name, value)
        except ValueError as error:
            raise ConfigError(f"{where}.params: {error}") from None
    min_videos = table.get("min_videos")
    if min_videos is not None and (not isinstance(min_videos, int) or min_videos < 1):
        raise ConfigError(f"{where}.min_videos: a positive integer, not {min_videos!r}")
    out_dir = _resolve(base, str(table.get("out_dir", "reports")))
    return ReportSettings(names, formats, out_dir, min_videos, params)


def load_config(path: str) -> RefreshConfig:
    """Read and check a refresh config; raises ConfigError with the offending key."""
    where = Path(path)
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config {path!r}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    base = where.resolve().parent
    _unknown(data, TOP_KEYS, path)
    if not isinstance(data.get("warehouse"), str) or not data["warehouse"]:
        raise ConfigError(f'{path}: `warehouse = "DIR"` is required')
    warehouse = _resolve(base, data["warehouse"])
    args = [f"--warehouse={warehouse}"]
    args += _analyze_args(dict(data.get("analyze", {})), base, f"{path} [analyze]")
    args += _beam_args(dict(data.get("beam", {})), f"{path} [beam]")
    return RefreshConfig(
        path=str(where),
        warehouse=warehouse,
        cohorts=_cohorts(data.get("cohorts"), base, f"{path} [cohorts]"),
        analyze_args=tuple(args),
        reports=_reports(data.get("reports"), base, f"{path} [reports]"),
    )
