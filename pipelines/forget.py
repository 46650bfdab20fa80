"""`affectflow forget VIDEO_KEY`: delete one video's rows from the warehouse and its cache.

For a person who asks to be removed, or a video taken down at the source: every
`videos`, `faces` and `errors` row with that key is removed (each Parquet file that
holds one is rewritten atomically), and the downloaded file and its ledger are deleted
from the cache. The `runs` table keeps its counts (they name no video).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from affectflow.models.cache import default_cache_dir
from affectflow.transforms.download import local_path
from affectflow.transforms.video_cache import check_video_key, delete_cached_video
from affectflow.warehouse.commit import forget_video
from affectflow.warehouse.lock import EX_TEMPFAIL, WarehouseBusy, warehouse_lock


def video_cache_dir(cache_dir: str) -> Path:
    """Where `affectflow analyze --cache-dir DIR` keeps downloaded videos and ledgers."""
    return Path(local_path(cache_dir)) / "videos"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectflow forget",
        description="Remove a video's rows from the warehouse and its file from the cache.",
    )
    parser.add_argument("video_key", help="the video's key (videos.video_key), e.g. youtube-<id>")
    parser.add_argument("--warehouse", default="out", help="warehouse folder (default: out)")
    parser.add_argument(
        "--cache-dir", default=None, help="cache of analyze (default ~/.cache/affectflow)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Forget one video; exit 0 when done (also when nothing held it), 2 on bad input,
    75 when another job holds the warehouse's lock."""
    args = _parser().parse_args(argv)
    try:
        key = check_video_key(args.video_key)
        if not Path(local_path(args.warehouse)).is_dir() and "://" not in args.warehouse:
            raise ValueError(f"warehouse {args.warehouse!r} does not exist")
        cache_dir = args.cache_dir or str(default_cache_dir())
        with warehouse_lock(args.warehouse, cache_dir, command="forget"):
            removed = forget_video(args.warehouse, key)
        cache = video_cache_dir(cache_dir)
        deleted = delete_cached_video(cache, key, partials=True) if cache.is_dir() else []
    except WarehouseBusy as error:
        print(f"affectflow forget: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    except (ValueError, OSError) as error:
        print(f"affectflow forget: {error}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{n} {table}" for table, n in removed.items())
    print(f"{key}: removed rows: {rows}; deleted {len(deleted)} cached file(s)")
    return 0
