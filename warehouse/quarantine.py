"""Unreadable table files are moved out of the way, once, by name.

A Parquet file that cannot be read (truncated by a full disk, overwritten by hand)
would make every query, and so every later job, fail. At the start of each job
`quarantine_unreadable` reads the footer of every table file (cheap: no data pages)
and moves the ones that fail to `<warehouse>/_quarantine/<table>/...`, logging each
by name; the rest of the warehouse stays usable.
"""

from __future__ import annotations

import logging
import os

import pyarrow.parquet as pq

from affectflow.schemas.tables import TABLE_NAMES
from affectflow.warehouse import layout

LOG = logging.getLogger(__name__)
QUARANTINE = "_quarantine"


def _readable(path: str) -> bool:
    try:
        with layout.open_read(path) as handle:
            pq.read_metadata(handle)
    except Exception:  # any failure to read the footer means unreadable
        return False
    return True


def quarantine_unreadable(warehouse: str) -> list[str]:
    """Move every unreadable Parquet file of the tables to `_quarantine/`; returns the
    new paths."""
    moved = []
    root = layout.local_path(warehouse).rstrip("/")
    for table in TABLE_NAMES:
        for path in layout.table_files(warehouse, table):
            if _readable(path):
                continue
            relative = layout.local_path(path)[len(root) :].lstrip("/")
            target = layout.join(warehouse, QUARANTINE, relative)
            if not layout.is_remote(target):  # object stores need no folders
                os.makedirs(os.path.dirname(target), exist_ok=True)
            layout.rename([path], [target])
            LOG.warning("unreadable file %s moved to %s: it is left out", path, target)
            moved.append(target)
    return moved
