"""SQLite run registry and results: ``barpipe.db`` next to the Parquet outputs, in WAL mode.

Tables (DDL generated from ``storage.schemas``): ``runs`` (one row per run: status, counts,
config hash, input fingerprint, error, pid and host), ``trades``, ``metrics``, ``quarantine``
(the Parquet columns plus ``run_key``), ``run_stages`` (timings and peak memory), and
``run_plans`` / ``run_batches`` (how the run was cut into batches, written by ``record_plan``
right after planning, so a failed run keeps its plan).

A run's life: ``start_run`` inserts it as ``running``; the flow computes and publishes Parquet;
``publish_run_rows`` replaces the run key's trades/metrics/quarantine rows in one transaction;
``finish_run`` records the outcome. A run left ``running`` by a process that no longer exists
is marked ``abandoned`` by ``mark_abandoned`` at the start of the next run.

Runs on one output root are serialised by ``run_lock``, a file lock (``barpipe.db.lock``)
that a run holds from before ``mark_abandoned`` until its outcome is recorded, so SQLite never
sees two runs writing at once; a second run waits for it or is refused, as configured. The
lock dies with its process, so a killed run never blocks the next one.

Writes use ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers queue on
``busy_timeout`` instead of failing on lock upgrade); a lock held past the timeout raises
StorageError. Every value goes through ``?`` parameters; table and column names come from
``storage.schemas`` only. Times are ISO-8601 UTC text.

``run_notes`` (created here, not a Parquet output) holds what validation fixed rather than
quarantined, e.g. a symbol whose timestamps were sorted: one row per (run, symbol, kind).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from compute.errors import StorageError
from compute.portfolio import SUMMARY_SCHEMA
from storage import sqlite_bulk
from storage.schemas import (
    METRICS,
    QUARANTINE,
    RUN_BATCHES,
    RUN_PLANS,
    RUN_STAGES,
    RUN_STATUSES,
    TIMESTAMP,
    TRADES,
)
from storage.tables import SQLITE_TABLES, sqlite_columns, sqlite_ddl

__all__ = [
    "DB_NAME",
    "best_and_worst",
    "connect",
    "db_path",
    "finish_run",
    "get_run",
    "last_success",
    "list_runs",
    "mark_abandoned",
    "publish_run_rows",
    "read_notes",
    "read_report_sleeves",
    "read_table",
    "record_notes",
    "record_plan",
    "record_stages",
    "run_lock",
    "start_run",
    "utc_now",
]

DB_NAME = "barpipe.db"
_SCHEMA_VERSION = 1
_INSERT_CHUNK = 50_000  # rows converted to Python at a time
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# What the report is drawn from (compute.portfolio.SUMMARY_SCHEMA, one row per sleeve a run
# computed; list columns as little-endian BLOBs): the report never reads equity or trades.
_REPORT_COLUMNS = ("run_id", "run_key", *SUMMARY_SCHEMA.names)
_REPORT_DDL = (
    """CREATE TABLE IF NOT EXISTS report_sleeves (
    run_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    symbol TEXT NOT NULL,
    strategy TEXT NOT NULL,
    grid TEXT NOT NULL,
    first_equity REAL,
    time_us BLOB,
    equity BLOB,
    trade_period_us BLOB,
    trades_long BLOB,
    trades_short BLOB
)""",
    "CREATE INDEX IF NOT EXISTS ix_report_sleeves_run_id ON report_sleeves (run_id)",
    "CREATE INDEX IF NOT EXISTS ix_report_sleeves_sleeve ON report_sleeves (symbol, strategy)",
)

_NOTES_DDL = (
    """CREATE TABLE IF NOT EXISTS run_notes (
    run_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    symbol TEXT,
    kind TEXT NOT NULL,
    n_rows INTEGER,
    first_bad_timestamp TEXT,
    detail TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS ix_run_notes_run_id ON run_notes (run_id)",
)


def utc_now() -> str:
    """The current time as stored in SQLite."""
    return dt.datetime.now(dt.UTC).strftime(_TIME_FORMAT)


