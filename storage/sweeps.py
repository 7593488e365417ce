"""Sweep outputs: content-keyed staged chunks, then one publish to Parquet and SQLite.

Layout under the output root::

    _sweeps/<sweep_id>/staged/<key>.parquet     one per (combination chunk, symbol batch)
    sweep_results/sweep_id=<sweep_id>/part-*.parquet
    sweep_summary/sweep_id=<sweep_id>/part-0.parquet
    walkforward_folds/sweep_id=<sweep_id>/..., walkforward_equity/sweep_id=<sweep_id>/...

A staged chunk is written to a temporary name and renamed, so it exists whole or not at
all; its key is derived from its content (input fingerprint, strategy, space, chunk, code
version), so a rerun finds the chunks already computed and computes only the others.

``publish_sweep`` writes each table's Parquet into a temporary directory, replaces the
sweep's rows in SQLite in one transaction (``sweeps`` registry row included), then renames
the directories into place and removes the staging area. A publish interrupted after the
SQLite commit is completed by the next run (``sweep_published`` is false until the
directories are in place). This is the one place that knows the sweep storage protocol;
it is meant to move onto the run protocol of ``storage`` once that one covers new tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from compute.errors import StorageError

__all__ = [
    "SWEEP_TABLES",
    "connect",
    "list_sweeps",
    "publish_sweep",
    "read_staged",
    "record_sweep",
    "stage_chunk",
    "staged_keys",
    "sweep_published",
]

SWEEP_TABLES = ("sweep_results", "sweep_summary", "walkforward_folds", "walkforward_equity")
_REGISTRY_COLUMNS = (
    "sweep_id",
    "kind",
    "status",
    "started_at",
    "finished_at",
    "config_hash",
    "input_fingerprint",
    "n_combinations",
    "n_symbols",
    "n_tasks",
    "n_tasks_reused",
    "stats",
    "error",
)


def _staging(root: str, sweep_id: str) -> Path:
    return Path(root) / "_sweeps" / sweep_id / "staged"


def stage_chunk(root: str, sweep_id: str, key: str, table: pa.Table) -> str:
    """Write one task's rows under its content key, atomically (temporary name, rename)."""
    directory = _staging(root, sweep_id)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{key}.parquet"
    tmp = directory / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot stage sweep chunk {final}: {err}") from err
    return str(final)


def staged_keys(root: str, sweep_id: str) -> set[str]:
    """Keys of the chunks already staged for ``sweep_id``."""
    directory = _staging(root, sweep_id)
    if not directory.is_dir():
        return set()
    return {p.name[: -len(".parquet")] for p in directory.glob("*.parquet")}


def read_staged(root: str, sweep_id: str, key: str) -> pa.Table:
    path = _staging(root, sweep_id) / f"{key}.parquet"
    try:
        return pq.read_table(path)
    except OSError as err:
        raise StorageError(f"cannot read staged sweep chunk {path}: {err}") from err


def connect(db_path: str) -> sqlite3.Connection:
    """The run database, with the ``sweeps`` registry table created if missing."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sweeps ("
        + ", ".join(
            f'"{c}"' + (" TEXT PRIMARY KEY" if c == "sweep_id" else "") for c in _REGISTRY_COLUMNS
        )
        + ")"
    )
    return conn


def record_sweep(conn: sqlite3.Connection, sweep_id: str, **fields: Any) -> None:
    """Insert or update the registry row of ``sweep_id``."""
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
    return [dict(zip(_REGISTRY_COLUMNS, row, strict=True)) for row in cur.fetchall()]


def sweep_published(
    root: str, conn: sqlite3.Connection, sweep_id: str, tables: Iterable[str]
) -> bool:
    """Whether ``sweep_id`` is published whole: registry says so and every table is in place."""
    row = conn.execute("SELECT status FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone()
    if not row or row[0] != "succeeded":
        return False
    return all((Path(root) / t / f"sweep_id={sweep_id}").is_dir() for t in tables)


def publish_sweep(
    root: str,
    conn: sqlite3.Connection,
    sweep_id: str,
    tables: Mapping[str, Iterator[pa.Table]],
    registry: Mapping[str, Any],
    *,
    sqlite_tables: Iterable[str] = SWEEP_TABLES,
) -> dict[str, str]:
    """Publish the tables of one sweep (each an iterator of Arrow tables, written as they
    come, so memory holds one piece at a time); see the module docstring for the order."""
    base = Path(root)
    tmp_dirs: dict[str, Path] = {}
    mirrored = set(sqlite_tables)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for name, pieces in tables.items():
            tmp = base / name / f".sweep_id={sweep_id}.{uuid.uuid4().hex[:8]}.tmp"
            tmp.mkdir(parents=True)
            tmp_dirs[name] = tmp
            if name in mirrored:
                conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" (sweep_id TEXT)')
                conn.execute(f'DELETE FROM "{name}" WHERE sweep_id = ?', [sweep_id])
            for i, piece in enumerate(pieces):
                if not piece.num_rows:
                    continue
                pq.write_table(piece, tmp / f"part-{i:05d}.parquet", compression="zstd")
                if name in mirrored:
                    _ensure_columns(conn, name, piece.schema)  # strategies differ in parameters
                    _insert(conn, name, piece)
        record_sweep(conn, sweep_id, **registry, status="succeeded")
        conn.execute("COMMIT")
    except BaseException as err:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        for tmp in tmp_dirs.values():
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError | sqlite3.Error):
            raise StorageError(f"cannot publish sweep {sweep_id}: {err}") from err
        raise
    paths = {}
    for name, tmp in tmp_dirs.items():
        final = base / name / f"sweep_id={sweep_id}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        paths[name] = str(final)
    shutil.rmtree(base / "_sweeps" / sweep_id, ignore_errors=True)
    with contextlib.suppress(OSError):  # other sweeps may still have staged chunks
        (base / "_sweeps").rmdir()
    return paths


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "INTEGER"
    if pa.types.is_floating(t):
        return "REAL"
    return "TEXT"


def _ensure_columns(conn: sqlite3.Connection, name: str, schema: pa.Schema) -> None:
    have = {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
    for f in schema:
        if f.name not in have:
            conn.execute(f'ALTER TABLE "{name}" ADD COLUMN "{f.name}" {_sql_type(f.type)}')


def _insert(conn: sqlite3.Connection, name: str, table: pa.Table) -> None:
    cols = [f.name for f in table.schema if not pa.types.is_nested(f.type)]
    sql = (
        f'INSERT INTO "{name}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
        f"VALUES ({', '.join('?' for _ in cols)})"
    )
    for batch in table.select(cols).to_batches(max_chunksize=50_000):
        columns = []
        for c in batch.columns:
            if pa.types.is_timestamp(c.type) or pa.types.is_date(c.type):
                c = c.cast(pa.string())
            columns.append(c.to_pylist())
        conn.executemany(sql, zip(*columns, strict=True))
