"""Reading a remote warehouse (s3://, gs://, ...) through pyarrow's filesystems.

DuckDB reads a local warehouse's files itself. For a remote one it would need its
`httpfs` extension, which a worker or an offline machine cannot always install, and
which reads no credentials by itself. pyarrow's filesystems ship in its wheel (S3, GCS)
and take the environment's credentials the way the cloud SDKs do (AWS_* variables,
profiles, an instance's role, `AWS_ENDPOINT_URL` for an S3-compatible store; Google's
application default credentials): they list the warehouse's files, and DuckDB scans
them as Arrow datasets (`file_relations`), with its projection and filter pushdown.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from affectflow.schemas.tables import SCHEMAS
from affectflow.schemas.tables import UNITS as UNIT_MARKERS
from affectflow.warehouse.layout import COMMITTED, UNITS


class RemoteError(ValueError):
    """pyarrow cannot read a remote warehouse (no filesystem, no credentials, no bucket)."""


class NoRemoteWarehouse(RemoteError):
    """The remote folder holds no warehouse yet."""


def arrow_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for `uri` and the path in it; RemoteError says why not."""
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise RemoteError(f"cannot read {uri} with pyarrow's filesystems: {error}") from error


def _file_info(filesystem: pafs.FileSystem, what: str | pafs.FileSelector) -> object:
    """`filesystem.get_file_info(what)`; RemoteError (one line) when it cannot be asked."""
    try:
        return filesystem.get_file_info(what)
    except (pa.ArrowException, OSError) as error:
        where = what.base_dir if isinstance(what, pafs.FileSelector) else what
        raise RemoteError(f"cannot list {where}: {' '.join(str(error).split())[:300]}") from error


def _check_bucket(filesystem: pafs.FileSystem, root: str) -> None:
    bucket = root.split("/", 1)[0]
    if _file_info(filesystem, bucket).type == pafs.FileType.NotFound:
        raise RemoteError(f"the bucket {bucket} does not exist or these credentials cannot see it")


def check_reachable(uri: str) -> None:
    """Raise RemoteError (one line) unless pyarrow reaches the bucket of `uri` with the
    environment's credentials. A job checks it before it starts: Beam's filesystems
    retry a missing credential or an unreachable endpoint for minutes, a traceback each."""
    _check_bucket(*arrow_filesystem(uri))


def _parquet_files(filesystem: pafs.FileSystem, root: str) -> list[str]:
    """Every Parquet file under `root` (relative paths, sorted); temporary files left out."""
    infos = _file_info(filesystem, pafs.FileSelector(root, recursive=True, allow_not_found=True))
    _check_bucket(filesystem, root)
    prefix = root.rstrip("/") + "/"
    return sorted(
        info.path.removeprefix(prefix)
        for info in infos
        if info.type == pafs.FileType.File and info.path.endswith(".parquet")
    )


def _dataset(
    filesystem: pafs.FileSystem, root: str, paths: list[str], empty: pa.Schema
) -> ds.Dataset | pa.Table:
    """The files as one dataset, their columns unified by name (as `union_by_name`)."""
    if not paths:
        return empty.empty_table()
    full = [f"{root.rstrip('/')}/{path}" for path in paths]
    factory = ds.FileSystemDatasetFactory(
        filesystem, full, ds.ParquetFileFormat(), ds.FileSystemFactoryOptions()
    )
    schema = pa.unify_schemas(
        [factory.inspect(promote_options="permissive"), empty], promote_options="permissive"
    )
    return factory.finish(schema)


def file_relations(
    warehouse: str, tables: tuple[str, ...], unit_tables: tuple[str, ...]
) -> dict[str, ds.Dataset | pa.Table]:
    """{relation name: Arrow dataset} of `sql.relation_names`: each table's files, and
    each unit table's files (`_units/<run_id>/<table>/`), read where they are."""
    filesystem, root = arrow_filesystem(warehouse)
    found = _parquet_files(filesystem, root)
    if not any(path.startswith("runs/") for path in found):
        raise NoRemoteWarehouse(f"{warehouse!r} holds no affectflow warehouse (no runs/ folder)")
    relations = {}
    for table in tables:
        paths = [path for path in found if path.startswith(f"{table}/")]
        relations[f"{table}_files"] = _dataset(filesystem, root, paths, SCHEMAS[table])
    for table in unit_tables:
        paths = [
            path
            for path in found
            if path.startswith(f"{UNITS}/") and path.rsplit("/", 2)[-2] == table
        ]
        schema = UNIT_MARKERS if table == COMMITTED else SCHEMAS[table]
        relations[f"{table}_unit_files"] = _dataset(filesystem, root, paths, schema)
    return relations
