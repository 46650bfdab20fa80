"""Warehouse paths: the same layout for plain paths and file:// URIs."""

from __future__ import annotations

from pathlib import Path

from affectflow.warehouse import layout


def test_paths_of_a_local_warehouse(tmp_path: Path) -> None:
    root = str(tmp_path / "out")
    assert layout.staging_dir(root, "r1") == f"{root}/_staging/r1"
    assert layout.run_record(root, "r1") == f"{root}/runs/run-r1.parquet"
    assert layout.forgotten_file(root) == f"{root}/_forgotten/keys.txt"
    assert layout.table_glob(root, "faces") == f"{root}/faces/**/*.parquet"
    assert not layout.is_warehouse(root)
    nested = tmp_path / "out" / "faces" / "run_date_folder=2026-01-01" / "cohort_folder=a"
    nested.mkdir(parents=True)
    (nested / "run-x.parquet").write_bytes(b"")
    (nested / "run-x.parquet.tmp-1").write_bytes(b"")
    assert layout.table_files(root, "faces") == [str(nested / "run-x.parquet")]
    assert len(layout.all_files(layout.table_dir(root, "faces"))) == 2
    (tmp_path / "out" / "runs").mkdir()
    assert layout.is_warehouse(root)
    assert layout.is_warehouse(f"file://{root}")


def test_remote_and_local_uris() -> None:
    assert layout.is_remote("gs://bucket/out") and layout.is_remote("s3://b/o")
    assert not layout.is_remote("out") and not layout.is_remote("file:///data/out")
    assert layout.local_path("file:///data/out") == "/data/out"
    assert layout.local_path("out") == "out"
    assert layout.join("gs://bucket/out", "runs") == "gs://bucket/out/runs"
