"""storage.db: the run lock, dead-run detection, atomic replacement by run key, safe SQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pytest

from compute.errors import StorageError
from storage import db
from storage.schemas import METRICS, QUARANTINE, TRADES

HOSTILE = "x'); DROP TABLE runs; --"
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@pytest.fixture
def conn(tmp_path):
    connection = db.connect(tmp_path / "barpipe.db")
    yield connection
    connection.close()


def _row(schema: pa.Schema, **values) -> dict:
    row = {}
    for field in schema:
        if field.name in values:
            row[field.name] = values[field.name]
        elif pa.types.is_timestamp(field.type):
            row[field.name] = T0
        elif pa.types.is_integer(field.type):
            row[field.name] = 1
        elif pa.types.is_floating(field.type):
            row[field.name] = 0.5
        else:
            row[field.name] = "x"
    return row


def _table(schema: pa.Schema, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def _commit(conn, run_id, key, symbols, **rows):
    """One night's SQLite commit (``db.commit_night``) publishing ``symbols`` whole."""
    return db.commit_night(
        conn, run_id, key, full=False, whole=list(symbols), extended=[], rows=rows,
        states={}, versions={}, signature="s",
    )  # fmt: skip


def _publish(conn, run_id, key, symbols, sharpe=0.5):
    db.start_run(conn, run_id, key)
    _commit(
        conn,
        run_id,
        key,
        symbols,
        trades=_table(TRADES, [_row(TRADES, run_id=run_id, symbol=s) for s in symbols]),
        metrics=_table(
            METRICS, [_row(METRICS, run_id=run_id, symbol=s, sharpe_ratio=sharpe) for s in symbols]
        ),
        quarantine=_table(QUARANTINE, []),
    )


# --- run lock ----------------------------------------------------------------------------


def test_refuse_mode_names_the_holder_and_the_lock_file(tmp_path):
    path = tmp_path / "barpipe.db"
    with db.run_lock(path), pytest.raises(StorageError) as info:  # noqa: SIM117
        with db.run_lock(path, mode="refuse"):
            pass
    message = str(info.value)
    assert f"pid {os.getpid()}" in message
    assert "barpipe.db.lock" in message
    assert "database is locked" not in message


def test_wait_mode_gives_up_after_the_timeout(tmp_path):
    path = tmp_path / "barpipe.db"
    began = time.monotonic()
    with db.run_lock(path), pytest.raises(StorageError, match=r"gave up after waiting 0.3s"):  # noqa: SIM117
        with db.run_lock(path, mode="wait", timeout=0.3, poll=0.05):
            pass
    assert time.monotonic() - began < 5


