"""Storage round trips in tmp_path: bars in every accepted layout, validation, staged publish."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute.errors import DataError, StorageError
from storage import bars, outputs, schemas, validate

UTC = dt.UTC


def _bars(
    symbol: str, n: int, start: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=UTC)
) -> pa.Table:
    close = 100 + np.arange(n, dtype=np.float64)
    ts = [start + dt.timedelta(days=i) for i in range(n)]
    return pa.table(
        {
            "symbol": [symbol] * n,
            "timestamp": pa.array(ts, schemas.TIMESTAMP),
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 1000.0),
        }
    )


def test_hive_layout_round_trip_with_symbol_and_date_filters(tmp_path):
    data = pa.concat_tables([_bars("AAA", 30), _bars("BBB", 20)])
    bars.write_bars(data, tmp_path / "bars")
    got = bars.load_bars(tmp_path / "bars", symbols=["BBB"], start="2024-01-05", end="2024-01-10")
    assert got.schema == schemas.BARS
    assert set(got["symbol"].to_pylist()) == {"BBB"}
    assert got.num_rows == 6
    scan = bars.scan_symbols(tmp_path / "bars")
    assert dict(zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True)) == {
        "AAA": 30,
        "BBB": 20,
    }


def test_single_file_with_date_column_and_integer_volume(tmp_path):
    t = _bars("AAA", 5)
    t = t.set_column(1, "date", pa.array([d.date() for d in t["timestamp"].to_pylist()]))
    t = t.set_column(6, "volume", pa.array(range(5), pa.int64()))
    t = t.append_column("extra", pa.array(["x"] * 5))
    pq.write_table(t, tmp_path / "one.parquet")
    got = bars.load_bars(tmp_path / "one.parquet")
    assert got.schema == schemas.BARS
    assert got["volume"].to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert got["timestamp"][0].as_py() == dt.datetime(2024, 1, 1, tzinfo=UTC)


def test_memory_url_round_trip():
    bars.write_bars(_bars("MEM", 7), "memory://barpipe-test/bars", overwrite=True)
    got = bars.load_bars("memory://barpipe-test/bars")
    assert got.num_rows == 7


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "input path not found"),
        (lambda p: _write(p, _bars("A", 3).drop_columns(["close"])), "close"),
        (
            lambda p: _write(p, _bars("A", 3).set_column(5, "close", pa.array(["x", "y", "z"]))),
            "close",
        ),
        (lambda p: _corrupt(p), "bad.parquet"),
    ],
    ids=["missing-path", "missing-column", "uncastable-column", "corrupt-file"],
)
def test_dataset_problems_are_one_line_data_errors(tmp_path, make, message):
    source = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        bars.load_bars(source)
    assert "\n" not in str(info.value)


def _write(root, table):
    root = root / "ds"
    root.mkdir()
    pq.write_table(table, root / "part.parquet")
    return root


def _corrupt(root):
    root = root / "ds"
    root.mkdir()
    (root / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    return root


def test_validation_accounts_for_every_row():
    good = _bars("GOOD", 50)
    bad = _bars("BAD", 40)
    bad = bad.set_column(5, "close", pa.array(np.r_[np.full(39, 100.0), -1.0]))
    short = _bars("SHORT", 3)
    table = pa.concat_tables([good, bad, short])
    clean, records, _notes = validate.validate_bars(table, min_bars=10)
    by_symbol = {r.symbol: r for r in records}
    assert set(clean["symbol"].to_pylist()) == {"GOOD"}
    assert by_symbol["BAD"].reason == "nonpositive_price"
    assert by_symbol["BAD"].first_bad_timestamp == dt.datetime(2024, 2, 9, tzinfo=UTC)
    assert by_symbol["SHORT"].reason == "too_few_bars"
    assert clean.num_rows + sum(r.n_rows for r in records) == table.num_rows


def test_unsorted_timestamps_are_sorted_and_noted():
    t = _bars("UNS", 20)
    t = t.take(pa.array(list(range(19, -1, -1))))
    clean, records, notes = validate.validate_bars(t, min_bars=5)
    assert records == []
    ts = clean["timestamp"].to_pylist()
    assert ts == sorted(ts)
    assert [(n.symbol, n.n_rows) for n in notes] == [("UNS", 20)]
    assert "sorted" in notes[0].detail


def _publish(root: str, run_id: str, key: str, tables: list[str]) -> None:
    from storage import db, runs

    conn = db.connect(f"{root}/barpipe.db")
    try:
        night = runs.Night(full=True, signature="s")
        runs.publish(runs.OutputRoot(root), conn, run_id, key, tables, night)
    finally:
        conn.close()


def test_publish_is_idempotent_and_a_rerun_replaces_the_key(tmp_path):
    root = str(tmp_path / "out")
    metrics = pa.table(
        {c: pa.nulls(2, schemas.METRICS.field(c).type) for c in schemas.METRICS.names}
    )
    metrics = (
        metrics.set_column(0, "run_id", pa.array(["r1", "r1"]))
        .set_column(1, "symbol", pa.array(["A", "B"]))
        .set_column(2, "strategy", pa.array(["s", "s"]))
    )
    outputs.write_staged(metrics, root, "r1", "metrics", 0)
    outputs.write_staged(metrics, root, "r1", "metrics", 0)  # a task run twice overwrites itself
    _publish(root, "r1", "2024-01-01", ["metrics"])
    assert outputs.read_output(root, "metrics").num_rows == 2
    second = metrics.set_column(0, "run_id", pa.array(["r2", "r2"])).slice(0, 1)
    outputs.write_staged(second, root, "r2", "metrics", 0)
    _publish(root, "r2", "2024-01-01", ["metrics"])
    got = outputs.read_output(root, "metrics")
    assert got["run_id"].to_pylist() == ["r2"]


def test_indicators_table_keeps_the_runs_columns(tmp_path):
    root = str(tmp_path / "out")
    t = _bars("AAA", 4)
    ind = pa.table(
        {
            "run_id": ["r1"] * 4,
            "symbol": t["symbol"],
            "timestamp": t["timestamp"],
            "rsi_14": [np.nan, 1.0, 2.0, 3.0],
            "cdldoji": pa.array([0, 100, 0, -100], pa.int32()),
        }
    )
    outputs.write_staged(ind, root, "r1", "indicators", 0)
    _publish(root, "r1", "k", ["indicators"])
    got = outputs.read_output(root, "indicators")
    assert got.column_names == ["run_id", "symbol", "timestamp", "rsi_14", "cdldoji", "run_key"]
    assert got["cdldoji"].to_pylist() == [0, 100, 0, -100]
    with pytest.raises(StorageError, match="value columns must be numeric"):
        outputs.write_staged(
            ind.append_column("bad", pa.array(list("abcd"))), root, "r1", "indicators", 1
        )
