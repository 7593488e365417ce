"""Output staging and reading: tasks stage Parquet files, ``storage.runs`` commits them.

Staging layout under the output root (a local path or an fsspec URL)::

    <root>/_staging/<run_id>/<table>/part-<batch>-NNNNN.parquet   written by tasks (write_staged)

A task writes each table's rows, cast to the table's schema (``storage.tables``) and sorted
by its sort keys, as files of about ``target_file_mib`` MiB (fixed-size row groups; a file is
closed once it reaches the target). The names are fixed by (run_id, table, batch, piece), so a
task that runs twice (a retried or rescheduled Dask task) overwrites its own files and
deletes pieces an earlier, longer attempt left; locally each file is written under a hidden
temporary name and renamed, so a killed task never leaves a truncated file behind.

Published tables are Delta tables, ``<root>/<table>/`` (``storage.delta``); ``storage.runs``
commits a run's staged files into them and ``read_output`` reads their latest committed
version, so a publish in progress is never seen.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from compute.errors import StorageError
from storage.fs import (
    FilesystemLike,
    delete_dir,
    exists,
    is_local,
    join,
    list_dir,
    require_component,
    resolve,
)
from storage.tables import spec

__all__ = [
    "STAGING",
    "list_staged_runs",
    "staged_files",
    "read_output",
    "read_staged",
    "remove_staging",
    "staging_dir",
    "write_equity",
    "write_metrics",
    "write_quarantine",
    "write_staged",
    "write_trades",
]

STAGING = "_staging"
_COMPRESSION = "zstd"
DEFAULT_TARGET_MIB = 128.0
_MAX_ROW_GROUP = 524_288  # rows; smaller groups cost up to a third more time to encode


def _schema(table: str) -> pa.Schema:
    return spec(table).schema


def _dynamic_schema(data_schema: pa.Schema, table: str) -> pa.Schema:
    """The ``indicators`` schema: its key columns, then every other column of the data."""
    keys = _schema(table)
    rest = [f for f in data_schema if f.name not in keys.names]
    bad = [
        f"{f.name} ({f.type})"
        for f in rest
        if not (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]
    if bad:
        raise StorageError(f"{table} value columns must be numeric; got {', '.join(bad)}")
    return pa.schema(list(keys) + rest)


def _conform(data: pa.Table, table: str) -> pa.Table:
    """Select and cast to the table's schema and sort by its natural key."""
    declared = spec(table)
    schema = _dynamic_schema(data.schema, table) if declared.dynamic else declared.schema
    missing = [c for c in schema.names if c not in data.column_names]
    if missing:
        raise StorageError(f"{table} rows lack column(s) {missing}; have {data.column_names}")
    try:
        data = data.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise StorageError(f"{table} rows do not fit the {table} schema: {err}") from err
    if not _sorted_by(data, declared.sort_keys):
        keys = [(k, "ascending", "at_end") for k in declared.sort_keys]
        data = data.take(pc.sort_indices(data, sort_keys=keys))
    return data


def staging_dir(
    root: str | os.PathLike[str], run_id: str, filesystem: FilesystemLike = None
) -> str:
    """Path (inside the resolved filesystem) of a run's staging directory."""
    _, path = resolve(root, filesystem)
    return join(path, STAGING, require_component(run_id, "run_id"))


def _batch_stem(batch: int | str) -> str:
    if isinstance(batch, int):
        if batch < 0:
            raise StorageError(f"batch={batch} must be >= 0")
        return f"part-{batch:05d}-"  # zero-padded: name order is batch order
    return f"part-{require_component(batch, 'batch')}-"


def _sorted_by(data: pa.Table, keys: Sequence[str]) -> bool:
    """Whether ``data`` is already in ascending order of ``keys`` (nulls last), without sorting."""
    n = data.num_rows
    if n < 2:
        return True
    undecided = None  # pairs (i, i+1) equal on every key so far
    for key in keys:
        col = data[key]
        a, b = col.slice(0, n - 1), col.slice(1)
        if col.null_count:
            return False  # rare (quarantine rows without a symbol): let the sort decide
        less, equal = pc.less(a, b), pc.equal(a, b)
        if undecided is None:
            if not pc.all(pc.or_(less, equal)).as_py():
                return False
            undecided = equal
        else:
            if not pc.all(pc.or_(pc.invert(undecided), pc.or_(less, equal))).as_py():
                return False
            undecided = pc.and_(undecided, equal)
        if not pc.any(undecided).as_py():
            return True
    return True


