"""Sweep outputs: content-keyed staged chunks, then one publish through the run protocol.

Staged chunks live under ``<root>/_sweeps/<sweep_id>/staged/<key>.parquet``, one per (symbol
batch, combination chunk) task. A chunk is written to a temporary name and renamed, so it
exists whole or not at all; its key is derived from its content (input fingerprint,
strategy, space, chunk, code version), so a rerun finds the chunks already computed and
computes only the others. Nightly runs neither read nor clean this area (their staging is
``storage.outputs.STAGING``): a sweep's staged chunks survive a night's ``recover``.

The published tables (``sweep_results``, ``sweep_summary``, ``walkforward_folds``,
``walkforward_equity``) are ``keyed`` output tables of ``storage.tables``: Delta tables with
the sweep id as their run key, mirrored to ``barpipe.db`` where declared. ``publish_sweep``
streams each table's pieces into ``storage.runs.publish_keyed`` (one Delta commit per table,
then one SQLite transaction with the mirrored rows, the tables' versions and the ``sweeps``
registry row: the commit point), then deletes the staging area. A publish that dies before
the SQLite commit is rolled back by ``storage.runs.recover`` (the next sweep or night does
it); one that dies after it is complete (``sweep_published`` says so). The caller holds the
output root's run lock (``storage.db.run_lock``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from compute.errors import StorageError
from storage import delta, runs
from storage.schemas import SWEEPS
from storage.tables import spec

__all__ = [
    "SWEEP_TABLES",
    "count_rows",
    "list_sweeps",
    "mark_abandoned",
    "publish_sweep",
    "read_batches",
    "read_staged",
    "read_sweep_table",
    "record_batches",
    "record_sweep",
    "remove_staging",
    "stage_chunk",
    "staged_keys",
    "staged_quarantine",
    "staged_schema",
    "sweep_published",
]

SWEEP_TABLES = ("sweep_results", "sweep_summary", "walkforward_folds", "walkforward_equity")
_REGISTRY_COLUMNS = tuple(SWEEPS.names)
_NOT_PUBLISHED = ("block_moments",)  # staged for the statistics only


def _staging(root: str, sweep_id: str) -> Path:
    return Path(root) / "_sweeps" / sweep_id / "staged"


_QUARANTINE_KEY = b"barpipe_quarantine"


def stage_chunk(
    root: str,
    sweep_id: str,
    key: str,
    table: pa.Table | Iterable[pa.Table],
    *,
    quarantined: Mapping[str, str] | None = None,
) -> int:
    """Write one task's rows under its content key, atomically (temporary name, rename);
    ``table`` may be a stream of pieces of one schema, written one row group each.
    ``quarantined`` (symbol: why) goes into the file's footer (``staged_quarantine``), so a
    reused chunk still says which symbols it left out. Returns the rows written."""
    directory = _staging(root, sweep_id)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{key}.parquet"
    tmp = directory / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    meta = {_QUARANTINE_KEY: json.dumps(dict(quarantined or {}), sort_keys=True).encode()}
    rows = 0
    try:
        if isinstance(table, pa.Table):
            pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
            rows = table.num_rows
        else:
            writer = None
            try:
                for piece in table:
                    if writer is None:
                        schema = piece.schema.with_metadata(meta)
                        writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                    writer.write_table(
                        piece.replace_schema_metadata(meta), row_group_size=max(piece.num_rows, 1)
                    )
                    rows += piece.num_rows
            finally:
                if writer is not None:
                    writer.close()
            if writer is None:
                pq.write_table(pa.table({}).replace_schema_metadata(meta), tmp)
        os.replace(tmp, final)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot stage sweep chunk {final}: {err}") from err
    return rows


def staged_keys(root: str, sweep_id: str) -> set[str]:
    """Keys of the chunks already staged for ``sweep_id``."""
    directory = _staging(root, sweep_id)
    if not directory.is_dir():
        return set()
    return {p.name[: -len(".parquet")] for p in directory.glob("*.parquet")}


def read_staged(
    root: str, sweep_id: str, key: str, *, combo_range: tuple[int, int] | None = None
) -> pa.Table:
    """A staged chunk (``combo_range``: only its rows with lo <= combo_id < hi)."""
    path = _staging(root, sweep_id) / f"{key}.parquet"
    try:
        if combo_range is None:
            return pq.read_table(path)
        if "combo_id" not in pq.read_schema(path).names:  # an empty chunk
            return pq.read_table(path)
        lo, hi = combo_range
        return pq.read_table(path, filters=[("combo_id", ">=", lo), ("combo_id", "<", hi)])
    except OSError as err:
        raise StorageError(f"cannot read staged sweep chunk {path}: {err}") from err


def staged_schema(root: str, sweep_id: str, keys: Iterable[str]) -> pa.Schema:
    """The union of the staged chunks' schemas (from their footers), in order of first
    appearance, without the columns that are never published; strategies differ in
    parameter columns."""
    schemas = []
    for key in keys:
        path = _staging(root, sweep_id) / f"{key}.parquet"
        try:
            schemas.append(pq.read_schema(path))
        except OSError as err:
            raise StorageError(f"cannot read staged sweep chunk {path}: {err}") from err
    if not schemas:
        return pa.schema([])
    union = pa.unify_schemas(schemas)
    return pa.schema([f for f in union if f.name not in _NOT_PUBLISHED])


def record_batches(root: str, sweep_id: str, batches: Iterable[Iterable[str]]) -> None:
    """Record the symbol batches a sweep's tasks use (``read_batches``), atomically."""
    path = Path(root) / "_sweeps" / sweep_id / "batches.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps([list(b) for b in batches]))
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError(
            f"cannot record the batches of sweep {sweep_id} in {path}: {err}"
        ) from err


