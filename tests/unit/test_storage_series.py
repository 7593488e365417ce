"""``series`` tables (the portfolio equity, orders and holdings): a night appends the rows of
the labels it continues, replaces the labels it recomputes whole and deletes the labels gone;
one Delta commit per table, mirrored to SQLite in the night's one transaction, both stores
always equal (storage.runs.publish, storage.db.commit_night)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from compute.errors import StorageError
from storage import db, delta, runs, schemas
from storage.outputs import read_output, write_staged
from storage.tables import TABLES

DAY_US = 86_400_000_000
T0_US = 1_700_006_400_000_000  # a midnight, UTC
SERIES = ("portfolio_equity", "portfolio_orders")


def _rows(table: str, run_id: str, label: str, bars: range, seed: float) -> pa.Table:
    """One label's rows of ``table`` at days ``bars`` (orders: two symbols a bar)."""
    schema = TABLES[table].schema
    days = [d for d in bars for _ in range(2 if table == "portfolio_orders" else 1)]
    n = len(days)
    cols: dict[str, pa.Array] = {}
    for f in schema:
        if f.name == "run_id":
            cols[f.name] = pa.array([run_id] * n, pa.string())
        elif f.name == "portfolio":
            cols[f.name] = pa.array([label] * n, pa.string())
        elif f.name == "timestamp":
            us = np.asarray(days, dtype=np.int64) * DAY_US + T0_US
            cols[f.name] = pa.array(us).view(schemas.TIMESTAMP)
        elif f.name == "symbol":
            cols[f.name] = pa.array(["S1", "S2"] * (n // 2), pa.string())
        elif pa.types.is_string(f.type):
            cols[f.name] = pa.array(["buy"] * n, pa.string())
        else:
            cols[f.name] = pa.array(seed + np.arange(n, dtype=np.float64), f.type)
    return pa.table(cols, schema=schema)


def _stage(root: Path, run_id: str, label: str, bars: range, seed: float) -> None:
    for table in SERIES:
        write_staged(_rows(table, run_id, label, bars, seed), root, run_id, table, label)


def _publish(root: Path, conn, run_id: str, key: str, night: runs.Night) -> None:
    db.start_run(conn, run_id, key)
    runs.publish(runs.OutputRoot(str(root)), conn, run_id, key, list(SERIES), night)
    db.finish_run(conn, run_id, "succeeded")


def _night(**series) -> runs.Night:
    return runs.Night(full=False, signature="s", series={"portfolio": runs.Series(**series)})


def _current(root: Path, table: str) -> pa.Table:
    keys = [(k, "ascending") for k in TABLES[table].sort_keys]
    return read_output(root, table).sort_by(keys)


def _sqlite(conn, table: str) -> pa.Table:
    keys = [(k, "ascending") for k in TABLES[table].sort_keys]
    return db.read_table(conn, table).sort_by(keys)


def _assert_stores_agree(root: Path, conn) -> None:
    recorded = db.read_table_versions(conn)
    for table in SERIES:
        assert recorded[table]["version"] == delta.version(str(root), table), table
        lake, lite = _current(root, table), _sqlite(conn, table)
        assert lite.num_rows == lake.num_rows, table
        for name in lite.column_names:
            assert lite[name].equals(lake[name].cast(lite[name].type)), f"{table}.{name}"


def _added_rows(root: Path, table: str, version: int) -> int:
    """Rows in the files that Delta commit ``version`` added (its log's add actions)."""
    entry = root / table / "_delta_log" / f"{version:020d}.json"
    actions = [json.loads(line) for line in entry.read_text().splitlines()]
    return sum(json.loads(a["add"]["stats"])["numRecords"] for a in actions if "add" in a)


def _last_us(day: int) -> int:
    return T0_US + day * DAY_US


@pytest.fixture
def store(tmp_path):
    conn = db.connect(tmp_path / "barpipe.db")
    _stage(tmp_path, "r1", "A", range(10), 0.0)
    _stage(tmp_path, "r1", "B", range(10), 100.0)
    _publish(tmp_path, conn, "r1", "k1", runs.Night(full=True, signature="s"))
    yield tmp_path, conn
    conn.close()


def test_a_continued_label_appends_only_its_new_rows_in_one_commit(store):
    root, conn = store
    before = {t: delta.version(str(root), t) for t in SERIES}
    _stage(root, "r2", "A", range(10, 12), 10.0)
    _stage(root, "r2", "B", range(10, 12), 110.0)
    _publish(root, conn, "r2", "k2", _night(extended={"A": _last_us(9), "B": _last_us(9)}))
    for table in SERIES:
        version = delta.version(str(root), table)
        assert version == before[table] + 1, table  # one commit
        per_bar = 2 if table == "portfolio_orders" else 1
        assert _added_rows(root, table, version) == 2 * 2 * per_bar, table  # the new rows only
    equity = _current(root, "portfolio_equity")
    assert equity.num_rows == 24
    a = equity.filter(pa.compute.equal(equity["portfolio"], "A"))
    assert a["equity"].to_pylist() == [*range(10), 10.0, 11.0]
    assert a["run_key"].to_pylist() == ["k1"] * 10 + ["k2"] * 2  # earlier rows not rewritten
    _assert_stores_agree(root, conn)


def test_a_label_recomputed_whole_replaces_its_rows_and_a_label_gone_loses_them(store):
    root, conn = store
    _stage(root, "r2", "A", range(11), 50.0)  # restated: every bar of A again
    _stage(root, "r2", "B", range(10, 11), 110.0)
    _publish(root, conn, "r2", "k2", _night(whole=["A"], extended={"B": _last_us(9)}))
    # one commit; it rewrote no row of B (the table's files hold one label each)
    version = delta.version(str(root), "portfolio_equity")
    assert _added_rows(root, "portfolio_equity", version) == 11 + 1
    equity = _current(root, "portfolio_equity")
    a = equity.filter(pa.compute.equal(equity["portfolio"], "A"))
    b = equity.filter(pa.compute.equal(equity["portfolio"], "B"))
    assert a["equity"].to_pylist() == [50.0 + i for i in range(11)]
    assert b["equity"].to_pylist() == [100.0 + i for i in range(10)] + [110.0]
    _assert_stores_agree(root, conn)
    # a night without B (no longer configured): its rows go, A's stay as they are
    _publish(root, conn, "r3", "k3", _night(extended={"A": _last_us(10)}, removed=["B"]))
    for table in SERIES:
        assert set(_current(root, table)["portfolio"].to_pylist()) == {"A"}, table
    assert _current(root, "portfolio_equity").num_rows == 11
    _assert_stores_agree(root, conn)


def test_a_night_with_nothing_new_commits_nothing(store):
    root, conn = store
    before = {t: delta.version(str(root), t) for t in SERIES}
    _publish(root, conn, "r2", "k2", _night(extended={"A": _last_us(9), "B": _last_us(9)}))
    assert {t: delta.version(str(root), t) for t in SERIES} == before
    assert _current(root, "portfolio_equity").num_rows == 20
    _assert_stores_agree(root, conn)


def test_rows_of_a_label_the_night_does_not_name_fail_the_commit_and_change_nothing(store):
    root, conn = store
    before = _current(root, "portfolio_equity")
    _stage(root, "r2", "C", range(3), 0.0)
    with pytest.raises(StorageError, match="portfolio_equity"):
        _publish(root, conn, "r2", "k2", _night(extended={"A": _last_us(9)}))
    assert _current(root, "portfolio_equity").equals(before)
    _assert_stores_agree(root, conn)
    # a night that says nothing of the labels (a caller's bug) appends nothing either
    _stage(root, "r3", "A", range(10, 11), 10.0)
    with pytest.raises(StorageError, match="portfolio_equity"):
        _publish(root, conn, "r3", "k3", runs.Night(full=False, signature="s"))
    assert _current(root, "portfolio_equity").equals(before)
    _assert_stores_agree(root, conn)


def test_a_publish_killed_before_its_sqlite_commit_is_rolled_back_by_recover(store, monkeypatch):
    root, conn = store
    before = {t: _current(root, t) for t in SERIES}

    class Killed(BaseException):
        pass

    def die(point: str, detail: str) -> None:
        if point == "publish-table" and detail.endswith(" portfolio_orders"):
            raise Killed  # the process dies after both Delta commits: no rollback runs

    monkeypatch.setattr(runs, "pause_for_test", die)
    monkeypatch.setattr(runs, "_roll_back", lambda *_a, **_k: [])
    _stage(root, "r2", "A", range(10), 7.0)
    _stage(root, "r2", "B", range(10, 12), 110.0)
    with pytest.raises(Killed):
        _publish(root, conn, "r2", "k2", _night(whole=["A"], extended={"B": _last_us(9)}))
    monkeypatch.undo()
    assert _current(root, "portfolio_equity").num_rows == 22  # Delta holds the dead commit
    said: list[str] = []
    runs.recover(runs.OutputRoot(str(root)), conn, "next", echo=said.append)
    assert any("rolled portfolio_equity back" in s for s in said), said
    for table in SERIES:
        got = _current(root, table)
        assert got.equals(before[table].cast(got.schema)), table
    _assert_stores_agree(root, conn)
    # the next night publishes over the recovered tables
    _stage(root, "r3", "A", range(10, 11), 10.0)
    _stage(root, "r3", "B", range(10, 11), 110.0)
    _publish(root, conn, "r3", "k3", _night(extended={"A": _last_us(9), "B": _last_us(9)}))
    assert _current(root, "portfolio_equity").num_rows == 22
    _assert_stores_agree(root, conn)


def test_a_new_series_table_does_not_force_a_full_night(tmp_path):
    conn = db.connect(tmp_path / "barpipe.db")
    try:
        db.start_run(conn, "r1", "k1")
        db.commit_night(
            conn, "r1", "k1", full=True, whole=["X"], extended=[], rows={},
            states={"X": (T0_US, 1, "fp")}, versions={"trades": 0}, signature="s",
        )  # fmt: skip
        full, reason, _ = runs.prepare(conn, ["trades", "portfolio_equity"], "s", full=False)
        assert (full, reason) == (False, "")
        full, reason, _ = runs.prepare(conn, ["trades", "equity"], "s", full=False)
        assert (full, reason) == (True, "table equity is new")
    finally:
        conn.close()


def test_prune_keeps_every_row_of_the_series_and_the_stores_agree(store):
    root, conn = store
    for night in range(2, 5):  # three more nights, one new bar each
        _stage(root, f"r{night}", "A", range(8 + night, 9 + night), float(night))
        _stage(root, f"r{night}", "B", range(8 + night, 9 + night), 100.0 + night)
        cut = _last_us(7 + night)
        _publish(root, conn, f"r{night}", f"k{night}", _night(extended={"A": cut, "B": cut}))
    before = {t: _current(root, t) for t in SERIES}
    runs.prune(runs.OutputRoot(str(root)), conn, "prune", keep_nights=1, echo=lambda _m: None)
    for table in SERIES:
        assert _current(root, table).equals(before[table]), table
    assert _current(root, "portfolio_equity").num_rows == 26
    _assert_stores_agree(root, conn)


def test_polars_and_duckdb_read_the_partitioned_series(store):
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    root, _conn = store
    equity = pl.read_delta(str(root / "portfolio_equity")).sort(["portfolio", "timestamp"])
    assert equity.height == 20
    assert equity["portfolio"].to_list() == ["A"] * 10 + ["B"] * 10
    assert equity["equity"].to_list()[:3] == [0.0, 1.0, 2.0]
    portfolio_equity = DeltaTable(str(root / "portfolio_equity")).to_pyarrow_dataset()  # noqa: F841
    got = duckdb.sql(
        "SELECT portfolio, count(*), max(equity) FROM portfolio_equity GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert got == [("A", 10, 9.0), ("B", 10, 109.0)]
