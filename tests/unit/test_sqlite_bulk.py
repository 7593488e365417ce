"""storage.sqlite_bulk: Arrow batches into SQLite in bounded chunks; publish streams them."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest

from compute.errors import StorageError
from storage import db, schemas, sqlite_bulk


def _data(n: int) -> pa.Table:
    return pa.table(
        {
            "f": pa.array(
                [(-1) ** i * 10.0 ** (i % 600 - 300) / 3 for i in range(n)], pa.float64()
            ),
            "i": pa.array([None if i % 7 == 3 else 2**62 - i for i in range(n)], pa.int64()),
            "s": pa.array([None if i % 5 == 1 else f"sym-é{i}'\"" for i in range(n)]),
            "d": pa.array([f"S{i % 3}" for i in range(n)]).dictionary_encode(),
            "t": pa.array([i * 61_000_001 - 5 for i in range(n)], pa.int64()).cast(
                schemas.TIMESTAMP
            ),
        }
    )


def _conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE x (k TEXT, f REAL, i INTEGER, s TEXT, d TEXT, t TEXT)")
    return conn


def test_values_round_trip_exactly_through_chunks():
    data = _data(103)
    conn = _conn()
    stats = sqlite_bulk.ingest(
        conn,
        "x",
        data.to_reader(max_chunksize=40),
        ["k", "f", "i", "s", "d", "t"],
        chunk_rows=16,
        constants={"k": "key"},
    )
    back = conn.execute("SELECT k, f, i, s, d, t FROM x ORDER BY rowid").fetchall()
    assert [r[0] for r in back] == ["key"] * 103
    assert [r[1] for r in back] == data["f"].to_pylist()  # bit-identical doubles
    assert [r[2] for r in back] == data["i"].to_pylist()
    assert [r[3] for r in back] == data["s"].to_pylist()
    assert [r[4] for r in back] == data["d"].cast(pa.string()).to_pylist()
    assert [r[5] for r in back] == [
        v.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for v in data["t"].to_pylist()
    ]
    assert stats.rows == 103


def test_rows_are_converted_in_chunks_of_at_most_chunk_rows():
    conn = _conn()
    stats = sqlite_bulk.ingest(
        conn, "x", _data(250).to_reader(max_chunksize=100), ["f", "i"], chunk_rows=30
    )
    assert stats.batches == 3
    assert stats.chunk_sizes == [30, 30, 30, 10] * 2 + [30, 20]
    assert stats.max_chunk_rows == 30
    assert conn.execute("SELECT count(*) FROM x").fetchone()[0] == 250


def test_a_missing_column_names_the_table_and_the_column():
    with pytest.raises(StorageError, match=r"SQLite table x lack column\(s\) \['nope'\]"):
        sqlite_bulk.ingest(_conn(), "x", _data(3).to_batches(), ["f", "nope"])


def test_publish_inserts_each_batch_before_reading_the_next(tmp_path):
    # The flow hands commit_night batches streamed from Parquet: each batch must be in
    # SQLite before the next is read, so the whole table is never held in memory.
    conn = db.connect(tmp_path / db.DB_NAME)
    db.start_run(conn, "r1", "k", config_hash="c", input_fingerprint="f")
    rows = pa.Table.from_pylist(
        [
            {n: None for n in schemas.METRICS.names} | {"run_id": "r1", "symbol": f"S{i:03d}"}
            for i in range(120)
        ],
        schema=schemas.METRICS,
    )
    seen_before: list[int] = []

    def stream():
        for batch in rows.to_batches(max_chunksize=50):
            seen_before.append(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
            yield batch

    counts = db.commit_night(
        conn, "r1", "k", full=False, whole=[], extended=[], states={}, versions={},
        signature="s", rows={"trades": iter(()), "metrics": stream()},
    )  # fmt: skip
    assert seen_before == [0, 50, 100]
    assert counts["metrics"] == 120
    assert (
        db.read_table(conn, "metrics", run_key="k")["symbol"].to_pylist()
        == rows["symbol"].to_pylist()
    )
    conn.close()


def _sleeves(symbols: list[str], scale: float) -> pa.Table:
    from compute import portfolio

    n = 500
    times = [1_767_225_600_000_000 + i * 60_000_000 for i in range(n)]
    equity = pa.table(
        {
            "symbol": [s for s in symbols for _ in range(n)],
            "strategy": ["m"] * (n * len(symbols)),
            "timestamp": pa.array(times * len(symbols), schemas.TIMESTAMP),
            "equity": [scale * (1 + i / 3) for _ in symbols for i in range(n)],
        }
    )
    trades = pa.table(
        {
            "symbol": symbols,
            "strategy": ["m"] * len(symbols),
            "side": ["long"] * len(symbols),
            "entry_time": pa.array(times[:1] * len(symbols), schemas.TIMESTAMP),
        }
    )
    return portfolio.summarize_sleeves(equity, trades)


def test_report_sleeves_round_trip_and_come_from_the_latest_run_that_computed_them(tmp_path):
    conn = db.connect(tmp_path / db.DB_NAME)

    def run(run_id: str, key: str, computed: list[str], metric_symbols: list[str], scale: float):
        db.start_run(conn, run_id, key, config_hash="c", input_fingerprint="f")
        metrics = pa.Table.from_pylist(
            [
                {n: None for n in schemas.METRICS.names}
                | {"run_id": run_id, "symbol": s, "strategy": "m"}
                for s in metric_symbols
            ],
            schema=schemas.METRICS,
        )
        sleeves = _sleeves(computed, scale)
        db.commit_night(
            conn, run_id, key, full=False, whole=computed, extended=[], states={}, versions={},
            signature="s", rows={"metrics": metrics}, sleeves=sleeves,
        )  # fmt: skip
        db.finish_run(conn, run_id, status="succeeded")
        return sleeves

    first = run("r1", "night-1", ["A", "B"], ["A", "B"], 1.0)
    second = run("r2", "night-2", ["A"], ["A", "B"], 2.0)  # B unchanged: not recomputed
    got = db.read_report_sleeves(conn, "r2")
    assert got.num_rows == 2
    assert got.slice(0, 1).equals(second.slice(0, 1))  # bit-identical lists from BLOBs
    assert got.slice(1, 1).equals(first.slice(1, 1))  # B from the night that computed it
    assert db.read_report_sleeves(conn, "r1").equals(first)
    conn.close()
