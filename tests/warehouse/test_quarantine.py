"""An unreadable table file is moved to _quarantine/ by name; the rest stays readable."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq

from affectflow.schemas.tables import VIDEOS
from affectflow.warehouse.quarantine import QUARANTINE
from affectflow.warehouse.resume import settle_unfinished


def test_a_corrupt_file_is_quarantined_once_and_named(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "out" / "videos" / "run_date_folder=2026-11-24" / "cohort=a"
    folder.mkdir(parents=True)
    good = folder / "empty.parquet"
    pq.write_table(VIDEOS.empty_table(), good)
    bad = folder / "run-20261124T160305Z-a1b2c3-00000-of-00001.parquet"
    bad.write_bytes(b"PAR1" + bytes(100))  # a footer that is not one
    (tmp_path / "out" / "runs").mkdir()
    with caplog.at_level(logging.WARNING):
        settle_unfinished(str(tmp_path / "out"), identity="any")
        settle_unfinished(str(tmp_path / "out"), identity="any")
    moved = tmp_path / "out" / QUARANTINE / bad.relative_to(tmp_path / "out")
    assert moved.read_bytes() == b"PAR1" + bytes(100) and not bad.exists() and good.exists()
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and bad.name in warnings[0]
