"""storage.db: the run registry, one-transaction publish, parameterized SQL, abandoned runs."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
import subprocess
import sys

import pyarrow as pa
import pytest

from compute.errors import StorageError
from storage import db, schemas, tables
from storage.validate import QuarantineRecord

HOSTILE = "x'); DROP TABLE runs;--"
T0 = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def conn(tmp_path):
    connection = db.connect(tmp_path / db.DB_NAME)
    yield connection
    connection.close()


def trades(run_id: str, symbols: list[str]) -> pa.Table:
    base = {name: None for name in schemas.TRADES.names}
    rows = [
        base
        | {
            "run_id": run_id,
            "symbol": s,
            "strategy": "zscore",
            "side": "short",
            "entry_time": T0,
            "exit_time": T0 + dt.timedelta(days=3),
            "entry_price": 10.0,
            "net_pnl": float("nan"),
            "bars_held": 3,
            "exit_reason": "signal",
        }
        for s in symbols
    ]
    return pa.Table.from_pylist(rows, schema=schemas.TRADES)


def metrics(run_id: str, symbols: list[str]) -> pa.Table:
    base = {name: None for name in schemas.METRICS.names}
    rows = [
        base | {"run_id": run_id, "symbol": s, "strategy": "zscore", "sharpe_ratio": float(i)}
        for i, s in enumerate(symbols)
    ]
    return pa.Table.from_pylist(rows, schema=schemas.METRICS)


def rows(conn, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(sql)]


def publish(conn, run_id: str, key: str, trades_rows, metrics_rows, quarantine=(), whole=None):
    """One night's SQLite commit (``db.commit_night``) of the symbols of ``trades_rows``."""
    symbols = whole if whole is not None else sorted(set(trades_rows["symbol"].to_pylist()))
    rows = {"trades": trades_rows, "metrics": metrics_rows, "quarantine": quarantine}
    return db.commit_night(
        conn, run_id, key, full=False, whole=symbols, extended=[], rows=rows, states={},
        versions={}, signature="s",
    )  # fmt: skip


def register(conn, run_id: str, run_key: str = "2024-01-02", **kwargs) -> None:
    db.start_run(conn, run_id, run_key, config_hash="c", input_fingerprint="f", **kwargs)