def write_staged(
    data: pa.Table,
    root: str | os.PathLike[str],
    run_id: str,
    table: str,
    batch: int | str,
    filesystem: FilesystemLike = None,
    *,
    target_file_mib: float = DEFAULT_TARGET_MIB,
) -> list[str]:
    """Stage one batch's rows of ``table`` as ``<root>/_staging/<run_id>/<table>/part-<batch>-NNNNN.parquet``.

    The rows are cast to the table's schema and sorted by its natural key (a no-op check when
    they already are), then written as files of about ``target_file_mib`` MiB each, so that
    publishing can commit them as they are. Running it again with the same arguments
    replaces the batch's files (pieces a longer earlier attempt left are deleted). Returns
    the written paths, in order.
    """
    conformed = _conform(data, table)
    fs, path = resolve(root, filesystem)
    directory = join(path, STAGING, require_component(run_id, "run_id"), table)
    stem = _batch_stem(batch)
    fs.create_dir(directory, recursive=True)
    writer = _PieceWriter(
        fs, directory, lambda i: f"{stem}{i:05d}.parquet", conformed.schema,
        _target_bytes(target_file_mib), atomic=is_local(fs),
    )  # fmt: skip
    try:
        for piece in conformed.to_batches():
            writer.add(piece)
        if not conformed.num_rows:  # an empty file still records the batch's schema
            writer.write_empty()
        files = writer.finish()
    except (pa.ArrowInvalid, OSError) as err:
        writer.abort()
        raise StorageError(f"cannot stage {table} rows under {directory}: {err}") from err
    keep = {name for name, _ in files}
    for info in list_dir(fs, directory):  # a longer earlier attempt of this batch
        name = str(info.base_name)
        if name.startswith(stem) and name.endswith(".parquet") and name not in keep:
            fs.delete_file(str(info.path))
    return [join(directory, name) for name, _ in files]


def write_trades(
    data: pa.Table,
    root: str | os.PathLike[str],
    run_id: str,
    batch: int | str,
    filesystem: FilesystemLike = None,
) -> list[str]:
    """Stage one batch's trades (``TRADES`` schema)."""
    return write_staged(data, root, run_id, "trades", batch, filesystem)


def write_equity(
    data: pa.Table,
    root: str | os.PathLike[str],
    run_id: str,
    batch: int | str,
    filesystem: FilesystemLike = None,
) -> list[str]:
    """Stage one batch's equity curves (``EQUITY`` schema)."""
    return write_staged(data, root, run_id, "equity", batch, filesystem)


def write_metrics(
    data: pa.Table,
    root: str | os.PathLike[str],
    run_id: str,
    batch: int | str,
    filesystem: FilesystemLike = None,
) -> list[str]:
    """Stage one batch's metrics (``METRICS`` schema)."""
    return write_staged(data, root, run_id, "metrics", batch, filesystem)


def write_quarantine(
    data: pa.Table,
    root: str | os.PathLike[str],
    run_id: str,
    batch: int | str,
    filesystem: FilesystemLike = None,
) -> list[str]:
    """Stage one batch's quarantine records (``QUARANTINE`` schema)."""
    return write_staged(data, root, run_id, "quarantine", batch, filesystem)


def remove_staging(
    root: str | os.PathLike[str], run_id: str, filesystem: FilesystemLike = None
) -> None:
    """Delete a run's staging directory (after publishing, or for an abandoned run)."""
    fs, path = resolve(root, filesystem)
    delete_dir(fs, join(path, STAGING, require_component(run_id, "run_id")))


def list_staged_runs(root: str | os.PathLike[str], filesystem: FilesystemLike = None) -> list[str]:
    """Run ids that have a staging directory."""
    fs, path = resolve(root, filesystem)
    return [
        str(info.base_name)
        for info in list_dir(fs, join(path, STAGING))
        if info.type == pafs.FileType.Directory
    ]


def read_staged(
    root: str | os.PathLike[str],
    run_id: str,
    table: str,
    part: str,
    filesystem: FilesystemLike = None,
) -> pa.Table:
    """The rows run ``run_id`` staged for ``table`` under ``part`` (``write_staged``'s
    ``batch``: files ``part-<part>-*``, in name order), before publishing; no rows (the
    table's schema) when there are none."""
    fs, path = resolve(root, filesystem)
    stem = f"part-{require_component(part, 'part')}-"
    files = sorted(
        f
        for f in staged_files(fs, join(path, STAGING, require_component(run_id, "run_id"), table))
        if f.rsplit("/", 1)[-1].startswith(stem)
    )
    if not files:
        return _schema(table).empty_table()
    return pads.dataset(files, filesystem=fs, format="parquet").to_table()


# --- publishing -----------------------------------------------------------------------------


def staged_files(fs: pafs.FileSystem, directory: str) -> list[str]:
    return [
        str(info.path)
        for info in list_dir(fs, directory)
        if info.type == pafs.FileType.File
        and str(info.base_name).startswith("part-")
        and str(info.base_name).endswith(".parquet")
    ]


def _row_bytes(schema: pa.Schema) -> int:
    """Rough uncompressed bytes per row (strings counted as 16 bytes), to size row groups."""
    total = 0
    for field in schema:
        width = field.type.bit_width if pa.types.is_primitive(field.type) else 0
        total += width // 8 if width else 20
    return max(total, 1)