def read_batches(root: str, sweep_id: str) -> list[list[str]] | None:
    """The symbol batches recorded for ``sweep_id`` by an earlier attempt, or None."""
    path = Path(root) / "_sweeps" / sweep_id / "batches.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise StorageError(f"cannot read the batches of sweep {sweep_id} in {path}: {err}") from err
    return [[str(s) for s in b] for b in data]


def staged_quarantine(root: str, sweep_id: str, keys: Iterable[str]) -> dict[str, str]:
    """The symbols the staged chunks ``keys`` left out, with why (from their footers)."""
    out: dict[str, str] = {}
    for key in keys:
        path = _staging(root, sweep_id) / f"{key}.parquet"
        try:
            meta = pq.read_schema(path).metadata or {}
        except OSError as err:
            raise StorageError(f"cannot read staged sweep chunk {path}: {err}") from err
        out.update(json.loads(meta.get(_QUARANTINE_KEY, b"{}")))
    return dict(sorted(out.items()))


def remove_staging(root: str, sweep_id: str) -> None:
    """Delete a sweep's staged chunks (after it is published)."""
    shutil.rmtree(Path(root) / "_sweeps" / sweep_id, ignore_errors=True)
    with contextlib.suppress(OSError):  # other sweeps may still have staged chunks
        (Path(root) / "_sweeps").rmdir()


# --------------------------------------------------------------------------- registry


def record_sweep(conn: sqlite3.Connection, sweep_id: str, **fields: Any) -> None:
    """Insert or update the registry row of ``sweep_id`` (inside the caller's transaction,
    if one is open)."""
    unknown = sorted(set(fields) - set(_REGISTRY_COLUMNS))
    if unknown:
        raise StorageError(f"sweeps registry: unknown column {unknown[0]!r}")
    values = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in fields.items()}
    cols = ["sweep_id", *values]
    conn.execute(
        f"INSERT INTO sweeps ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
        f"ON CONFLICT(sweep_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in values),
        [sweep_id, *values.values()],
    )


