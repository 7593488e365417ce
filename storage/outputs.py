"""Parquet outputs: tasks write to a staging area, the flow publishes a run atomically by run key.

Layout under the output root (a local path or an fsspec URL)::

    <root>/_staging/<run_id>/<table>/part-<batch>-NNNNN.parquet   written by tasks (write_staged)
    <root>/<table>/run_key=<key>/part-NNNNN.parquet          published (local filesystems)
    <root>/<table>/run_key=<key>/part-<run_id>-<token>-NNNNN.parquet  published (object stores)
    <root>/<table>/run_key=<key>/_manifest.json             what was committed: run_id, files, rows

``<table>`` is one of trades, equity, metrics, quarantine, indicators; ``<key>`` is the run
key, percent-encoded. ``run_key=`` is a hive partition, so
``pyarrow.dataset.dataset(<root>/trades, partitioning="hive")`` also works (files starting
with "_" or "." are ignored by pyarrow). A run adds or replaces its own key's partition and
never touches another key's files: history is never rewritten.

Staging: a task writes each table's rows, sorted by the table's key, as files of about
``target_file_mib`` MiB (fixed-size row groups; a file is closed once it reaches the
target). The names are fixed by (run_id, table, batch, piece), so a task that runs twice (a
retried or rescheduled Dask task) overwrites its own files and deletes pieces an earlier,
longer attempt left; locally each file is written under a hidden temporary name and
renamed, so a killed task never leaves a truncated file behind.

Publishing (``publish_parquet``) takes each table's staged files in name order (batch order,
which is symbol order). A file between half and one and a half times the target, in the
published schema, is committed as it is: hard-linked locally (copied where links are not
available, and on object stores), so the data is encoded once, by the task that computed
it. Runs of other files (a batch's last piece, small batches) are decoded and repacked into
files of about the target size. Then each table is committed:

- local filesystems: the new partition is built in a hidden sibling directory
  ``.tmp-run_key=<key>+<run_id>`` (manifest included) and swapped with the old one in a single
  ``renameat2(RENAME_EXCHANGE)`` (two renames where that is unavailable), so any reader sees
  the old partition or the new one, never a mix or a half;
- object stores (no atomic rename): data files get run-unique names, ``_manifest.json`` is
  written last (a single PUT is atomic), and older runs' files are deleted afterwards. Plain
  readers may see both runs' files for that moment; ``read_output`` reads only the files the
  manifest lists, and is the reader to use there.

All tables are prepared before any is committed, which keeps the window between the tables'
commits to a few renames. ``recover_outputs`` removes what a killed publish left behind.
The published rows, read file after file, depend only on the sequence of staged rows: when
batches are numbered in symbol order and each holds a contiguous run of symbols, they are
the same whatever the batch size or worker count (how they are cut into files is not).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from compute.errors import StorageError
from storage.fs import (
    FilesystemLike,
    delete_dir,
    encode_component,
    exchange_dirs,
    exists,
    is_local,
    join,
    list_dir,
    read_bytes,
    require_component,
    resolve,
    write_bytes_atomic,
)
from storage.tables import TABLES, spec

__all__ = [
    "MANIFEST",
    "STAGING",
    "PublishedTable",
    "list_staged_runs",
    "publish_parquet",
    "read_output",
    "recover_outputs",
    "remove_staging",
    "staging_dir",
    "write_equity",
    "write_metrics",
    "write_quarantine",
    "write_staged",
    "write_trades",
]

STAGING = "_staging"
MANIFEST = "_manifest.json"
_COMPRESSION = "zstd"
DEFAULT_TARGET_MIB = 128.0
_MAX_ROW_GROUP = 524_288  # rows; smaller groups cost up to a third more time to encode


@dataclass(frozen=True)
class PublishedTable:
    """What ``publish_parquet`` committed for one table (small: safe to log or return)."""

    table: str
    run_key: str
    run_id: str
    partition: str
    files: tuple[str, ...]
    n_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


# --- publishing -----------------------------------------------------------------------------


def _staged_files(fs: pafs.FileSystem, directory: str) -> list[str]:
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


# A staged file this close to the target size is published as it is (linked or copied),
# not decoded and written again; smaller neighbours are merged, larger files are split.
_KEEP_RANGE = (0.5, 1.5)


def _assemble(
    fs: pafs.FileSystem,
    staged: Sequence[str],
    directory: str,
    prefix: str,
    table: str,
    target_bytes: int,
    *,
    local: bool,
) -> list[tuple[str, int]]:
    """Publish ``staged`` (in order) into ``directory`` as ``<prefix>NNNNN.parquet`` files.

    Files already near the target size and in the published schema are committed as they
    are (a hard link locally, a copy on object stores); the others are repacked.
    """
    schema = _schema(table)
    if spec(table).dynamic and staged:
        with fs.open_input_file(staged[0]) as handle:
            schema = pq.read_schema(handle)
    fs.create_dir(directory, recursive=True)
    writer = _PieceWriter(fs, directory, lambda i: f"{prefix}{i:05d}.parquet", schema, target_bytes)
    low, high = (f * target_bytes for f in _KEEP_RANGE)
    try:
        for path in staged:
            rows = _keepable(fs, path, schema, low, high)
            if rows is None:
                for batch in _staged_batches(fs, path, schema):
                    writer.add(batch)
                continue
            writer.flush()
            name = writer.claim()
            _link_or_copy(fs, path, join(directory, name), local)
            writer.files.append((name, rows))
        return writer.finish()
    except (pa.ArrowInvalid, OSError) as err:
        writer.abort()
        raise StorageError(f"cannot write {directory}: {err}") from err


def _keepable(
    fs: pafs.FileSystem, path: str, schema: pa.Schema, low: float, high: float
) -> int | None:
    """The row count of a staged file that can be published as it is, else None."""
    size = fs.get_file_info(path).size or 0
    if not low <= size <= high:
        return None
    try:
        with fs.open_input_file(path) as handle:
            meta = pq.ParquetFile(handle).metadata
            if not meta.schema.to_arrow_schema().equals(schema, check_metadata=False):
                return None
            return int(meta.num_rows)
    except (pa.ArrowInvalid, OSError) as err:
        raise StorageError(f"cannot read staged file {path}: {err}") from err


def _link_or_copy(fs: pafs.FileSystem, source: str, target: str, local: bool) -> None:
    if local:
        try:
            os.link(source, target)  # the staged file stays until remove_staging
            return
        except OSError:
            pass  # a filesystem without hard links
    fs.copy_file(source, target)


def _staged_batches(fs: pafs.FileSystem, path: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A staged file's rows in the published schema; errors name the staged file."""
    try:
        with fs.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=65_536):
                yield batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise StorageError(f"cannot read staged file {path}: {err}") from err


