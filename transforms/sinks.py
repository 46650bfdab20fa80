"""Stage 6, sinks: write each table's rows as Parquet with its explicit schema.

Rows of one run go to a staging folder (`<warehouse>/_staging/<run_id>/<table>/`); the
driver moves them into the tables only after the whole pipeline succeeded (see
`warehouse.commit.commit_run`), so a crashed run leaves nothing visible.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.parquetio import WriteToParquet

from affectflow.schemas.tables import SCHEMAS
from affectflow.warehouse.layout import join


class WriteTables(beam.PTransform):
    """{table name: PCollection of row dicts} -> Parquet files under `staging_dir`."""

    def __init__(self, staging_dir: str, run_id: str, *, num_shards: int = 0) -> None:
        super().__init__()
        self._staging_dir = staging_dir
        self._run_id = run_id
        self._num_shards = num_shards

    def expand(self, tables: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        written = {}
        for name, rows in tables.items():
            prefix = join(self._staging_dir, name, f"run-{self._run_id}")
            written[name] = rows | f"Write_{name}" >> WriteToParquet(
                prefix,
                SCHEMAS[name],
                file_name_suffix=".parquet",
                num_shards=self._num_shards,
                codec="zstd",
            )
        return written