def list_sweeps(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    cur = conn.execute(
        f"SELECT {', '.join(_REGISTRY_COLUMNS)} FROM sweeps ORDER BY started_at DESC LIMIT ?",
        [limit],
    )
    return [dict(zip(_REGISTRY_COLUMNS, tuple(row), strict=True)) for row in cur.fetchall()]


def mark_abandoned(conn: sqlite3.Connection) -> list[str]:
    """Mark ``abandoned`` the sweeps left ``running`` on this host by processes that are
    gone (killed); their staged chunks stay for the next attempt. Returns their ids."""
    import socket

    import psutil

    rows = conn.execute(
        "SELECT sweep_id, pid FROM sweeps WHERE status = 'running' AND host = ?",
        [socket.gethostname()],
    ).fetchall()
    dead = [str(r[0]) for r in rows if r[1] is None or not psutil.pid_exists(int(r[1]))]
    for sweep_id in dead:
        record_sweep(
            conn, sweep_id, status="abandoned", error="its process ended without finishing it"
        )
    return dead


def sweep_published(conn: sqlite3.Connection, sweep_id: str) -> bool:
    """Whether ``sweep_id`` is published: its registry row commits with its rows."""
    row = conn.execute("SELECT status FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone()
    return bool(row) and row[0] == "succeeded"


# --------------------------------------------------------------------------- publish


def _conform(piece: pa.Table, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``piece`` in ``schema``: columns it lacks (another strategy's parameters) are null."""
    n = piece.num_rows
    columns = [
        piece.column(f.name).cast(f.type) if f.name in piece.column_names else pa.nulls(n, f.type)
        for f in schema
    ]
    yield from pa.Table.from_arrays(columns, schema=schema).to_batches()


def _reader(schema: pa.Schema, pieces: Callable[[], Iterable[pa.Table]]) -> pa.RecordBatchReader:
    def batches() -> Iterator[pa.RecordBatch]:
        for piece in pieces():
            if piece.num_rows:
                yield from _conform(piece, schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def publish_sweep(
    out: runs.OutputRoot,
    conn: sqlite3.Connection,
    sweep_id: str,
    tables: Mapping[str, tuple[pa.Schema, Callable[[], Iterable[pa.Table]]]],
    registry: Callable[[], Mapping[str, Any]],
    *,
    signature: str,
) -> dict[str, str]:
    """Publish one sweep's tables, each ``(schema, pieces)``: ``pieces()`` yields its rows one
    Arrow table at a time (called once for Delta and once more for SQLite where mirrored),
    conformed to ``schema``. ``registry()`` gives the registry fields, read inside the
    commit, after every piece was produced. See the module docstring; hold the run lock."""
    streams = {name: _bind(schema, pieces) for name, (schema, pieces) in tables.items()}

    def commit_registry(c: sqlite3.Connection) -> None:
        record_sweep(c, sweep_id, **registry(), status="succeeded", error=None)

    try:
        paths = runs.publish_keyed(
            out, conn, sweep_id, sweep_id, streams, signature=signature, registry=commit_registry
        )
    except (OSError, sqlite3.Error) as err:
        raise StorageError(f"cannot publish sweep {sweep_id}: {err}") from err
    remove_staging(out.path, sweep_id)
    return paths


def _bind(
    schema: pa.Schema, pieces: Callable[[], Iterable[pa.Table]]
) -> Callable[[], pa.RecordBatchReader]:
    return lambda: _reader(schema, pieces)


def read_sweep_table(
    root: str, table: str, sweep_id: str | None = None, *, filesystem: Any = None
) -> pa.Table:
    """A published sweep table (one sweep's rows with ``sweep_id``), without ``run_key``.

    With ``sweep_id``, the parameter columns of other sweeps (null on every row of this one)
    are left out.
    """
    declared = spec(table)
    where = None if sweep_id is None else pads.field("run_key") == sweep_id
    data = delta.read(root, table, filesystem, where=where)
    if data is None:
        return declared.schema.empty_table()
    data = data.drop_columns(["run_key"])
    if sweep_id is not None and declared.dynamic:
        keep = [
            c
            for c in data.column_names
            if c in declared.schema.names or data[c].null_count < data.num_rows
        ]
        data = data.select(keep)
    return data


def count_rows(conn: sqlite3.Connection, table: str, sweep_id: str) -> int:
    """Rows of ``sweep_id`` in a mirrored sweep table of ``barpipe.db``."""
    spec(table)  # a declared name only
    return int(
        conn.execute(f"SELECT count(*) FROM {table} WHERE run_key = ?", [sweep_id]).fetchone()[0]
    )
