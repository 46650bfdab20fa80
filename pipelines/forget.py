"""`affectflow forget VIDEO`: delete one video's rows from the warehouse and its cache.

For a person who asks to be removed, or a video taken down at the source. VIDEO is the
video's key, its URL or its YouTube id. Every `videos`, `faces` and `errors` row with
that key is removed, and so is every row without a key (a list row refused before it
got one, e.g. with both a url and a video_id) whose URL names the video; each Parquet
file that holds one is rewritten atomically; interrupted runs lose their progress
journals and the video's line of their input. The downloaded file, its ledger and any
partial download are deleted from the cache: `--cache-dir`, else every cache the
warehouse's runs used (`runs.config`, and the manifests of interrupted runs), else the
default one, with a warning. Everything it writes is owner-only. The `runs` table keeps
its counts (they name no video).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from affectflow.models.cache import default_cache_dir
from affectflow.pipelines.command_parser import CommandParser
from affectflow.schemas.printable import printable
from affectflow.sources.cached_videos import VIDEO_KEY, delete_cached_video
from affectflow.sources.video_keys import YOUTUBE_ID, video_key_for
from affectflow.warehouse.commit import forget_video, unkeyed_urls
from affectflow.warehouse.layout import local_path, owner_only
from affectflow.warehouse.lock import EX_TEMPFAIL, WarehouseBusy, warehouse_lock
from affectflow.warehouse.resume import read_manifest, unfinished_runs
from affectflow.warehouse.sql import WarehouseError, connect

LOG = logging.getLogger(__name__)


def video_cache_dir(cache_dir: str) -> Path:
    """Where `affectflow analyze --cache-dir DIR` keeps downloaded videos and ledgers."""
    return Path(local_path(cache_dir)) / "videos"


def key_of(video: str) -> str | None:
    """The key of a video given by its key, an http(s) URL or a YouTube id; else None."""
    video = video.strip()
    if VIDEO_KEY.match(video):
        return video
    if video.lower().startswith(("http://", "https://")):
        return video_key_for(video)
    return f"youtube-{video}" if YOUTUBE_ID.match(video) else None


def _checked_key(video: str) -> str:
    key = key_of(video)
    if key is None:
        raise ValueError(
            f"{video[:80]!r} is not a video key (youtube-<id>, url-<hash> or local-<hash>), "
            "an http(s) URL or a YouTube id"
        )
    return key


def _forget(warehouse: str, key: str) -> dict[str, int]:
    """Remove the rows of `key`, and the rows without a key whose URL has that key."""
    urls = frozenset(url for url in unkeyed_urls(warehouse) if key_of(url) == key)
    return forget_video(warehouse, key, urls)


def _recorded_configs(warehouse: str) -> list[str]:
    """`runs.config` of every committed run and of every interrupted run's manifest."""
    import duckdb

    configs = []
    with contextlib.suppress(WarehouseError, duckdb.Error), connect(warehouse) as con:
        configs = [row[0] for row in con.execute("select config from runs").fetchall()]
    for run_id in unfinished_runs(warehouse):
        configs.append(
            ((read_manifest(warehouse, run_id) or {}).get("run_row") or {}).get("config")
        )
    return [config for config in configs if config]


def recorded_cache_dirs(warehouse: str) -> list[str]:
    """The `--cache-dir` of every run of the warehouse, as recorded, first seen first."""
    found: list[str] = []
    for config in _recorded_configs(warehouse):
        try:
            cache_dir = json.loads(config).get("cache_dir")
        except (ValueError, AttributeError):
            continue
        if cache_dir and cache_dir not in found:
            found.append(cache_dir)
    return found


def cache_dirs(warehouse: str, given: str | None) -> list[str]:
    """Where to delete the video's downloads: `given`, else the recorded caches that are
    here, else the default cache (each fallback with a warning)."""
    if given:
        return [given]
    recorded = recorded_cache_dirs(warehouse)
    here = [d for d in recorded if Path(local_path(d)).expanduser().is_dir()]
    for missing in sorted(set(recorded) - set(here)):
        LOG.warning("the cache %s a run used is not on this machine: give --cache-dir", missing)
    if not recorded:
        LOG.warning(
            "no run of %s records its cache: looking in the default one (else give --cache-dir)",
            warehouse,
        )
    return here or [str(default_cache_dir())]


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="affectflow forget",
        description="Remove a video's rows from the warehouse and its file from the cache.",
    )
    parser.add_argument(
        "video", help="the video's key (videos.video_key, e.g. youtube-<id>), URL or YouTube id"
    )
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="cache of analyze (default: the caches the warehouse's runs used, as "
        "runs.config records them, else ~/.cache/affectflow)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Forget one video; exit 0 when done (also when nothing held it), 2 on bad input,
    75 when another job holds the warehouse's lock."""
    args = _parser().parse_args(argv)
    try:
        key = _checked_key(args.video)
        if not Path(local_path(args.warehouse)).is_dir() and "://" not in args.warehouse:
            raise ValueError(f"warehouse {args.warehouse!r} does not exist")
        caches = cache_dirs(args.warehouse, args.cache_dir)
        with owner_only(), warehouse_lock(args.warehouse, caches[0], command="forget"):
            removed = _forget(args.warehouse, key)
            deleted = [
                path
                for cache in caches
                for path in delete_cached_video(video_cache_dir(cache), key, partials=True)
            ]
    except WarehouseBusy as error:
        print(printable(f"affectflow forget: {error}"), file=sys.stderr)
        return EX_TEMPFAIL
    except (ValueError, OSError) as error:
        print(printable(f"affectflow forget: {error}"), file=sys.stderr)
        return 2
    rows = ", ".join(f"{n} {table}" for table, n in removed.items())
    print(f"{key}: removed rows: {rows}; deleted {len(deleted)} cached file(s)")
    return 0