def test_wait_mode_gets_the_lock_once_the_holder_releases_it(tmp_path):
    path = tmp_path / "barpipe.db"
    held, release = threading.Event(), threading.Event()

    def holder():
        with db.run_lock(path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    messages: list[str] = []
    threading.Timer(0.3, release.set).start()
    with db.run_lock(path, mode="wait", timeout=10, echo=messages.append, poll=0.05):
        acquired = True
    thread.join()
    assert acquired
    assert len(messages) == 1, messages
    assert messages[0].startswith("waiting up to 10s for another run")


def test_lock_of_a_killed_process_is_released(tmp_path):
    path = tmp_path / "barpipe.db"
    code = (
        "import sys, time; from storage import db\n"
        f"with db.run_lock({str(path)!r}):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline().strip() == "locked"
            with pytest.raises(StorageError, match="another run"):  # noqa: SIM117
                with db.run_lock(path, mode="refuse"):
                    pass
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            with db.run_lock(path, mode="refuse"):
                pass  # acquired: the kernel dropped the dead process's lock
        finally:
            child.kill()


def test_unknown_lock_mode_is_refused(tmp_path):
    with pytest.raises(StorageError, match="choose one of: wait, refuse"):  # noqa: SIM117
        with db.run_lock(tmp_path / "barpipe.db", mode="sometimes"):
            pass


# --- dead runs -----------------------------------------------------------------------------


def _dead_pid(reap: bool) -> tuple[int, subprocess.Popen]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.send_signal(signal.SIGKILL)
    if reap:
        child.wait(10)
    else:
        time.sleep(0.3)  # killed, not reaped: a zombie still owns the pid
    return child.pid, child


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_mark_abandoned_marks_only_runs_of_dead_processes_on_this_host(conn, reap):
    pid, child = _dead_pid(reap)
    try:
        db.start_run(conn, "dead", "k", pid=pid)
        db.start_run(conn, "alive", "k", pid=os.getpid())
        db.start_run(conn, "elsewhere", "k", pid=pid, host="another-host")
        assert db.mark_abandoned(conn) == ["dead"]
    finally:
        child.wait(10)
    status = {r["run_id"]: r["status"] for r in db.list_runs(conn)}
    assert status == {"dead": "abandoned", "alive": "running", "elsewhere": "running"}
    assert f"process {pid}" in db.get_run(conn, "dead")["error"]
    assert db.mark_abandoned(conn) == []  # marking is done once


# --- publishing and queries ----------------------------------------------------------------


def test_publishing_a_key_again_replaces_its_snapshot_and_a_whole_symbols_rows(conn):
    _publish(conn, "r1", "2026-01-05", ["AAA", "BBB"])
    _publish(conn, "r2", "2026-01-06", ["AAA"])
    _publish(conn, "r3", "2026-01-05", ["CCC"])
    rows = conn.execute("SELECT run_key, run_id, symbol FROM metrics ORDER BY run_key").fetchall()
    assert [tuple(r) for r in rows] == [("2026-01-05", "r3", "CCC"), ("2026-01-06", "r2", "AAA")]
    rows = conn.execute("SELECT run_id, symbol FROM trades ORDER BY symbol").fetchall()
    assert [tuple(r) for r in rows] == [("r2", "AAA"), ("r1", "BBB"), ("r3", "CCC")]


def test_a_failed_publish_changes_nothing(conn):
    _publish(conn, "r1", "k", ["AAA"])
    bad = _table(TRADES, [_row(TRADES, run_id="r2", symbol="BBB")]).drop_columns(["fees"])
    with pytest.raises(StorageError, match="fees"):
        _commit(conn, "r2", "k", ["AAA"], trades=bad, metrics=_table(METRICS, []))
    assert [r[0] for r in conn.execute("SELECT symbol FROM trades")] == ["AAA"]


def test_hostile_symbol_round_trips_through_parameterized_sql(conn):
    _publish(conn, "r1", "k", [HOSTILE])
    db.record_notes(
        conn, "r1", "k", [{"symbol": HOSTILE, "kind": "sorted", "n_rows": 3, "detail": HOSTILE}]
    )
    assert [r[0] for r in conn.execute("SELECT symbol FROM trades")] == [HOSTILE]
    assert db.read_table(conn, "metrics", run_key="k")["symbol"].to_pylist() == [HOSTILE]
    assert db.read_notes(conn, "r1")[0]["symbol"] == HOSTILE
    assert db.get_run(conn, "r1") is not None  # the runs table is still there


def test_notes_are_stored_with_the_run(conn):
    db.start_run(conn, "r1", "k")
    note = {
        "symbol": "AAA",
        "kind": "sorted",
        "n_rows": 10,
        "first_bad_timestamp": T0,
        "detail": "sorted",
    }
    db.record_notes(conn, "r1", "k", [note])
    db.record_notes(conn, "r1", "k", [note])  # recording again replaces
    assert db.read_notes(conn, "r1") == [
        {
            "symbol": "AAA",
            "kind": "sorted",
            "n_rows": 10,
            "first_bad_timestamp": "2026-01-05T00:00:00.000000Z",
            "detail": "sorted",
        }
    ]


def test_best_and_worst_and_last_success(conn):
    _publish(conn, "r1", "k", ["AAA"], sharpe=2.0)
    _commit(
        conn,
        "r1",
        "k",
        [],
        trades=_table(TRADES, []),
        metrics=_table(
            METRICS,
            [
                _row(METRICS, run_id="r1", symbol=s, sharpe_ratio=v)
                for s, v in [("AAA", 2.0), ("BBB", -1.0), ("CCC", None)]
            ],
        ),
    )
    best, worst = db.best_and_worst(conn, "r1", n=1)
    assert [b["symbol"] for b in best] == ["AAA"]
    assert [w["symbol"] for w in worst] == ["BBB"]
    assert db.last_success(conn) is None
    db.finish_run(conn, "r1", "succeeded", finished_at=T0)
    assert db.last_success(conn) == T0.timestamp()


def test_record_stages_replaces_a_runs_stages(conn):
    db.start_run(conn, "r1", "k")
    db.record_stages(conn, "r1", {"load": 1.0}, {"w1": 100})
    db.record_stages(conn, "r1", {"load": 2.0, "publish": 0.5}, {"w1": 200})
    rows = [tuple(r) for r in conn.execute("SELECT stage, seconds, peak_rss_bytes FROM run_stages")]
    assert sorted(rows, key=str) == sorted(
        [("load", 2.0, None), ("publish", 0.5, None), ("worker", None, 200)], key=str
    )


def test_finish_run_of_an_unknown_run_is_an_error(conn):
    with pytest.raises(StorageError, match="not registered"):
        db.finish_run(conn, "nope", "failed")
