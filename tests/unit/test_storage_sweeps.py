"""Sweep outputs go through the run protocol of ``storage``: keyed Delta tables whose version
``barpipe.db`` records in the same transaction as the mirrored rows and the registry row, so
a publish is all or nothing, a dead one is rolled back by ``recover``, and nights neither
roll back nor prune a committed sweep."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from compute.errors import StorageError
from storage import db, delta, runs, sweeps


def _results(sweep_id: str, param: str, values: list, offset: float = 0.0) -> pa.Table:
    n = len(values)
    return pa.table(
        {
            "sweep_id": [sweep_id] * n,
            "symbol": [f"S{i % 2}" for i in range(n)],
            "strategy": ["zscore"] * n,
            "combo_id": np.arange(n, dtype=np.int64),
            param: values,
            "sharpe_ratio": np.linspace(-1, 1, n) + offset,
            "n_trades": np.arange(n, dtype=np.int64),
            "n_bars": np.full(n, 100, dtype=np.int64),
        }
    )


@pytest.fixture
def store(tmp_path):
    conn = db.connect(tmp_path / "barpipe.db")
    yield runs.OutputRoot(str(tmp_path)), conn
    conn.close()


def _publish(store, sweep_id, pieces, *, registry=None):
    out, conn = store
    schema = pa.unify_schemas([p.schema for p in pieces])
    return sweeps.publish_sweep(
        out,
        conn,
        sweep_id,
        {"sweep_results": (schema, lambda: iter(pieces))},
        registry or (lambda: {"kind": "sweep", "n_combinations": sum(p.num_rows for p in pieces)}),
        signature="sig",
    )


def _sqlite(conn, sweep_id: str, columns: list[str]) -> list[tuple]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT {quoted} FROM sweep_results WHERE run_key = ? ORDER BY combo_id"
    return [tuple(r) for r in conn.execute(sql, [sweep_id])]


def test_sweeps_of_different_parameters_share_the_tables_and_the_mirror(store):
    out, conn = store
    # "group" is an SQL keyword: a swept parameter's column name is quoted everywhere
    a = [_results("A", "window", [5, 10, 20]), _results("A", "window", [40])]
    _publish(store, "A", a)
    _publish(store, "B", [_results("B", "group", ["x", "y"])])
    got_a = sweeps.read_sweep_table(out.path, "sweep_results", "A")
    assert "group" not in got_a.column_names  # B's parameter is not A's
    assert sorted(got_a["window"].to_pylist()) == [5, 10, 20, 40]
    got_b = sweeps.read_sweep_table(out.path, "sweep_results", "B")
    assert got_b["group"].to_pylist() == ["x", "y"]
    assert "window" not in got_b.column_names
    # SQLite holds the same rows as Delta, parameters included
    cols = ["symbol", "combo_id", "group", "sharpe_ratio", "n_trades"]
    delta_rows = [tuple(r.values()) for r in got_b.select(cols).sort_by("combo_id").to_pylist()]
    assert _sqlite(conn, "B", cols) == delta_rows
    assert sweeps.count_rows(conn, "sweep_results", "A") == 4
    assert sweeps.sweep_published(conn, "A")
    assert sweeps.sweep_published(conn, "B")
    versions = db.read_table_versions(conn)
    assert versions["sweep_results"]["version"] == delta.version(out.path, "sweep_results")


def test_publishing_a_sweep_again_replaces_its_rows_only(store):
    out, conn = store
    _publish(store, "A", [_results("A", "window", [5, 10])])
    _publish(store, "B", [_results("B", "window", [7])])
    _publish(store, "A", [_results("A", "window", [5, 10], offset=1.0)])
    got = sweeps.read_sweep_table(out.path, "sweep_results", "A").sort_by("combo_id")
    assert got["sharpe_ratio"].to_pylist() == [0.0, 2.0]  # the new rows, no duplicates
    assert sweeps.read_sweep_table(out.path, "sweep_results", "B").num_rows == 1
    assert _sqlite(conn, "A", ["sharpe_ratio"]) == [(0.0,), (2.0,)]


def test_a_failed_commit_leaves_the_last_committed_state_in_both_stores(store):
    out, conn = store
    _publish(store, "A", [_results("A", "window", [5, 10])])
    before = delta.version(out.path, "sweep_results")

    def broken() -> dict:
        raise ValueError("registry failed inside the SQLite transaction")

    with pytest.raises(ValueError, match="registry failed"):
        _publish(store, "A", [_results("A", "window", [5, 10], offset=1.0)], registry=broken)
    # Delta was committed, then rolled back to the recorded content
    got = sweeps.read_sweep_table(out.path, "sweep_results", "A").sort_by("combo_id")
    assert got["sharpe_ratio"].to_pylist() == [-1.0, 1.0]
    assert delta.version(out.path, "sweep_results") > before  # a restore is a new version
    assert db.read_table_versions(conn)["sweep_results"]["version"] == delta.version(
        out.path, "sweep_results"
    )
    assert _sqlite(conn, "A", ["sharpe_ratio"]) == [(-1.0,), (1.0,)]
    with pytest.raises(ValueError, match="registry failed"):
        _publish(store, "C", [_results("C", "window", [1])], registry=broken)
    assert not sweeps.sweep_published(conn, "C")
    assert sweeps.read_sweep_table(out.path, "sweep_results", "C").num_rows == 0


def test_a_publish_killed_before_its_sqlite_commit_is_rolled_back_by_recover(store, monkeypatch):
    out, conn = store
    _publish(store, "A", [_results("A", "window", [5, 10])])

    class Killed(BaseException):
        pass

    def die(*_a, **_k):
        raise Killed  # the process dies: no rollback runs

    monkeypatch.setattr(db, "commit_keyed", die)
    monkeypatch.setattr(runs, "_roll_back", lambda *_a: [])
    with pytest.raises(Killed):
        _publish(store, "B", [_results("B", "window", [7])])
    monkeypatch.undo()
    assert not sweeps.sweep_published(conn, "B")
    assert (
        delta.version(out.path, "sweep_results")
        != (db.read_table_versions(conn)["sweep_results"]["version"])
    )
    said: list[str] = []
    runs.recover(out, conn, "next-run", echo=said.append)  # what the next sweep or night does
    assert any("rolled sweep_results back" in s for s in said)
    assert sweeps.read_sweep_table(out.path, "sweep_results", "B").num_rows == 0
    assert sweeps.read_sweep_table(out.path, "sweep_results", "A").num_rows == 2


def test_a_nights_prune_keeps_every_committed_sweep(store):
    out, conn = store
    _publish(store, "A", [_results("A", "window", [5, 10])])
    db.start_run(conn, "night-1", "2024-01-02")
    db.finish_run(conn, "night-1", "succeeded")
    runs.prune(out, conn, "prune-1", keep_nights=1, echo=lambda _m: None)
    assert sweeps.read_sweep_table(out.path, "sweep_results", "A").num_rows == 2
    assert sweeps.count_rows(conn, "sweep_results", "A") == 2


def test_a_publish_error_names_the_table(store, monkeypatch):
    def refuse(*_a, **_k):
        raise StorageError("cannot write Delta table sweep_results: disk full")

    monkeypatch.setattr(delta, "overwrite", refuse)
    with pytest.raises(StorageError, match="sweep_results"):
        _publish(store, "A", [_results("A", "window", [5])])


def test_sweeps_of_dead_processes_are_marked_abandoned(store):
    import os
    import socket
    import subprocess
    import sys

    _, conn = store
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)  # fmt: skip
    host = socket.gethostname()
    sweeps.record_sweep(conn, "dead", status="running", pid=int(gone.stdout), host=host)
    sweeps.record_sweep(conn, "alive", status="running", pid=os.getpid(), host=host)
    sweeps.record_sweep(conn, "elsewhere", status="running", pid=1, host=host + "-other")
    assert sweeps.mark_abandoned(conn) == ["dead"]
    status = dict(conn.execute("SELECT sweep_id, status FROM sweeps").fetchall())
    assert status == {"dead": "abandoned", "alive": "running", "elsewhere": "running"}