def _iso(value: dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def db_path(
    output_root: str | os.PathLike[str], local_dir: str | os.PathLike[str] | None = None
) -> Path:
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


def _connect_readonly(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Open ``path`` with ``mode=ro``; on a read-only directory, ``immutable=1`` as well.

    A WAL database opened read-only still needs its ``-shm`` file, which SQLite cannot
    create in a read-only directory. When no ``-wal`` file exists either, no writer is
    active and every committed row is in the main file, so reading it as immutable is exact.
    """
    if not path.exists():
        raise StorageError(f"no run database at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        if Path(f"{path}-wal").exists():
            raise
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True, timeout=busy_timeout_s)
    conn.row_factory = sqlite3.Row
    return conn


def connect(
    path: str | os.PathLike[str], *, readonly: bool = False, busy_timeout_s: float = 60.0
) -> sqlite3.Connection:
    """Open barpipe.db: WAL, ``busy_timeout``, tables and indexes created if missing.

    ``readonly`` opens an existing database for queries only (``barpipe runs``, the report).
    The connection is in autocommit mode; barpipe's writes open their own transactions.
    """
    path = Path(path)
    try:
        if readonly:
            return _connect_readonly(path, busy_timeout_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    except (OSError, sqlite3.Error) as err:
        raise StorageError(f"cannot open database {path}: {err}") from err
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(
                f"database {path} cannot use WAL mode (got {mode}); is it on a local filesystem?"
            )
        conn.execute("PRAGMA synchronous = FULL")  # a committed run survives power loss
        with _transaction(conn):
            for statement in (*sqlite_ddl(), *_NOTES_DDL, *_REPORT_DDL):
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
            raise StorageError(
                f"database is locked by another writer (waited for the busy timeout): {err}"
            ) from err
        raise StorageError(f"cannot start a transaction: {err}") from err
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _lock_holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "another run"
    except OSError:
        return "another run"


@contextlib.contextmanager
def run_lock(
    db_file: str | os.PathLike[str],
    *,
    mode: str = "wait",
    timeout: float = 600.0,
    echo: Callable[[str], None] | None = None,
    poll: float = 0.2,
) -> Iterator[None]:
    """Hold the output root's run lock (``<db>.lock``, an ``flock``) for the duration of a run.

    ``mode="wait"`` waits up to ``timeout`` seconds for the run holding it (saying so once
    through ``echo``); ``"refuse"`` fails at once. Either way the StorageError names the lock
    file and the run holding it. The kernel releases the lock when its process dies.
    """
    if mode not in ("wait", "refuse"):
        raise StorageError(f"run.lock = {mode!r} is not allowed; choose one of: wait, refuse")
    lock_path = Path(f"{os.fspath(db_file)}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StorageError(f"cannot open the run lock {lock_path}: {err}") from err
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StorageError(f"cannot lock {lock_path}: {err}") from err
            holder = _lock_holder(lock_path)
            if mode == "refuse":
                raise StorageError(
                    f"another run is using this output root ({holder}); run.lock is 'refuse', "
                    f"so this run stops (lock file: {lock_path})"
                )
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"gave up after waiting {timeout:g}s (run.lock_timeout_s) for another run "
                    f"({holder}) to release {lock_path}"
                )
            if echo is not None and not told:
                echo(f"waiting up to {timeout:g}s for another run ({holder}) to finish")
                told = True
            time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {utc_now()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


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
        raise StorageError(
            f"status {status!r} is not a final run status; valid: succeeded, failed, abandoned"
        )
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


_iso_text = sqlite_bulk.iso_text


Rows = pa.Table | Sequence[Any] | Iterable[pa.RecordBatch]
"""Rows to publish: a table, records (mappings or dataclasses), or record batches streamed
from Parquet (read one at a time: the whole table is never in memory)."""


def _row_batches(rows: Rows, schema: pa.Schema, run_id: str) -> Iterator[pa.RecordBatch]:
    """``rows`` as record batches in ``schema`` with ``run_id`` filled in, one at a time."""
    if isinstance(rows, pa.Table | list | tuple):
        yield from _rows_table(rows, schema, run_id).to_batches()
        return
    for batch in rows:  # type: ignore[union-attr]
        yield from _rows_table(pa.Table.from_batches([batch]), schema, run_id).to_batches()


def _insert(
    conn: sqlite3.Connection,
    name: str,
    rows: Rows,
    schema: pa.Schema,
    run_id: str,
    run_key: str | None,
) -> int:
    constants = {} if run_key is None else {"run_key": run_key}
    stats = sqlite_bulk.ingest(
        conn,
        name,
        _row_batches(rows, schema, run_id),
        sqlite_columns(name),
        chunk_rows=_INSERT_CHUNK,
        constants=constants,
    )
    return stats.rows


def publish_run_rows(
    conn: sqlite3.Connection,
    run_id: str,
    run_key: str,
    trades: Rows,
    metrics: Rows,
    quarantine: Rows = (),
    stages: pa.Table | Sequence[Mapping[str, Any]] | None = None,
    sleeves: Rows | None = None,
) -> dict[str, int]:
    """Replace the run key's trades, metrics and quarantine rows with this run's, atomically.

    In ONE transaction: delete every row of ``run_key`` (older runs of the key, or an earlier
    attempt of this one) from trades, metrics and quarantine, insert the new rows, and replace
    this run's ``run_stages`` rows when ``stages`` is given. On any error nothing changes.

    Parameters
    ----------
    trades, metrics
        Rows in the ``TRADES`` / ``METRICS`` schemas: a table, or record batches streamed
        from the published Parquet (``storage.outputs.iter_output``), inserted in chunks of
        ``_INSERT_CHUNK`` rows by ``storage.sqlite_bulk.ingest``.
    quarantine
        The same in the ``QUARANTINE`` schema, or ``QuarantineRecord`` objects / mappings
        (run_id filled in).
    stages
        A ``RUN_STAGES`` table or mappings with stage, seconds, peak_rss_bytes, worker; None
        leaves ``run_stages`` alone (see ``record_stages``).
    sleeves
        The report's per-sleeve summaries (``compute.portfolio.SUMMARY_SCHEMA``) of the
        sleeves this run computed; they replace the run key's ``report_sleeves`` rows. None
        leaves them alone.

    Returns
    -------
    dict[str, int]
        Rows inserted per table.
    """
    tables = {
        "trades": (trades, TRADES),
        "metrics": (metrics, METRICS),
        "quarantine": (quarantine, QUARANTINE),
    }
    inserted: dict[str, int] = {}
    try:
        with _transaction(conn):
            for name, (rows, schema) in tables.items():
                conn.execute(f"DELETE FROM {name} WHERE run_key = ?", (run_key,))
                inserted[name] = _insert(conn, name, rows, schema, run_id, run_key)
            if sleeves is not None:
                conn.execute("DELETE FROM report_sleeves WHERE run_key = ?", (run_key,))
                inserted["report_sleeves"] = sqlite_bulk.ingest(
                    conn,
                    "report_sleeves",
                    _row_batches(sleeves, SUMMARY_SCHEMA, run_id),
                    _REPORT_COLUMNS,
                    chunk_rows=1_000,  # each row holds up to MAX_GRID_POINTS values per list
                    constants={"run_id": run_id, "run_key": run_key},
                ).rows
            if stages is not None:
                conn.execute("DELETE FROM run_stages WHERE run_id = ?", (run_id,))
                inserted["run_stages"] = _insert(
                    conn, "run_stages", stages, RUN_STAGES, run_id, None
                )
    except sqlite3.Error as err:
        raise StorageError(f"cannot publish rows of run {run_id!r}: {err}") from err
    return inserted


def list_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs first, as dicts with the ``runs`` columns."""
    cursor = conn.execute(
        "SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", (limit,)
    )
    return [dict(row) for row in cursor.fetchall()]


def get_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """One run's row, or None."""
    row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else dict(row)


def _process_gone(pid: int, started_at: str | None) -> bool:
    """True if ``pid`` no longer runs the process that started the run (dead, or pid reused)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # e.g. access denied: it exists, assume it is ours
    if started_at is None:
        return False
    started = dt.datetime.strptime(started_at, _TIME_FORMAT).replace(tzinfo=dt.UTC)
    # a process born after the run started is another one that reuses the pid
    return created > started.timestamp() + 1.0


def mark_abandoned(conn: sqlite3.Connection, host: str | None = None) -> list[str]:
    """Mark ``abandoned`` the runs left ``running`` on this host by processes that are gone.

    Runs started on other hosts are left alone (their pids mean nothing here). Returns the run
    ids marked, so the caller can clean their staging areas.
    """
    host = socket.gethostname() if host is None else host
    rows = conn.execute(
        "SELECT run_id, pid, started_at FROM runs WHERE status = 'running' AND host = ?", (host,)
    ).fetchall()
    dead = [
        row
        for row in rows
        if row["pid"] is None or _process_gone(int(row["pid"]), row["started_at"])
    ]
    if not dead:
        return []
    with _transaction(conn):
        for row in dead:
            conn.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?, error = ? WHERE run_id = ? AND status = 'running'",
                (
                    utc_now(),
                    f"process {row['pid']} on {host} ended without finishing the run",
                    row["run_id"],
                ),
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
    sql = f"SELECT {', '.join(columns)} FROM {name}" + (
        f" WHERE {' AND '.join(where)}" if where else ""
    )
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


def read_report_sleeves(conn: sqlite3.Connection, run_id: str) -> pa.Table:
    """The sleeve summaries a report of ``run_id`` is drawn from (``SUMMARY_SCHEMA``).

    For each (symbol, strategy) of the run's metrics: the summary the run stored, or, for a
    sleeve the run did not recompute, the one of the latest earlier succeeded run that did.
    """
    try:
        rows = conn.execute(
            f"SELECT {', '.join(SUMMARY_SCHEMA.names)} FROM report_sleeves WHERE run_id = ? "
            "ORDER BY strategy, symbol",
            (run_id,),
        ).fetchall()
        have = {(r[0], r[1]) for r in rows}
        run = conn.execute(
            "SELECT started_at, run_key FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        # the night's metrics snapshot (it carries the symbols a night skipped) is its universe
        wanted = conn.execute(
            "SELECT symbol, strategy FROM metrics WHERE run_key = ? ORDER BY strategy, symbol",
            (run[1] if run else "",),
        ).fetchall()
        started = run
        for symbol, strategy in [tuple(w) for w in wanted if (w[0], w[1]) not in have]:
            earlier = conn.execute(
                f"SELECT {', '.join('s.' + c for c in SUMMARY_SCHEMA.names)} "
                "FROM report_sleeves s JOIN runs r ON r.run_id = s.run_id "
                "WHERE s.symbol = ? AND s.strategy = ? AND r.status = 'succeeded' "
                "AND r.started_at < ? ORDER BY r.started_at DESC LIMIT 1",
                (symbol, strategy, started[0] if started else ""),
            ).fetchone()
            if earlier is not None:
                rows.append(earlier)
    except sqlite3.Error as err:
        raise StorageError(f"cannot read the report summaries of run {run_id!r}: {err}") from err
    columns: dict[str, Any] = {}
    for i, field in enumerate(SUMMARY_SCHEMA):
        values = [row[i] for row in rows]
        if pa.types.is_list(field.type):
            dtype = np.dtype(field.type.value_type.to_pandas_dtype()).newbyteorder("<")
            columns[field.name] = pa.array(
                [None if v is None else np.frombuffer(v, dtype) for v in values], field.type
            )
        else:
            columns[field.name] = pa.array(values, field.type)
    return pa.table(columns, schema=SUMMARY_SCHEMA)


def record_stages(
    conn: sqlite3.Connection, run_id: str, stages: Mapping[str, float], peak_rss: Mapping[str, int]
) -> None:
    """Store per-stage seconds (worker '') and each worker's peak RSS (stage 'worker')."""
    rows = [(run_id, stage, float(sec), None, "") for stage, sec in stages.items()]
    rows += [(run_id, "worker", None, int(rss), worker) for worker, rss in peak_rss.items()]
    with _transaction(conn):
        conn.execute("DELETE FROM run_stages WHERE run_id = ?", (run_id,))
        conn.executemany(
            "INSERT INTO run_stages (run_id, stage, seconds, peak_rss_bytes, worker) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def record_plan(
    conn: sqlite3.Connection,
    run_id: str,
    plan: Mapping[str, Any],
    *,
    n_workers: int,
    threads_per_worker: int,
) -> None:
    """Replace a run's ``run_plans`` row and ``run_batches`` rows with ``plan``.

    ``plan`` is ``compute.planner.Plan.to_dict()``: bytes_per_bar, cap_bytes, worker_memory,
    reason, refused (symbol -> why) and batches (index, n_symbols, n_bars, est_bytes,
    first_symbol, last_symbol). ``n_workers`` and ``threads_per_worker`` describe the cluster
    it was made for.
    """
    batches = list(plan["batches"])
    head = {
        "bytes_per_bar": int(plan["bytes_per_bar"]),
        "cap_bytes": int(plan["cap_bytes"]),
        "worker_memory": int(plan["worker_memory"]),
        "n_workers": int(n_workers),
        "threads_per_worker": int(threads_per_worker),
        "n_batches": len(batches),
        "n_refused": len(plan["refused"]),
        "reason": str(plan["reason"]),
    }
    rows = [
        {
            "batch": b["index"],
            "n_symbols": b["n_symbols"],
            "n_bars": b["n_bars"],
            "est_bytes": b["est_bytes"],
            "first_symbol": b["first_symbol"],
            "last_symbol": b["last_symbol"],
        }
        for b in batches
    ]
    plan_row = _rows_table([head], RUN_PLANS, run_id)
    batch_rows = _rows_table(rows, RUN_BATCHES, run_id)
    try:
        with _transaction(conn):
            for name, table, schema in (
                ("run_plans", plan_row, RUN_PLANS),
                ("run_batches", batch_rows, RUN_BATCHES),
            ):
                conn.execute(f"DELETE FROM {name} WHERE run_id = ?", (run_id,))
                _insert(conn, name, table, schema, run_id, None)
    except sqlite3.Error as err:
        raise StorageError(f"cannot record the plan of run {run_id!r}: {err}") from err


def record_notes(
    conn: sqlite3.Connection, run_id: str, run_key: str, notes: Sequence[Mapping[str, Any]]
) -> None:
    """Replace a run's ``run_notes`` rows: mappings with symbol, kind, n_rows, first_bad_timestamp, detail."""
    rows = [
        (
            run_id,
            run_key,
            note.get("symbol"),
            str(note["kind"]),
            note.get("n_rows"),
            _iso(note.get("first_bad_timestamp")),
            str(note["detail"]),
        )
        for note in notes
    ]
    with _transaction(conn):
        conn.execute("DELETE FROM run_notes WHERE run_id = ?", (run_id,))
        conn.executemany(
            "INSERT INTO run_notes (run_id, run_key, symbol, kind, n_rows, first_bad_timestamp, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def read_notes(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """A run's notes (what validation fixed), in the order they were recorded."""
    cursor = conn.execute(
        "SELECT symbol, kind, n_rows, first_bad_timestamp, detail FROM run_notes WHERE run_id = ? ORDER BY rowid",
        (run_id,),
    )
    return [dict(row) for row in cursor.fetchall()]


def best_and_worst(
    conn: sqlite3.Connection, run_id: str, n: int = 5
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``n`` best and worst (symbol, strategy) sleeves of a run by Sharpe ratio."""
    query = (
        "SELECT symbol, strategy, sharpe_ratio, total_return, n_trades FROM metrics "
        "WHERE run_id = ? AND sharpe_ratio IS NOT NULL ORDER BY sharpe_ratio {}, symbol, strategy LIMIT ?"
    )
    best = [dict(r) for r in conn.execute(query.format("DESC"), (run_id, n))]
    worst = [dict(r) for r in conn.execute(query.format("ASC"), (run_id, n))]
    return best, worst


def last_success(conn: sqlite3.Connection) -> float | None:
    """Epoch seconds at which a run last finished successfully, or None if none has."""
    row = conn.execute("SELECT max(finished_at) FROM runs WHERE status = 'succeeded'").fetchone()
    if row is None or row[0] is None:
        return None
    return dt.datetime.strptime(row[0], _TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()


# --- continuous tables: publish state, table versions, one night's SQLite commit -------------


def read_publish_state(conn: sqlite3.Connection) -> dict[str, tuple[int, int, str]]:
    """Per published symbol: (last bar in µs since the epoch UTC, bar count, fingerprint)."""
    out: dict[str, tuple[int, int, str]] = {}
    for row in conn.execute(
        "SELECT symbol, last_timestamp, n_bars, fingerprint FROM publish_state"
    ):
        last = dt.datetime.strptime(row[1], _TIME_FORMAT).replace(tzinfo=dt.UTC)
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        out[str(row[0])] = ((last - epoch) // dt.timedelta(microseconds=1), int(row[2]), row[3])
    return out


def read_table_versions(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Per output table: the Delta version, run_id, run_key and signature last committed."""
    rows = conn.execute(
        "SELECT table_name, version, run_id, run_key, signature FROM table_versions"
    )
    return {str(r[0]): dict(r) for r in rows}


def record_table_version(
    conn: sqlite3.Connection, table: str, version: int, run_id: str, run_key: str, signature: str
) -> None:
    """Record a table's version on its own (after recovery restored its committed content)."""
    with _transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO table_versions (table_name, version, run_id, run_key, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (table, version, run_id, run_key, signature),
        )


def _us_iso(value: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(value))
    return moment.strftime(_TIME_FORMAT)


def commit_night(
    conn: sqlite3.Connection,
    run_id: str,
    run_key: str,
    *,
    full: bool,
    whole: Sequence[str],
    extended: Sequence[str],
    rows: Mapping[str, Rows],
    states: Mapping[str, tuple[int, int, str]],
    versions: Mapping[str, int],
    signature: str,
    dropped: Sequence[str] = (),
    sleeves: Rows | None = None,
) -> dict[str, int]:
    """One night's SQLite commit, in ONE transaction: the mirrored tables' rows (replaced as
    their kind says, see ``storage.tables``), the changed symbols' publish state and every
    published table's Delta version. On any error nothing changes. Rows inserted per table.

    ``rows`` may be tables or record batches streamed from the staged files: they are
    inserted in chunks (``storage.sqlite_bulk``), never whole. ``sleeves``: the report's
    per-sleeve summaries of the symbols this night computed (``report_sleeves``, replacing
    the run key's); a sleeve the night skipped keeps its summary from the night that computed
    it (``read_report_sleeves``).
    """
    from storage.tables import TABLES

    changed = [*whole, *extended]
    inserted: dict[str, int] = {}
    try:
        with _transaction(conn):
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS night (kind TEXT, symbol TEXT)")
            conn.execute("DELETE FROM temp.night")
            conn.executemany(
                "INSERT INTO temp.night VALUES (?, ?)",
                [("whole", s) for s in whole] + [("extended", s) for s in extended],
            )
            symbols_of = "SELECT symbol FROM temp.night WHERE kind = '{}'"
            for name, data in rows.items():
                spec = TABLES[name]
                if spec.kind == "snapshot":
                    conn.execute(f"DELETE FROM {name} WHERE run_key = ?", (run_key,))
                elif full:
                    conn.execute(f"DELETE FROM {name}")
                elif spec.kind == "state":
                    conn.execute(
                        f"DELETE FROM {name} WHERE symbol IN (SELECT symbol FROM temp.night)"
                    )
                else:
                    conn.execute(
                        f"DELETE FROM {name} WHERE symbol IN ({symbols_of.format('whole')})"
                        + (
                            f" OR (symbol IN ({symbols_of.format('extended')}) AND {spec.replaced})"
                            if spec.replaced
                            else ""
                        )
                    )
                inserted[name] = _insert(conn, name, data, spec.schema, run_id, run_key)
            if sleeves is not None:  # a symbol the night skipped keeps its summary
                conn.execute(
                    "DELETE FROM report_sleeves WHERE run_key = ? AND symbol IN "
                    "(SELECT symbol FROM temp.night)",
                    (run_key,),
                )
                inserted["report_sleeves"] = sqlite_bulk.ingest(
                    conn,
                    "report_sleeves",
                    _row_batches(sleeves, SUMMARY_SCHEMA, run_id),
                    _REPORT_COLUMNS,
                    chunk_rows=1_000,
                    constants={"run_id": run_id, "run_key": run_key},
                ).rows
            if full:
                conn.execute("DELETE FROM publish_state")
            conn.executemany(
                "INSERT OR REPLACE INTO publish_state (symbol, last_timestamp, n_bars, fingerprint, run_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (symbol, _us_iso(last), int(n), fp, run_id)
                    for symbol, (last, n, fp) in states.items()
                    if symbol in changed or full
                ],
            )
            for table in dropped:
                conn.execute("DELETE FROM table_versions WHERE table_name = ?", (table,))
            conn.executemany(
                "INSERT OR REPLACE INTO table_versions (table_name, version, run_id, run_key, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                [(t, int(v), run_id, run_key, signature) for t, v in versions.items()],
            )
    except sqlite3.Error as err:
        raise StorageError(f"cannot commit run {run_id!r} to the database: {err}") from err
    return inserted


def prune_snapshots(
    conn: sqlite3.Connection,
    table: str,
    keep_keys: Sequence[str],
    version: int,
    recorded: Mapping[str, Any],
) -> None:
    """Delete a mirrored snapshot table's rows of other run keys and record the table's
    version after the same delete in Delta, in one transaction."""
    from storage.tables import TABLES

    marks = ", ".join("?" for _ in keep_keys)
    with _transaction(conn):
        if TABLES[table].sqlite:
            conn.execute(f"DELETE FROM {table} WHERE run_key NOT IN ({marks})", tuple(keep_keys))
        conn.execute(
            "INSERT OR REPLACE INTO table_versions (table_name, version, run_id, run_key, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (table, version, recorded["run_id"], recorded["run_key"], recorded["signature"]),
        )