def _target_bytes(target_file_mib: float) -> int:
    if not target_file_mib > 0:
        raise StorageError(f"target_file_mib={target_file_mib} must be > 0")
    return max(1, int(target_file_mib * 2**20))


class _PieceWriter:
    """Streams record batches into files of fixed-size row groups, closing a file at the target size.

    ``name(i)`` gives the i-th file's name. With ``atomic`` (local filesystems) each file is
    written under a hidden temporary name and renamed once complete.
    """

    def __init__(
        self,
        fs: pafs.FileSystem,
        directory: str,
        name: Callable[[int], str],
        schema: pa.Schema,
        target_bytes: int,
        *,
        atomic: bool = False,
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.name = name
        self.schema = schema
        self.target_bytes = target_bytes
        self.atomic = atomic
        self.group_rows = int(min(_MAX_ROW_GROUP, max(1, target_bytes // _row_bytes(schema))))
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.files: list[tuple[str, int]] = []
        self.next_index = 0
        self._stream: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._path = ""
        self._rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        while self.pending_rows >= self.group_rows:
            self._write_group(self.group_rows)

    def flush(self) -> None:
        """Write what is pending and close the current file (the next rows start a new one)."""
        if self.pending_rows:
            self._write_group(self.pending_rows)
        self._close()

    def finish(self) -> list[tuple[str, int]]:
        self.flush()
        return self.files

    def write_empty(self) -> None:
        """Start a file with no rows (its footer still holds the schema)."""
        self.pending = [pa.RecordBatch.from_pylist([], schema=self.schema)]
        self.pending_rows = 0
        self._write_group(0)

    def claim(self) -> str:
        """The next file name, for a file the caller provides (after ``flush``)."""
        name = self.name(self.next_index)
        self.next_index += 1
        return name

    def abort(self) -> None:
        """Close and delete a file left half-written by an error."""
        if self._writer is not None:
            try:
                self._writer.close()
                self._stream.close()
            finally:
                self._writer = None
                self._stream = None
                if exists(self.fs, self._path):
                    self.fs.delete_file(self._path)

    def _write_group(self, rows: int) -> None:
        table = pa.Table.from_batches(self.pending, schema=self.schema)
        group, rest = table.slice(0, rows), table.slice(rows)
        self.pending = rest.to_batches()
        self.pending_rows = rest.num_rows
        if self._writer is None:
            name = self.claim()
            final = join(self.directory, name)
            self._path = (
                join(self.directory, f".{name}.{uuid.uuid4().hex}.tmp") if self.atomic else final
            )
            self._stream = self.fs.open_output_stream(self._path)
            self._writer = pq.ParquetWriter(self._stream, self.schema, compression=_COMPRESSION)
            self.files.append((name, 0))
            self._rows = 0
        self._writer.write_table(group, row_group_size=max(rows, 1))
        self._rows += rows
        self.files[-1] = (self.files[-1][0], self._rows)
        if self._stream.tell() >= self.target_bytes:
            self._close()

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._stream.close()
        self._writer = None
        self._stream = None
        if self.atomic:
            os.replace(self._path, join(self.directory, self.files[-1][0]))


def read_output(
    root: str | os.PathLike[str],
    table: str,
    filesystem: FilesystemLike = None,
    *,
    run_keys: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
    labels: Iterable[str] | None = None,
) -> pa.Table:
    """The current rows of an output table, with its ``run_key`` column last.

    trades, equity, indicators, signals, and the portfolio series (equity, orders, holdings):
    the current rows (``run_key``: the run key of the run that published each row); metrics,
    quarantine, portfolio_metrics, portfolio_state: every snapshot kept, one per run key.
    ``run_keys`` keeps only rows of those keys; ``labels`` only rows of those values of the
    table's label column (``portfolio`` for the portfolio tables, else ``symbol``). Reads the
    latest committed Delta version (``storage.delta``): a commit in progress is never seen.
    """
    from storage import delta

    declared = spec(table)
    where = None if run_keys is None else pads.field("run_key").isin(list(run_keys))
    if labels is not None:
        column = declared.group or (
            "portfolio" if "portfolio" in declared.schema.names else "symbol"
        )
        chosen = pads.field(column).isin(list(labels))
        where = chosen if where is None else where & chosen
    data = delta.read(os.fspath(root), table, filesystem, where=where)
    schema = declared.schema
    if declared.dynamic and data is not None:
        schema = pa.schema([data.schema.field(n) for n in data.column_names if n != "run_key"])
    wanted = list(schema.names) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in schema.names]
    if unknown:
        raise StorageError(f"unknown {table} column(s) {unknown}; valid: {list(schema.names)}")
    projected = pa.schema([schema.field(c) for c in wanted]).append(
        pa.field("run_key", pa.string())
    )
    if data is None:
        return projected.empty_table()
    return data.select(projected.names).cast(projected)
