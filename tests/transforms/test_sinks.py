"""Sinks: rows of each table land as Parquet with their schema, readable by DuckDB."""

from __future__ import annotations

import glob

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from affectflow.schemas.tables import FACES, VIDEOS
from affectflow.transforms.sinks import WriteTables

FACE = {
    "video_key": "url-1",
    "cohort": "a",
    "frame_index": 3,
    "timestamp_ms": 100,
    "track_id": 0,
    "bbox_x": 1,
    "bbox_y": 2,
    "bbox_w": 30,
    "bbox_h": 30,
    "label": "happy",
    "score": 0.75,
    "scores": {"happy": 0.75, "sad": 0.25},
    "model_id": "m",
    "weights_sha256": "abc",
    "run_id": "r1",
}


def test_write_tables_keeps_schema_and_maps(tmp_path) -> None:
    with TestPipeline(runner="FnApiRunner") as p:
        tables = {
            "faces": p | "Faces" >> beam.Create([FACE, {**FACE, "frame_index": 4}]),
            "videos": p | "Videos" >> beam.Create([]),
        }
        _ = tables | WriteTables(str(tmp_path), "r1")
    faces = glob.glob(str(tmp_path / "faces" / "run-r1-*.parquet"))
    assert faces
    assert pq.read_schema(faces[0]).equals(FACES)
    rows = duckdb.execute(
        "select frame_index, scores['happy'], label from read_parquet($f) order by 1",
        {"f": faces},
    ).fetchall()
    assert rows == [(3, 0.75, "happy"), (4, 0.75, "happy")]
    videos = glob.glob(str(tmp_path / "videos" / "*.parquet"))
    assert all(pq.read_table(v).num_rows == 0 for v in videos)
    assert all(pq.read_schema(v).equals(VIDEOS) for v in videos)
