"""SQLite run registry and results: ``barpipe.db`` next to the Parquet outputs, in WAL mode.

Tables (DDL generated from ``storage.schemas``): ``runs`` (one row per run: status, counts,
config hash, input fingerprint, error, pid and host), ``trades``, ``metrics``, ``quarantine``
(the Parquet columns plus ``run_key``) and ``run_stages`` (timings and peak memory).

A run's life: ``start_run`` inserts it as ``running``; the flow computes and publishes Parquet;
``publish_run_rows`` replaces the run key's trades/metrics/quarantine rows in one transaction;
``finish_run`` records the outcome. A run left ``running`` by a process that no longer exists
is marked ``abandoned`` by ``mark_abandoned`` at the start of the next run.

Writes use ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers queue on
``busy_timeout`` instead of failing on lock upgrade); a lock held past the timeout raises
StorageError. Every value goes through ``?`` parameters. Times are ISO-8601 UTC text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from compute.errors import StorageError
from storage.schemas import (
    ISO_FORMAT,
    METRICS,
    QUARANTINE,
    RUN_STAGES,
    RUN_STATUSES,
    SQLITE_TABLES,
    TIMESTAMP,
    TRADES,
    sqlite_columns,
    sqlite_ddl,
)

__all__ = [
    "DB_NAME",
    "connect",
    "db_path",
    "finish_run",
    "get_run",
    "list_runs",
    "mark_abandoned",
    "publish_run_rows",
    "read_table",
    "start_run",
    "utc_now",
]

DB_NAME = "barpipe.db"
_SCHEMA_VERSION = 1
_INSERT_CHUNK = 50_000  # rows converted to Python at a time


def utc_now() -> str:
    """The current time as stored in SQLite."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(value: dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def db_path(output_root: str | os.PathLike[str], local_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``barpipe.db`` lives: in a local output root, else in ``local_dir``.

    SQLite needs a local filesystem (locking, WAL shared memory), so for ``s3://`` and other
    non-local roots the caller names a local directory.
    """
    if local_dir is not None:
        return Path(local_dir) / DB_NAME
    text = os.fspath(output_root)
    if "://" in text and not text.startswith("file://"):
        raise StorageError(f"output root {text} is not local: give a local directory for {DB_NAME}")
    return Path(text.removeprefix("file://")) / DB_NAME


def connect(path: str | os.PathLike[str], busy_timeout_s: float = 60.0) -> sqlite3.Connection:
    """Open (creating if needed) barpipe.db: WAL, ``busy_timeout``, tables and indexes.

    The connection is in autocommit mode; barpipe's writes open their own transactions.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    except (OSError, sqlite3.Error) as err:
        raise StorageError(f"cannot open database {path}: {err}") from err
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"database {path} cannot use WAL mode (got {mode}); is it on a local filesystem?")
        conn.execute("PRAGMA synchronous = FULL")  # a committed run survives power loss
        with _transaction(conn):
            for statement in sqlite_ddl():
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
    except sqlite3.Error as err:
        conn.close()
        raise StorageError(f"cannot initialise database {path}: {err}") from err
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK and re-raise."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise StorageError(f"database is locked by another writer (waited for the busy timeout): {err}") from err
        raise StorageError(f"cannot start a transaction: {err}") from err
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def start_run(
    conn: sqlite3.Connection,
    run_id: str,
    run_key: str,
    *,
    config_hash: str | None = None,
    input_fingerprint: str | None = None,
    started_at: dt.datetime | str | None = None,
    pid: int | None = None,
    host: str | None = None,
) -> None:
    """Register a run as ``running`` (pid and host default to this process)."""
    row = {
        "run_id": run_id,
        "run_key": run_key,
        "status": "running",
        "started_at": _iso(started_at) or utc_now(),
        "config_hash": config_hash,
        "input_fingerprint": input_fingerprint,
        "pid": os.getpid() if pid is None else pid,
        "host": socket.gethostname() if host is None else host,
    }
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    try:
        with _transaction(conn):
            conn.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(row.values()))
    except sqlite3.IntegrityError as err:
        raise StorageError(f"run {run_id!r} is already registered") from err


