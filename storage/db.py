"""SQLite run registry and query copies of the outputs: ``barpipe.db`` in the output root.

WAL mode lets readers (``barpipe runs``, the report) read while a run publishes. Writers are
serialised by the run lock (``run_lock``), a file lock next to the database that a run holds
from start to finish, so SQLite never sees two writers and "database is locked" cannot
happen between runs. Because a live run always holds the lock, any run still marked
``running`` when the lock is acquired belongs to a dead process: ``mark_abandoned`` marks
it. A run's rows are published in one transaction that first deletes the rows of earlier
runs with the same run key, so a rerun replaces and never duplicates. All SQL is
parameterized; table and column names come from ``storage.schemas`` only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from compute.errors import StorageError
from storage.schemas import sqlite_columns, sqlite_ddl

__all__ = [
    "best_and_worst",
    "connect",
    "finish_run",
    "list_runs",
    "mark_abandoned",
    "publish_run_rows",
    "record_stages",
    "run_lock",
    "start_run",
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: str | os.PathLike[str], *, readonly: bool = False) -> sqlite3.Connection:
    """Open (and create, unless ``readonly``) ``barpipe.db`` with WAL and a busy timeout."""
    path = Path(path)
    try:
        if readonly:
            if not path.exists():
                raise StorageError(f"no run database at {path}")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:
                for statement in sqlite_ddl():
                    conn.execute(statement)
    except sqlite3.Error as err:
        raise StorageError(f"cannot open the run database {path}: {err}") from err
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def run_lock(
    db_path: str | os.PathLike[str],
    *,
    mode: str = "wait",
    timeout: float = 600.0,
    echo: Callable[[str], None] | None = None,
    poll: float = 0.5,
) -> Iterator[None]:
    """Hold the output root's run lock (``<db>.lock``) for the duration of a run.

    ``mode="wait"`` waits up to ``timeout`` seconds for another run to finish, ``"refuse"``
    fails at once; either way the error names the lock file and the run holding it.
    """
    lock_path = Path(f"{db_path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
            holder = lock_path.read_text().strip() or "another run"
            if mode == "refuse":
                raise StorageError(
                    f"another run is using this output root ({holder}); lock: {lock_path}"
                )
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"gave up after {timeout:g}s waiting for another run ({holder}) "
                    f"to release {lock_path}"
                )
            if echo is not None and not told:
                echo(f"waiting for another run ({holder}) to finish (lock: {lock_path})")
                told = True
            time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def mark_abandoned(conn: sqlite3.Connection) -> list[str]:
    """Mark runs left ``running`` as ``abandoned``; call only while holding the run lock."""
    with conn:
        dead = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE status = 'running'")]
        conn.executemany(
            "UPDATE runs SET status = 'abandoned', finished_at = ?, "
            "error = 'the process running it died before it finished' WHERE run_id = ?",
            [(_now(), run_id) for run_id in dead],
        )
    return dead


def start_run(
    conn: sqlite3.Connection,
    *,
    run_id: str,
    run_key: str,
    config_hash: str,
    input_fingerprint: str,
    pid: int,
    host: str,
) -> None:
    """Record a new run as ``running``."""
    with conn:
        conn.execute(
            "INSERT INTO runs (run_id, run_key, status, started_at, config_hash, "
            "input_fingerprint, pid, host) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            (run_id, run_key, _now(), config_hash, input_fingerprint, pid, host),
        )


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
    conn: sqlite3.Connection, run_id: str, *, status: str, error: str | None = None, **counts: int
) -> None:
    """Record a run's end: status, error and counts."""
    unknown = set(counts) - set(_COUNTS)
    if unknown:
        raise ValueError(f"unknown run counts: {sorted(unknown)}")
    sets = ", ".join(f"{k} = ?" for k in counts)
    with conn:
        conn.execute(
            f"UPDATE runs SET status = ?, finished_at = ?, error = ?{', ' + sets if sets else ''} "
            "WHERE run_id = ?",
            (status, _now(), error, *counts.values(), run_id),
        )


def record_stages(
    conn: sqlite3.Connection, run_id: str, stages: Mapping[str, float], peak_rss: Mapping[str, int]
) -> None:
    """Store per-stage seconds (worker '') and each worker's peak RSS (stage 'worker')."""
    rows = [(run_id, stage, float(sec), None, "") for stage, sec in stages.items()]
    rows += [(run_id, "worker", None, int(rss), worker) for worker, rss in peak_rss.items()]
    with conn:
        conn.execute("DELETE FROM run_stages WHERE run_id = ?", (run_id,))
        conn.executemany(
            "INSERT INTO run_stages (run_id, stage, seconds, peak_rss_bytes, worker) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _rows(table: pa.Table, columns: list[str], run_key: str) -> Iterator[tuple[Any, ...]]:
    """Rows of ``table`` in SQLite column order; timestamps as ISO text, NaN as NULL."""
    arrays = []
    for name in columns:
        if name == "run_key":
            arrays.append(None)
            continue
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.string())  # "YYYY-MM-DD HH:MM:SS[.ffffff]Z"
        elif pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        arrays.append(col.to_pylist())
    for i in range(table.num_rows):
        yield tuple(
            run_key if a is None else (None if isinstance(a[i], float) and a[i] != a[i] else a[i])
            for a in arrays
        )


def publish_run_rows(
    conn: sqlite3.Connection,
    run_id: str,
    run_key: str,
    *,
    trades: pa.Table,
    metrics: pa.Table,
    quarantine: pa.Table,
) -> None:
    """Replace the run key's trades, metrics and quarantine rows with this run's, atomically."""
    tables = {"trades": trades, "metrics": metrics, "quarantine": quarantine}
    try:
        with conn:
            for name, data in tables.items():
                columns = sqlite_columns(name)
                conn.execute(f"DELETE FROM {name} WHERE run_key = ?", (run_key,))
                conn.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    _rows(data, columns, run_key),
                )
    except sqlite3.Error as err:
        raise StorageError(f"cannot publish run {run_id} to SQLite: {err}") from err


def list_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs first, as dicts of the ``runs`` columns."""
    cur = conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
    return [dict(row) for row in cur]


def best_and_worst(
    conn: sqlite3.Connection, run_id: str, n: int = 5
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``n`` best and worst (symbol, strategy) sleeves of a run by Sharpe ratio."""
    query = (
        "SELECT symbol, strategy, sharpe_ratio, total_return, n_trades FROM metrics "
        "WHERE run_id = ? AND sharpe_ratio IS NOT NULL ORDER BY sharpe_ratio {} LIMIT ?"
    )
    best = [dict(r) for r in conn.execute(query.format("DESC"), (run_id, n))]
    worst = [dict(r) for r in conn.execute(query.format("ASC"), (run_id, n))]
    return best, worst