def test_database_has_wal_and_the_tables_of_the_schemas(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for table in tables.SQLITE_TABLES:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        assert columns == tables.sqlite_columns(table)
    indexes = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert {
        "ix_trades_run_key",
        "ix_trades_symbol",
        "ix_metrics_run_id",
        "ix_runs_run_key",
        "ix_report_sleeves_run_id",
    } <= indexes
    # every table of barpipe.db is declared in storage.tables, the report's summaries too
    assert "report_sleeves" in tables.SQLITE_TABLES


def test_run_life_and_list_runs(conn):
    register(conn, "r1", started_at=T0)
    register(conn, "r2", started_at=T0 + dt.timedelta(hours=1))
    db.finish_run(
        conn,
        "r1",
        "succeeded",
        n_symbols=3,
        n_trades=7,
        n_rows_in=10,
        n_rows_processed=8,
        n_rows_quarantined=2,
    )
    db.finish_run(conn, "r2", "failed", error="input path not found: /x")
    runs = db.list_runs(conn, limit=10)
    assert [r["run_id"] for r in runs] == ["r2", "r1"]
    assert runs[1]["status"] == "succeeded"
    assert (runs[1]["n_trades"], runs[1]["n_rows_in"], runs[1]["started_at"]) == (
        7,
        10,
        "2024-01-02T14:30:00.000000Z",
    )
    assert runs[0]["error"] == "input path not found: /x"
    assert runs[0]["pid"] > 0
    assert runs[0]["host"] == socket.gethostname()
    assert len(db.list_runs(conn, limit=1)) == 1


def test_run_registry_misuse_is_a_storage_error(conn):
    register(conn, "r1")
    with pytest.raises(StorageError, match="already registered"):
        register(conn, "r1")
    with pytest.raises(StorageError, match="not a final run status"):
        db.finish_run(conn, "r1", "done")
    with pytest.raises(StorageError, match="not registered"):
        db.finish_run(conn, "nope", "failed")


def test_publish_replaces_the_keys_snapshots_in_one_go(conn):
    register(conn, "r1")
    publish(conn, "r1", "k", trades("r1", ["A", "B"]), metrics("r1", ["A", "B"]))
    register(conn, "r2")
    counts = publish(
        conn,
        "r2",
        "k",
        trades("r2", ["A", "B"]),
        metrics("r2", ["C"]),
        [QuarantineRecord("D", "too_few_bars", 4, T0, "4 bars, fewer than the 30 required")],
    )
    assert counts == {"trades": 2, "metrics": 1, "quarantine": 1}
    assert rows(conn, "SELECT DISTINCT run_id FROM trades") == [("r2",)]
    assert rows(conn, "SELECT run_id, symbol FROM metrics") == [("r2", "C")]
    assert rows(conn, "SELECT run_id, run_key, symbol, first_bad_timestamp FROM quarantine")[0] == (
        "r2",
        "k",
        "D",
        "2024-01-02T14:30:00.000000Z",
    )


def test_sqlite_rows_agree_with_the_arrow_rows(conn):
    register(conn, "r1")
    data = trades("r1", ["A", "B"])
    publish(conn, "r1", "k", data, metrics("r1", ["A"]))
    back = db.read_table(conn, "trades", run_key="k")
    assert back.drop_columns(["run_key"]).select(schemas.TRADES.names).cast(
        schemas.TRADES
    ).to_pylist() == [
        row | {"net_pnl": None}
        for row in data.to_pylist()  # SQLite stores NaN as NULL
    ]
    assert (
        conn.execute("SELECT entry_time FROM trades LIMIT 1").fetchone()[0]
        == "2024-01-02T14:30:00.000000Z"
    )


def test_an_error_mid_publish_leaves_the_previous_rows_intact(conn):
    register(conn, "r1")
    publish(conn, "r1", "k", trades("r1", ["A"]), metrics("r1", ["A"]))
    conn.execute(
        "CREATE TRIGGER fail_quarantine BEFORE INSERT ON quarantine BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    register(conn, "r2")
    bad = [QuarantineRecord("Q", "bad_volume", 1, None, "x")]
    with pytest.raises(StorageError, match="disk full"):
        publish(conn, "r2", "k", trades("r2", ["A", "C"]), metrics("r2", ["B"]), bad)
    assert rows(conn, "SELECT run_id, symbol FROM trades") == [("r1", "A")]
    assert rows(conn, "SELECT run_id, symbol FROM metrics") == [("r1", "A")]
    assert not conn.in_transaction


def test_hostile_names_are_data_not_sql(conn):
    register(conn, HOSTILE, run_key=HOSTILE, host=HOSTILE)
    publish(conn, HOSTILE, HOSTILE, trades(HOSTILE, [HOSTILE]), metrics(HOSTILE, [HOSTILE]))
    db.finish_run(conn, HOSTILE, "succeeded", error=HOSTILE)
    assert (
        conn.execute("SELECT symbol FROM trades WHERE run_key = ?", (HOSTILE,)).fetchone()[0]
        == HOSTILE
    )
    assert db.list_runs(conn)[0]["run_id"] == HOSTILE
    assert db.read_table(conn, "metrics", run_key=HOSTILE)["symbol"].to_pylist() == [HOSTILE]


def test_runs_of_dead_processes_on_this_host_are_abandoned(conn):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    register(conn, "dead", pid=child.pid)
    register(conn, "alive")  # this process
    register(conn, "elsewhere", pid=child.pid, host="another-host")
    assert db.mark_abandoned(conn) == ["dead"]
    runs = {r["run_id"]: r for r in db.list_runs(conn)}
    assert runs["dead"]["status"] == "abandoned"
    assert str(child.pid) in runs["dead"]["error"]
    assert runs["dead"]["finished_at"] is not None
    assert (runs["alive"]["status"], runs["elsewhere"]["status"]) == ("running", "running")
    assert db.mark_abandoned(conn) == []


def test_a_reused_pid_does_not_keep_a_dead_run_alive(conn):
    # our pid, but this process is younger than the run
    register(conn, "old", started_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert db.mark_abandoned(conn) == ["old"]


def test_a_writer_holding_the_lock_past_the_busy_timeout_gives_a_clear_error(tmp_path):
    path = tmp_path / db.DB_NAME
    first = db.connect(path)
    second = db.connect(path, busy_timeout_s=0.2)
    try:
        first.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="locked by another writer"):
            register(second, "r1")
        first.execute("ROLLBACK")
        register(second, "r1")
        assert [r["run_id"] for r in db.list_runs(first)] == ["r1"]
    finally:
        first.close()
        second.close()


def test_readonly_connection_reads_and_refuses_writes(tmp_path, conn):
    register(conn, "r1")
    reader = db.connect(tmp_path / db.DB_NAME, readonly=True)
    try:
        assert [r["run_id"] for r in db.list_runs(reader)] == ["r1"]
        with pytest.raises(sqlite3.OperationalError):
            reader.execute("DELETE FROM runs")
    finally:
        reader.close()
    with pytest.raises(StorageError, match="no run database"):
        db.connect(tmp_path / "missing" / db.DB_NAME, readonly=True)


def test_db_path_needs_a_local_directory_for_remote_roots(tmp_path):
    assert db.db_path(tmp_path) == tmp_path / db.DB_NAME
    assert db.db_path(f"file://{tmp_path}") == tmp_path / db.DB_NAME
    assert db.db_path("s3://bucket/out", tmp_path) == tmp_path / db.DB_NAME
    with pytest.raises(StorageError, match="not local"):
        db.db_path("s3://bucket/out")


def _plan(rows: dict[str, int], worker_memory: int = 600 * 2**20) -> dict:
    from compute.planner import plan_batches

    plan = plan_batches(
        rows, bytes_per_bar=100, worker_memory=worker_memory, n_threads=2, memory_fraction=0.25
    )
    return plan.to_dict()


def test_a_runs_plan_is_stored_one_row_per_run_and_per_batch(conn):
    register(conn, "r1")
    plan = _plan({"A": 10, "B": 20, "C": 30_000, "HUGE": 10_000_000})
    db.record_plan(conn, "r1", plan, n_workers=2, threads_per_worker=1)
    head = db.read_table(conn, "run_plans", run_id="r1").to_pylist()
    assert head == [
        {
            "run_id": "r1",
            "bytes_per_bar": 100,
            "cap_bytes": plan["cap_bytes"],
            "worker_memory": 600 * 2**20,
            "n_workers": 2,
            "threads_per_worker": 1,
            "n_batches": len(plan["batches"]),
            "n_refused": 1,
            "reason": plan["reason"],
        }
    ]
    batches = db.read_table(conn, "run_batches", run_id="r1").to_pylist()
    assert [(b["first_symbol"], b["last_symbol"]) for b in batches] == [
        (b["first_symbol"], b["last_symbol"]) for b in plan["batches"]
    ]
    assert [b["first_symbol"] for b in batches][0] == "A"
    assert "HUGE" not in {b["last_symbol"] for b in batches}
    assert [b["batch"] for b in batches] == list(range(len(plan["batches"])))
    assert sum(b["n_bars"] for b in batches) == 10 + 20 + 30_000
    assert all(b["est_bytes"] <= plan["cap_bytes"] for b in batches)


def test_recording_a_plan_again_replaces_only_that_runs_rows(conn):
    register(conn, "r1")
    register(conn, "r2")
    db.record_plan(conn, "r1", _plan({"A": 10}), n_workers=1, threads_per_worker=1)
    db.record_plan(conn, "r2", _plan({"X": 10}), n_workers=1, threads_per_worker=1)
    db.record_plan(conn, "r1", _plan({"A": 10, "B": 10}), n_workers=1, threads_per_worker=2)
    assert rows(conn, "SELECT run_id, threads_per_worker FROM run_plans ORDER BY run_id") == [
        ("r1", 2),
        ("r2", 1),
    ]
    assert rows(
        conn, "SELECT run_id, first_symbol, last_symbol FROM run_batches ORDER BY run_id, batch"
    ) == [("r1", "A", "A"), ("r1", "B", "B"), ("r2", "X", "X")]


def test_a_plan_with_no_room_for_any_batch_is_stored_without_batches(conn):
    register(conn, "r1")
    plan = _plan({"A": 10, "B": 10}, worker_memory=300 * 2**20)
    db.record_plan(conn, "r1", plan, n_workers=2, threads_per_worker=1)
    assert rows(conn, "SELECT n_batches, n_refused, cap_bytes FROM run_plans") == [(0, 2, 0)]
    assert rows(conn, "SELECT count(*) FROM run_batches") == [(0,)]
    assert "--memory-limit" in db.read_table(conn, "run_plans")["reason"][0].as_py()


def test_an_existing_database_gains_the_plan_tables(tmp_path):
    path = tmp_path / db.DB_NAME
    first = db.connect(path)
    register(first, "r1")
    first.execute("DROP TABLE run_plans")
    first.execute("DROP TABLE run_batches")
    first.close()
    again = db.connect(path)  # as a database made before the tables existed is opened
    try:
        db.record_plan(again, "r1", _plan({"A": 10}), n_workers=1, threads_per_worker=1)
        assert rows(again, "SELECT run_id, n_batches FROM run_plans") == [("r1", 1)]
        assert [r["run_id"] for r in db.list_runs(again)] == ["r1"]
    finally:
        again.close()


def test_timestamps_are_stored_as_the_iso_format_text():
    import pyarrow.compute as pc

    from storage.db import _iso_text
    from storage.schemas import ISO_FORMAT, TIMESTAMP

    values = [0, 60_000_000, -1, -2_522_880_000_000_000, 1_795_487_078_000_007, None]
    column = pa.chunked_array([pa.array(values, pa.int64()).cast(TIMESTAMP)])
    got = _iso_text(column)
    assert got.equals(pc.strftime(column, format=ISO_FORMAT))
    assert got.to_pylist()[2] == "1969-12-31T23:59:59.999999Z"
    assert got.to_pylist()[-1] is None


def _commit(conn, run_id: str, *, trades_rows, whole=(), extended=(), full=False, versions=None):
    return db.commit_night(
        conn,
        run_id,
        f"key-{run_id}",
        full=full,
        whole=list(whole),
        extended=list(extended),
        rows={"trades": trades_rows, "metrics": metrics(run_id, ["A"])},
        states={s: (1_000_000, 10, f"fp-{run_id}") for s in [*whole, *extended]},
        versions=versions or {"trades": 1, "metrics": 1},
        signature="sig",
    )


def test_a_night_commit_replaces_rows_by_kind_and_records_state_and_versions(conn):
    first = trades("r1", ["A", "B"]).set_column(14, "exit_reason", pa.array(["open", "signal"]))
    _commit(conn, "r1", trades_rows=first, whole=["A", "B"], full=True)
    second = trades("r2", ["A"])  # A extended: its open trade is replaced, B untouched
    _commit(conn, "r2", trades_rows=second, extended=["A"], versions={"trades": 2, "metrics": 2})
    assert rows(conn, "SELECT run_id, symbol, exit_reason FROM trades ORDER BY symbol") == [
        ("r2", "A", "signal"),
        ("r1", "B", "signal"),
    ]
    assert rows(conn, "SELECT run_key, symbol FROM metrics ORDER BY run_key") == [
        ("key-r1", "A"),
        ("key-r2", "A"),
    ]
    assert db.read_publish_state(conn) == {
        "A": (1_000_000, 10, "fp-r2"),
        "B": (1_000_000, 10, "fp-r1"),
    }
    assert {t: v["version"] for t, v in db.read_table_versions(conn).items()} == {
        "trades": 2,
        "metrics": 2,
    }


def test_a_failed_night_commit_changes_nothing(conn):
    _commit(conn, "r1", trades_rows=trades("r1", ["A"]), whole=["A"], full=True)
    conn.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON metrics BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(StorageError, match="disk full"):
        _commit(conn, "r2", trades_rows=trades("r2", ["A"]), whole=["A"], versions={"trades": 9})
    assert rows(conn, "SELECT run_id FROM trades") == [("r1",)]
    assert db.read_publish_state(conn)["A"][2] == "fp-r1"
    assert db.read_table_versions(conn)["trades"]["version"] == 1
    assert not conn.in_transaction