_COUNTS = (
    "n_symbols",
    "n_bars",
    "n_trades",
    "n_quarantined",
    "n_rows_in",
    "n_rows_processed",
    "n_rows_quarantined",
)


def finish_run(
    conn: sqlite3.Connection,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    finished_at: dt.datetime | str | None = None,
    n_symbols: int | None = None,
    n_bars: int | None = None,
    n_trades: int | None = None,
    n_quarantined: int | None = None,
    n_rows_in: int | None = None,
    n_rows_processed: int | None = None,
    n_rows_quarantined: int | None = None,
) -> None:
    """Record a run's outcome (``succeeded``, ``failed`` or ``abandoned``) and its counts.

    Counts left as None keep their stored value.
    """
    if status not in RUN_STATUSES or status == "running":
        raise StorageError(f"status {status!r} is not a final run status; valid: succeeded, failed, abandoned")
    counts = {
        "n_symbols": n_symbols,
        "n_bars": n_bars,
        "n_trades": n_trades,
        "n_quarantined": n_quarantined,
        "n_rows_in": n_rows_in,
        "n_rows_processed": n_rows_processed,
        "n_rows_quarantined": n_rows_quarantined,
    }
    sets = ", ".join(f"{name} = COALESCE(?, {name})" for name in _COUNTS)
    sql = f"UPDATE runs SET status = ?, finished_at = ?, error = ?, {sets} WHERE run_id = ?"
    params = (status, _iso(finished_at) or utc_now(), error, *(counts[c] for c in _COUNTS), run_id)
    with _transaction(conn):
        if conn.execute(sql, params).rowcount != 1:
            raise StorageError(f"run {run_id!r} is not registered")


def _rows_table(rows: pa.Table | Sequence[Any], schema: pa.Schema, run_id: str) -> pa.Table:
    """Rows (a table, or mappings/dataclasses) in ``schema`` with ``run_id`` filled in."""
    if not isinstance(rows, pa.Table):
        records = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]
        for record in records:
            record["run_id"] = run_id
        missing = sorted({n for n in schema.names for r in records if n not in r})
        if missing:
            raise StorageError(f"rows lack field(s) {missing} of {schema.names}")
        return pa.Table.from_pylist(records, schema=schema)
    if "run_id" not in rows.column_names:
        rows = rows.append_column("run_id", pa.nulls(rows.num_rows, pa.string()).fill_null(run_id))
    missing = [c for c in schema.names if c not in rows.column_names]
    if missing:
        raise StorageError(f"rows lack column(s) {missing}; have {rows.column_names}")
    try:
        return rows.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise StorageError(f"rows do not fit the schema: {err}") from err


def _sql_columns(table: pa.Table) -> list[pa.ChunkedArray]:
    """Columns ready for sqlite3: timestamps as ISO-8601 UTC text."""
    out = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = pc.strftime(column.cast(TIMESTAMP), format=ISO_FORMAT)
        out.append(column)
    return out


def _insert(conn: sqlite3.Connection, name: str, table: pa.Table, run_key: str | None) -> int:
    columns = sqlite_columns(name)
    sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    for offset in range(0, table.num_rows, _INSERT_CHUNK):
        values = [c.to_pylist() for c in _sql_columns(table.slice(offset, _INSERT_CHUNK))]
        if run_key is not None:
            values.insert(1, [run_key] * len(values[0]))
        conn.executemany(sql, zip(*values, strict=True))
    return int(table.num_rows)