def _manifest(table: str, run_key: str, run_id: str, files: list[tuple[str, int]]) -> bytes:
    body = {
        "format": 1,
        "table": table,
        "run_key": run_key,
        "run_id": run_id,
        "n_rows": sum(rows for _, rows in files),
        "files": [{"name": name, "rows": rows} for name, rows in files],
        "committed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return json.dumps(body, indent=1).encode()


def _partition(key: str) -> str:
    return f"run_key={encode_component(key)}"


def _swap_in(new: str, final: str, old: str) -> None:
    """Make the local directory ``new`` appear at ``final``; the previous one ends at ``new`` or ``old``."""
    if not os.path.exists(final):
        os.rename(new, final)
    elif not exchange_dirs(new, final):
        os.rename(final, old)  # readers may find no partition until the next line: never a mix
        os.rename(new, final)


def _discard(
    fs: pafs.FileSystem,
    path: str,
    tables: Sequence[str],
    partition: str,
    run_id: str,
    prefix: str,
    local: bool,
) -> None:
    """Remove what a failed publish wrote before any commit (nothing visible changes)."""
    for table in tables:
        if local:
            delete_dir(fs, join(path, table, f".tmp-{partition}+{run_id}"))
            continue
        for info in list_dir(fs, join(path, table, partition)):
            if info.type == pafs.FileType.File and str(info.base_name).startswith(prefix):
                fs.delete_file(str(info.path))


def publish_parquet(
    root: str | os.PathLike[str],
    run_id: str,
    run_key: str,
    tables: Iterable[str] = ("trades", "equity", "metrics"),
    filesystem: FilesystemLike = None,
    *,
    target_file_mib: float = DEFAULT_TARGET_MIB,
) -> dict[str, PublishedTable]:
    """Publish a run's staged tables as the partition ``run_key=<key>`` of each table, atomically.

    A partition of the same run key published earlier is replaced as a whole; publishing the
    same run twice gives the same result. The staging area is left in place (see
    ``remove_staging``). Layout and guarantees: see the module docstring.

    Parameters
    ----------
    root
        Output root (local path or fsspec URL).
    run_id, run_key
        The run being published and the key its results replace (e.g. the run date).
    tables
        Names among trades, equity, metrics, quarantine. A table with nothing staged is
        published empty (the key's previous rows disappear).
    target_file_mib
        Approximate size of each published Parquet file on disk.

    Returns
    -------
    dict[str, PublishedTable]
        Per table: partition path, file paths and row count.
    """
    target_bytes = _target_bytes(target_file_mib)
    require_component(run_id, "run_id")
    if not run_key:
        raise StorageError("run_key must not be empty")
    fs, path = resolve(root, filesystem)
    local = is_local(fs)
    partition = _partition(run_key)
    names = list(dict.fromkeys(tables))
    for table in names:
        _schema(table)

    # unique per publish: a rerun of this run id must not overwrite files a manifest lists
    prefix = "part-" if local else f"part-{run_id}-{uuid.uuid4().hex[:8]}-"
    prepared: dict[str, tuple[str, list[tuple[str, int]], bytes]] = {}
    try:
        for table in names:
            staged = _staged_files(fs, join(path, STAGING, run_id, table))
            final = join(path, table, partition)
            if local:
                building = join(path, table, f".tmp-{partition}+{run_id}")
                delete_dir(fs, building)  # a previous attempt of this same run
                files = _assemble(fs, staged, building, prefix, table, target_bytes, local=True)
                manifest = _manifest(table, run_key, run_id, files)
                write_bytes_atomic(fs, join(building, MANIFEST), manifest)
            else:
                files = _assemble(fs, staged, final, prefix, table, target_bytes, local=False)
                manifest = _manifest(table, run_key, run_id, files)
            prepared[table] = (final, files, manifest)
    except BaseException:
        _discard(fs, path, names, partition, run_id, prefix, local)
        raise

    for table, (final, _, manifest) in prepared.items():  # commit point of each table
        if local:
            building = join(path, table, f".tmp-{partition}+{run_id}")
            _swap_in(building, final, join(path, table, f".old-{partition}+{run_id}"))
        else:
            write_bytes_atomic(fs, join(final, MANIFEST), manifest)

    result: dict[str, PublishedTable] = {}
    for table, (final, files, _) in prepared.items():
        if local:
            delete_dir(fs, join(path, table, f".tmp-{partition}+{run_id}"))
            delete_dir(fs, join(path, table, f".old-{partition}+{run_id}"))
        else:
            keep = {name for name, _ in files} | {MANIFEST}
            for info in list_dir(fs, final):
                if info.type == pafs.FileType.File and str(info.base_name) not in keep:
                    fs.delete_file(str(info.path))
        result[table] = PublishedTable(
            table=table,
            run_key=run_key,
            run_id=run_id,
            partition=final,
            files=tuple(join(final, name) for name, _ in files),
            n_rows=sum(rows for _, rows in files),
        )
    return result


def _committed(fs: pafs.FileSystem, directory: str) -> dict[str, Any] | None:
    manifest = join(directory, MANIFEST)
    if not exists(fs, manifest):
        return None
    try:
        body: dict[str, Any] = json.loads(read_bytes(fs, manifest))
    except (OSError, ValueError) as err:
        raise StorageError(f"cannot read manifest {manifest}: {err}") from err
    return body


def read_output(
    root: str | os.PathLike[str],
    table: str,
    filesystem: FilesystemLike = None,
    *,
    run_keys: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Read the committed rows of a published table, with a ``run_key`` column appended.

    Only partitions with a manifest are read, and only the files it lists, so files of a
    publish in progress (or of a killed one) are never seen.
    """
    schema = _schema(table)
    fs, path = resolve(root, filesystem)
    if spec(table).dynamic:
        schema = _published_schema(fs, join(path, table), run_keys) or schema
    wanted = list(schema.names) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in schema.names]
    if unknown:
        raise StorageError(f"unknown {table} column(s) {unknown}; valid: {list(schema.names)}")
    projected = pa.schema([schema.field(c) for c in wanted])
    keys = None if run_keys is None else set(run_keys)
    parts: list[pa.Table] = []
    for info in list_dir(fs, join(path, table)):
        name = str(info.base_name)
        if info.type != pafs.FileType.Directory or not name.startswith("run_key="):
            continue
        key = unquote(name[len("run_key=") :])
        if keys is not None and key not in keys:
            continue
        manifest = _committed(fs, str(info.path))
        if manifest is None:
            continue
        for entry in manifest["files"]:
            file = join(str(info.path), entry["name"])
            try:
                part = pq.read_table(file, filesystem=fs, columns=wanted).cast(projected)
            except (pa.ArrowInvalid, OSError) as err:
                raise StorageError(f"cannot read published file {file}: {err}") from err
            parts.append(
                part.append_column("run_key", pa.nulls(part.num_rows, pa.string()).fill_null(key))
            )
    if not parts:
        return projected.append(pa.field("run_key", pa.string())).empty_table()
    return pa.concat_tables(parts)


def iter_output(
    root: str | os.PathLike[str],
    table: str,
    filesystem: FilesystemLike = None,
    *,
    run_keys: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
    batch_size: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """The committed rows of a published table as record batches of at most ``batch_size``
    rows, read one at a time (``read_output`` without holding the whole table).

    The same files as ``read_output`` (manifest-listed only), without the ``run_key`` column.
    """
    schema = _schema(table)
    fs, path = resolve(root, filesystem)
    if spec(table).dynamic:
        schema = _published_schema(fs, join(path, table), run_keys) or schema
    wanted = list(schema.names) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in schema.names]
    if unknown:
        raise StorageError(f"unknown {table} column(s) {unknown}; valid: {list(schema.names)}")
    projected = pa.schema([schema.field(c) for c in wanted])
    keys = None if run_keys is None else set(run_keys)
    for info in list_dir(fs, join(path, table)):
        name = str(info.base_name)
        if info.type != pafs.FileType.Directory or not name.startswith("run_key="):
            continue
        if keys is not None and unquote(name[len("run_key=") :]) not in keys:
            continue
        manifest = _committed(fs, str(info.path))
        for entry in [] if manifest is None else manifest["files"]:
            file = join(str(info.path), entry["name"])
            try:
                with fs.open_input_file(file) as handle:
                    reader = pq.ParquetFile(handle)
                    for batch in reader.iter_batches(batch_size=batch_size, columns=wanted):
                        yield from pa.Table.from_batches([batch]).cast(projected).to_batches()
            except (pa.ArrowInvalid, OSError) as err:
                raise StorageError(f"cannot read published file {file}: {err}") from err


def _published_schema(
    fs: pafs.FileSystem, table_dir: str, run_keys: Iterable[str] | None
) -> pa.Schema | None:
    """Schema of the first committed file of the wanted run keys (dynamic tables)."""
    keys = None if run_keys is None else set(run_keys)
    for info in list_dir(fs, table_dir):
        name = str(info.base_name)
        if info.type != pafs.FileType.Directory or not name.startswith("run_key="):
            continue
        if keys is not None and unquote(name[len("run_key=") :]) not in keys:
            continue
        manifest = _committed(fs, str(info.path))
        if manifest and manifest["files"]:
            with fs.open_input_file(join(str(info.path), manifest["files"][0]["name"])) as handle:
                return pq.read_schema(handle)
    return None


def recover_outputs(root: str | os.PathLike[str], filesystem: FilesystemLike = None) -> list[str]:
    """Undo what a killed publish left behind; returns one line per action taken.

    Run it only while holding the output root's run lock: it treats every publish in progress
    as dead. Local: hidden ``.tmp-`` directories are deleted, and an ``.old-`` directory is
    restored if its partition is missing (a kill between the two fallback renames), else
    deleted. Object stores: data files that their partition's manifest does not list are
    deleted.
    """
    fs, path = resolve(root, filesystem)
    actions: list[str] = []
    for table in TABLES:
        table_dir = join(path, table)
        for info in list_dir(fs, table_dir):
            name = str(info.base_name)
            if info.type != pafs.FileType.Directory:
                continue
            if name.startswith(".tmp-run_key="):
                delete_dir(fs, str(info.path))
                actions.append(f"deleted unfinished {info.path}")
            elif name.startswith(".old-run_key="):
                final = join(table_dir, name[len(".old-") :].split("+", 1)[0])
                if exists(fs, final):
                    delete_dir(fs, str(info.path))
                    actions.append(f"deleted replaced {info.path}")
                else:
                    fs.move(str(info.path), final)
                    actions.append(f"restored {final} from {info.path}")
            elif name.startswith("run_key=") and not is_local(fs):
                manifest = _committed(fs, str(info.path))
                keep = set() if manifest is None else {f["name"] for f in manifest["files"]}
                for entry in list_dir(fs, str(info.path)):
                    base = str(entry.base_name)
                    if (
                        entry.type == pafs.FileType.File
                        and base.startswith("part-")
                        and base not in keep
                    ):
                        fs.delete_file(str(entry.path))
                        actions.append(f"deleted uncommitted {entry.path}")
    return actions
