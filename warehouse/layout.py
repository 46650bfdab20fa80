"""Where everything of a warehouse lives: one path model for local and remote warehouses.

Every module that names a warehouse path goes through these helpers (local paths through
`local_files`, URIs through Beam's FileSystems, imported only then), so `out`,
`file:///data/out` and `gs://bucket/out` behave alike.

    <warehouse>/<table>/run_date_folder=<date>/cohort_folder=<name>/run-<run_id>-NNNNN-of-NNNNN.parquet
    <warehouse>/runs/run-<run_id>.parquet        the commit record of each run
    <warehouse>/_staging/<run_id>/               a run in progress: its manifest, inputs, journal
    <warehouse>/_units/<run_id>/<table>/unit-<unit_id>.parquet   rows of one unit of a run
    <warehouse>/_units/<run_id>/committed/unit-<unit_id>.parquet the unit's commit marker
    <warehouse>/_units/empty/<table>/empty.parquet  keeps the unit globs matching a file
    <warehouse>/_forgotten/keys.txt              videos `forget` removed for good
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from affectflow.warehouse import local_files

STAGING = "_staging"
UNITS = "_units"
COMMITTED = "committed"  # the folder of unit markers, next to the unit tables
UNIT_TABLES = ("videos", "faces", "errors", COMMITTED)
FORGOTTEN = "_forgotten"
RUNS = "runs"


def is_remote(path: str) -> bool:
    """True for a URI other than file:// (gs://, s3://, ...)."""
    return "://" in path and not path.lower().startswith("file://")


def local_path(path: str) -> str:
    """A local path: a file: URL's path (percent-decoded), anything else as given."""
    return unquote(urlsplit(path).path) if path.lower().startswith("file:") else path


def join(base: str, *parts: str) -> str:
    """`base/part/...`; a file:// base becomes a plain path (Beam knows no file:// scheme)."""
    if is_remote(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(local_path(base), *parts)


def _beam_filesystems():  # Beam's FileSystems class, for URIs only
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def exists(path: str) -> bool:
    """A file or folder exists; on an object store (no folders) a folder exists while a
    file is under it."""
    if not is_remote(path):
        return os.path.exists(local_path(path))
    return _beam_filesystems().exists(path) or bool(_under(path, limit=1))


def _under(folder: str, limit: int | None = None) -> list[str]:
    """Files anywhere under a remote "folder" (a key prefix)."""
    found = _beam_filesystems().match([join(folder, "**")], [limit] if limit else None)
    return [m.path for m in found[0].metadata_list]


class NotReadableHere(RuntimeError):
    """This machine cannot read a URI: no Beam filesystem for its scheme, no client, no
    credentials (the message says which)."""


def exists_here(path: str) -> bool:
    """`exists`, telling "missing" from "cannot be checked from here" (NotReadableHere)."""
    if not is_remote(path):
        return exists(path)
    FileSystems = _beam_filesystems()
    try:
        FileSystems.get_filesystem(path)
    except Exception as error:  # ValueError: no filesystem registered for the scheme
        scheme = path.split("://", 1)[0]
        raise NotReadableHere(
            f"no Beam filesystem for {scheme}:// on this machine (gs:// needs "
            "apache-beam[gcp], s3:// apache-beam[aws])"
        ) from error
    try:
        return FileSystems.exists(path)
    except Exception as error:  # the filesystem is there; its client or credentials not
        raise NotReadableHere(" ".join(str(error).split())[:300]) from error


def table_dir(warehouse: str, table: str) -> str:
    return join(warehouse, table)


def table_glob(warehouse: str, table: str) -> str:
    """Every Parquet file of a table, partition folders included (for DuckDB)."""
    return join(table_dir(warehouse, table), "**", "*.parquet")


def staging_dir(warehouse: str, run_id: str) -> str:
    return join(warehouse, STAGING, run_id)


def units_dir(warehouse: str, run_id: str) -> str:
    """The units of one run: their table files and their commit markers."""
    return join(warehouse, UNITS, run_id)


def unit_file(warehouse: str, run_id: str, table: str, unit_id: str) -> str:
    """One table's rows of one unit (`table` "committed": the unit's marker)."""
    return join(units_dir(warehouse, run_id), table, f"unit-{unit_id}.parquet")


def units_glob(warehouse: str, table: str) -> str:
    """Every unit file of `table` (or every marker), the empty one included (for DuckDB)."""
    return join(warehouse, UNITS, "**", table, "*.parquet")


def empty_unit_file(warehouse: str, table: str) -> str:
    return join(warehouse, UNITS, "empty", table, "empty.parquet")


def run_record(warehouse: str, run_id: str) -> str:
    """The `runs` file whose presence makes a run committed."""
    return join(warehouse, RUNS, f"run-{run_id}.parquet")


def forgotten_file(warehouse: str) -> str:
    return join(warehouse, FORGOTTEN, "keys.txt")


def files(pattern: str) -> list[str]:
    """The paths matching a FileSystems glob, sorted."""
    if not is_remote(pattern):
        return local_files.match(local_path(pattern))
    matched = _beam_filesystems().match([pattern])[0].metadata_list
    return sorted(m.path for m in matched)


def all_files(folder: str) -> list[str]:
    """Every file under `folder`, at any depth (temporary files included)."""
    return files(join(folder, "**")) if exists(folder) else []


def table_files(warehouse: str, table: str) -> list[str]:
    """The Parquet files of a table, partition folders included."""
    return [p for p in all_files(table_dir(warehouse, table)) if p.endswith(".parquet")]


def is_warehouse(warehouse: str) -> bool:
    """True when `warehouse` holds a `runs/` folder (at least one run was committed)."""
    return exists(join(warehouse, RUNS))


def name_of(path: str) -> str:
    """The last component of a path or URI."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def delete(paths: list[str]) -> None:
    """Delete files or folders (recursively; on an object store every file under the
    prefix, which Beam's delete of a "folder" leaves in place)."""
    local_files.delete([local_path(p) for p in paths if not is_remote(p)])
    remote = [p for p in paths if is_remote(p)]
    if remote:
        filesystems = _beam_filesystems()
        files = [f for p in remote for f in ([p] if filesystems.exists(p) else _under(p))]
        if files:
            filesystems.delete(files)


def open_read(path: str) -> BinaryIO:
    if not is_remote(path):
        return open(local_path(path), "rb")
    return _beam_filesystems().open(path)


def create(path: str) -> BinaryIO:
    """A new file open for writing (its folders made where folders exist)."""
    if not is_remote(path):
        return local_files.create(local_path(path))
    return _beam_filesystems().create(path)


def rename(sources: list[str], targets: list[str]) -> None:
    """Move files (each source to its target: local to local, or within one store)."""
    if sources and not is_remote(sources[0]):
        local_files.rename([local_path(p) for p in sources], [local_path(p) for p in targets])
    elif sources:
        _beam_filesystems().rename(sources, targets)


@contextlib.contextmanager
def owner_only() -> Iterator[None]:
    """Files and folders this process creates meanwhile are owner-only (umask 077), as
    analyze's are (`--umask`)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def write_atomically(path: str) -> Iterator[BinaryIO]:
    """Write `path` under a temporary name, renamed when the block ends without error.

    A reader sees the old file or the new one, never half of one.
    """
    final = path if is_remote(path) else local_path(path)
    temporary = f"{final}.tmp-{secrets.token_hex(4)}"
    with create(temporary) as handle:
        yield handle
    rename([temporary], [final])