def publish_run_rows(
    conn: sqlite3.Connection,
    run_id: str,
    run_key: str,
    trades: pa.Table,
    metrics: pa.Table,
    quarantine: pa.Table | Sequence[Any] = (),
    stages: pa.Table | Sequence[Mapping[str, Any]] = (),
) -> dict[str, int]:
    """Replace the run key's trades, metrics and quarantine rows with this run's, atomically.

    In ONE transaction: delete every row of ``run_key`` (older runs of the key, or an earlier
    attempt of this one) from trades, metrics and quarantine, insert the new rows, and replace
    this run's ``run_stages`` rows. On any error nothing changes.

    Parameters
    ----------
    trades, metrics
        Tables in the ``TRADES`` / ``METRICS`` schemas.
    quarantine
        A ``QUARANTINE`` table, or ``QuarantineRecord`` objects / mappings (run_id filled in).
    stages
        A ``RUN_STAGES`` table or mappings with stage, seconds, peak_rss_bytes, worker.

    Returns
    -------
    dict[str, int]
        Rows inserted per table.
    """
    tables = {
        "trades": _rows_table(trades, TRADES, run_id),
        "metrics": _rows_table(metrics, METRICS, run_id),
        "quarantine": _rows_table(quarantine, QUARANTINE, run_id),
        "run_stages": _rows_table(stages, RUN_STAGES, run_id),
    }
    inserted: dict[str, int] = {}
    try:
        with _transaction(conn):
            for name in ("trades", "metrics", "quarantine"):
                conn.execute(f"DELETE FROM {name} WHERE run_key = ?", (run_key,))
                inserted[name] = _insert(conn, name, tables[name], run_key)
            conn.execute("DELETE FROM run_stages WHERE run_id = ?", (run_id,))
            inserted["run_stages"] = _insert(conn, "run_stages", tables["run_stages"], None)
    except sqlite3.Error as err:
        raise StorageError(f"cannot publish rows of run {run_id!r}: {err}") from err
    return inserted


def list_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs first, as dicts with the ``runs`` columns."""
    cursor = conn.execute("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", (limit,))
    return [dict(row) for row in cursor.fetchall()]


def get_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """One run's row, or None."""
    row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else dict(row)


def _process_gone(pid: int, started_at: str | None) -> bool:
    """True if ``pid`` no longer runs the process that started the run (dead, or pid reused)."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # e.g. access denied: it exists, assume it is ours
    if started_at is None:
        return False
    started = dt.datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return created > started.timestamp() + 1.0  # a process born after the run started is another one


def mark_abandoned(conn: sqlite3.Connection, host: str | None = None) -> list[str]:
    """Mark ``abandoned`` the runs left ``running`` on this host by processes that are gone.

    Runs started on other hosts are left alone (their pids mean nothing here). Returns the run
    ids marked, so the caller can clean their staging areas.
    """
    host = socket.gethostname() if host is None else host
    rows = conn.execute(
        "SELECT run_id, pid, started_at FROM runs WHERE status = 'running' AND host = ?", (host,)
    ).fetchall()
    dead = [row for row in rows if row["pid"] is None or _process_gone(int(row["pid"]), row["started_at"])]
    if not dead:
        return []
    with _transaction(conn):
        for row in dead:
            conn.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?, error = ? WHERE run_id = ? AND status = 'running'",
                (utc_now(), f"process {row['pid']} on {host} ended without finishing the run", row["run_id"]),
            )
    return [str(row["run_id"]) for row in dead]


def read_table(
    conn: sqlite3.Connection, name: str, *, run_key: str | None = None, run_id: str | None = None
) -> pa.Table:
    """A SQLite table (optionally one run key's or run's rows) as Arrow, timestamps parsed back."""
    if name not in SQLITE_TABLES:
        raise StorageError(f"unknown table {name!r}; valid: {sorted(SQLITE_TABLES)}")
    columns = sqlite_columns(name)
    where, params = [], []
    if run_key is not None and "run_key" in columns:
        where.append("run_key = ?")
        params.append(run_key)
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    sql = f"SELECT {', '.join(columns)} FROM {name}" + (f" WHERE {' AND '.join(where)}" if where else "")
    rows = conn.execute(sql + " ORDER BY rowid", params).fetchall()
    schema = SQLITE_TABLES[name]
    data: dict[str, pa.Array] = {}
    for i, column in enumerate(columns):
        values = [row[i] for row in rows]
        type_ = pa.string() if column not in schema.names else schema.field(column).type
        if pa.types.is_timestamp(type_):
            data[column] = pc.cast(pa.array(values, pa.string()), TIMESTAMP)
        else:
            data[column] = pa.array(values, type_)
    return pa.table(data)
