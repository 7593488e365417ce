"""storage.bars: every accepted layout and type reads back as BARS; dataset problems are one-line DataErrors."""

from __future__ import annotations

import datetime as dt
import uuid

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from compute.errors import DataError, StorageError
from storage import schemas
from storage.bars import (
    fingerprint_dataset,
    load_bars,
    open_dataset,
    scan_symbols,
    sort_bars,
    write_bars,
)

DAY_US = 86_400_000_000


def day(n: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n)


def bars(symbol: str, n: int, first_day: int = 0) -> pa.Table:
    close = 100.0 + np.arange(n)
    ts = (np.arange(n, dtype=np.int64) + first_day) * DAY_US + 1_704_067_200_000_000  # 2024-01-01
    return pa.table(
        {
            "symbol": pa.array([symbol] * n, pa.string()),
            "timestamp": pa.array(ts).view(schemas.TIMESTAMP),
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 1000.0),
        },
        schema=schemas.BARS,
    )


def universe() -> pa.Table:
    return pa.concat_tables([bars("AAA", 5), bars("B/x", 3), bars("CCC", 4)])


def test_hive_layout_round_trips_exactly(tmp_path):
    files = write_bars(universe(), tmp_path / "hive")
    assert [f.split("/")[-2] for f in files] == ["symbol=AAA", "symbol=B%2Fx", "symbol=CCC"]
    got = load_bars(tmp_path / "hive")
    assert got.schema == schemas.BARS
    assert got.equals(universe().sort_by([("symbol", "ascending"), ("timestamp", "ascending")]))


def test_symbol_and_time_filters_and_projection(tmp_path):
    write_bars(universe(), tmp_path / "hive")
    got = load_bars(
        tmp_path / "hive", symbols=["AAA", "CCC"], start=day(1), end="2024-01-03", columns=["close"]
    )
    assert got.column_names == ["symbol", "timestamp", "close"]
    assert got["symbol"].to_pylist() == ["AAA", "AAA", "CCC", "CCC"]
    assert got["timestamp"].to_pylist() == [day(1), day(2)] * 2


def test_flat_file_with_date_column_int_volume_ns_and_extra_columns(tmp_path):
    raw = universe()
    table = pa.table(
        {
            "date": pa.array([t.date() for t in raw["timestamp"].to_pylist()], pa.date32()),
            "symbol": raw["symbol"],
            "open": raw["open"],
            "high": raw["high"],
            "low": raw["low"],
            "close": raw["close"],
            "volume": pa.array(np.full(raw.num_rows, 1000, dtype=np.int64)),
            "adj_close": raw["close"],
        }
    )
    pq.write_table(table, tmp_path / "bars.parquet")
    got = load_bars(tmp_path / "bars.parquet", sort_timestamps=True)
    assert got.schema == schemas.BARS
    assert got["volume"].to_pylist() == [1000.0] * raw.num_rows
    assert got["timestamp"].to_pylist() == raw["timestamp"].to_pylist()


@pytest.mark.parametrize(
    "type_",
    [
        pa.timestamp("ns"),
        pa.timestamp("ms", "America/New_York"),
        pa.timestamp("s", "UTC"),
        pa.string(),
    ],
)
def test_timestamps_of_any_unit_and_zone_become_us_utc(tmp_path, type_):
    raw = bars("A", 3)
    ts = (
        raw["timestamp"].cast(pa.string())
        if pa.types.is_string(type_)
        else raw["timestamp"].cast(type_)
    )
    pq.write_table(raw.set_column(1, "timestamp", ts), tmp_path / "a.parquet")
    got = load_bars(tmp_path / "a.parquet", start=day(1))
    assert got["timestamp"].type == schemas.TIMESTAMP
    assert got["timestamp"].to_pylist() == [day(1), day(2)]


def test_files_of_one_dataset_may_differ_in_types(tmp_path):
    (tmp_path / "d").mkdir()
    pq.write_table(bars("A", 3), tmp_path / "d" / "a.parquet")
    other = bars("B", 2)
    other = other.set_column(6, "volume", pa.array([5, 6], pa.int32()))
    pq.write_table(
        other.set_column(1, "timestamp", other["timestamp"].cast(pa.timestamp("ns"))),
        tmp_path / "d" / "b.parquet",
    )
    got = load_bars(tmp_path / "d")
    assert got.schema == schemas.BARS
    assert got["volume"].to_pylist()[-2:] == [5.0, 6.0]


def test_memory_url_round_trip():
    url = f"memory://barpipe-test-{uuid.uuid4().hex}/bars"
    try:
        write_bars(iter([bars("AAA", 5), bars("BBB", 3)]), url)
        got = load_bars(url, symbols=["BBB"])
        assert got.num_rows == 3
        scan = scan_symbols(url)
        assert scan["n_rows"].to_pylist() == [5, 3]
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


def test_file_url_and_explicit_fsspec_filesystem(tmp_path):
    write_bars(bars("A", 4), tmp_path / "d")
    assert load_bars(f"file://{tmp_path}/d").num_rows == 4
    assert load_bars(str(tmp_path / "d"), filesystem=fsspec.filesystem("file")).num_rows == 4


def test_load_keeps_file_order_within_a_symbol_unless_asked(tmp_path):
    shuffled = bars("A", 4).take(pa.array([2, 0, 3, 1]))
    pq.write_table(shuffled, tmp_path / "a.parquet")
    assert (
        load_bars(tmp_path / "a.parquet")["timestamp"].to_pylist()
        == shuffled["timestamp"].to_pylist()
    )
    assert load_bars(tmp_path / "a.parquet", sort_timestamps=True)["timestamp"].to_pylist() == [
        day(i) for i in range(4)
    ]


def _missing_path(tmp_path):
    return tmp_path / "nope"


def _missing_column(tmp_path):
    pq.write_table(bars("A", 2).drop_columns(["low"]), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def _uncastable(tmp_path):
    table = bars("A", 2)
    pq.write_table(table.set_column(5, "close", pa.array([[1.0], [2.0]])), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def _unparseable(tmp_path):
    table = bars("A", 2)
    pq.write_table(table.set_column(5, "close", pa.array(["1.5", "n/a"])), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def _corrupt(tmp_path):
    (tmp_path / "d").mkdir()
    pq.write_table(bars("A", 2), tmp_path / "d" / "a.parquet")
    (tmp_path / "d" / "b.parquet").write_bytes(b"PAR1 this is not parquet")
    return tmp_path / "d"


def _no_rows(tmp_path):
    pq.write_table(bars("A", 0), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


def _no_timestamp(tmp_path):
    pq.write_table(bars("A", 2).drop_columns(["timestamp"]), tmp_path / "x.parquet")
    return tmp_path / "x.parquet"


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (_missing_path, r"input path not found: .*nope"),
        (_missing_column, r"x\.parquet: missing required column 'low'"),
        (_no_timestamp, r"x\.parquet: missing required column 'timestamp' \(or 'date'"),
        (_uncastable, r"x\.parquet: column 'close' has type list<.*double"),
        (_unparseable, r"x\.parquet: column 'close' of type string cannot be cast to double"),
        (_corrupt, r"b\.parquet"),
        (_no_rows, r"no rows in .*x\.parquet"),
    ],
)
def test_dataset_problems_are_one_line_data_errors(tmp_path, make, pattern):
    source = make(tmp_path)
    with pytest.raises(DataError, match=pattern) as info:
        load_bars(source)
    assert "\n" not in str(info.value)


def test_no_rows_for_the_filters_names_them_unless_empty_is_allowed(tmp_path):
    write_bars(bars("A", 3), tmp_path / "d")
    with pytest.raises(DataError, match=r"for symbols=\['ZZZ'\]"):
        load_bars(tmp_path / "d", symbols=["ZZZ"])
    assert load_bars(tmp_path / "d", start="2030-01-01", allow_empty=True).schema == schemas.BARS


def test_unknown_column_request_lists_the_valid_ones(tmp_path):
    write_bars(bars("A", 3), tmp_path / "d")
    with pytest.raises(DataError, match="valid"):
        load_bars(tmp_path / "d", columns=["vwap"])


def test_all_numeric_hive_symbols_stay_strings(tmp_path):
    write_bars(pa.concat_tables([bars("123", 2), bars("7", 1)]), tmp_path / "d")
    assert open_dataset(tmp_path / "d").partitioning.schema.field("symbol").type == pa.string()
    assert load_bars(tmp_path / "d")["symbol"].to_pylist() == ["123", "123", "7"]


@pytest.mark.parametrize("layout", ["hive", "one_symbol_per_row_group", "mixed_row_groups"])
def test_scan_symbols_counts_rows_and_spans(tmp_path, layout):
    table = universe()
    if layout == "hive":
        write_bars(table, tmp_path / "d")
    elif layout == "one_symbol_per_row_group":
        write_bars(
            iter([bars("AAA", 5), bars("B/x", 3), bars("CCC", 4)]),
            tmp_path / "d",
            partition_by_symbol=False,
        )
    else:
        write_bars(table, tmp_path / "d", partition_by_symbol=False, row_group_rows=4)
    scan = scan_symbols(tmp_path / "d")
    assert scan.schema.names == ["symbol", "n_rows", "min_timestamp", "max_timestamp"]
    assert scan.to_pylist() == [
        {"symbol": "AAA", "n_rows": 5, "min_timestamp": day(0), "max_timestamp": day(4)},
        {"symbol": "B/x", "n_rows": 3, "min_timestamp": day(0), "max_timestamp": day(2)},
        {"symbol": "CCC", "n_rows": 4, "min_timestamp": day(0), "max_timestamp": day(3)},
    ]


def test_scan_of_a_symbol_spread_over_files_and_a_date_column(tmp_path):
    (tmp_path / "d").mkdir()
    for i, first in enumerate((0, 10)):
        t = bars("A", 3, first_day=first)
        dates = pa.array([x.date() for x in t["timestamp"].to_pylist()], pa.date32())
        pq.write_table(
            t.drop_columns(["timestamp"]).append_column("date", dates),
            tmp_path / "d" / f"{i}.parquet",
        )
    scan = scan_symbols(tmp_path / "d")
    assert scan.to_pylist() == [
        {"symbol": "A", "n_rows": 6, "min_timestamp": day(0), "max_timestamp": day(12)}
    ]


def test_write_bars_in_chunks_splits_files_and_refuses_to_clobber(tmp_path):
    chunks = (bars(s, 5) for s in ("A", "B"))
    files = write_bars(chunks, tmp_path / "d", rows_per_file=2)
    assert [f.rsplit("/", 2)[-2:] for f in files][:3] == [
        ["symbol=A", "part-00000.parquet"],
        ["symbol=A", "part-00001.parquet"],
        ["symbol=A", "part-00002.parquet"],
    ]
    assert len(files) == 6
    assert load_bars(tmp_path / "d").num_rows == 10
    with pytest.raises(StorageError, match="not empty"):
        write_bars(bars("A", 1), tmp_path / "d")
    write_bars(bars("C", 1), tmp_path / "d", overwrite=True)
    assert load_bars(tmp_path / "d")["symbol"].to_pylist() == ["C"]


def test_write_bars_flat_files(tmp_path):
    files = write_bars(universe(), tmp_path / "flat", partition_by_symbol=False, rows_per_file=5)
    assert [f.rsplit("/", 1)[1] for f in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert pq.read_table(files[0]).schema == schemas.BARS


def test_write_bars_rejects_rows_that_are_not_bars(tmp_path):
    with pytest.raises(StorageError, match="lack column"):
        write_bars(bars("A", 2).drop_columns(["close"]), tmp_path / "d")


def test_fingerprint_changes_with_the_data(tmp_path):
    write_bars(bars("A", 3), tmp_path / "d")
    first = fingerprint_dataset(tmp_path / "d")
    assert fingerprint_dataset(tmp_path / "d") == first
    write_bars(bars("A", 4), tmp_path / "d", overwrite=True)
    assert fingerprint_dataset(tmp_path / "d") != first


@pytest.mark.parametrize(
    "layout",
    ["sorted", "symbols_swapped", "time_reversed_in_one_symbol", "null_time_first", "null_symbol"],
)
@pytest.mark.parametrize("by_time", [True, False])
def test_load_bars_order_equals_a_stable_sort_of_the_file(tmp_path, layout, by_time):
    # load_bars skips its sort (and its exact filter) when they would keep every row in
    # place; the result must still be the stable sort of the file's rows, nulls last
    raw = pa.concat_tables([bars("AAA", 4), bars("BBB", 3)])
    if layout == "symbols_swapped":
        raw = pa.concat_tables([bars("BBB", 3), bars("AAA", 4)])
    elif layout == "time_reversed_in_one_symbol":
        raw = raw.take([0, 1, 3, 2, 4, 5, 6])
    elif layout == "null_time_first":
        ts = raw["timestamp"].to_pylist()
        raw = raw.set_column(1, "timestamp", pa.array([None, *ts[1:]], schemas.TIMESTAMP))
    elif layout == "null_symbol":
        sym = raw["symbol"].to_pylist()
        raw = raw.set_column(0, "symbol", pa.array([*sym[:5], None, sym[6]], pa.string()))
    pq.write_table(raw, tmp_path / "bars.parquet")
    keys = [("symbol", "ascending")] + ([("timestamp", "ascending")] if by_time else [])
    want = raw.take(pc.sort_indices(raw, sort_keys=keys))
    got = load_bars(tmp_path / "bars.parquet", sort_timestamps=by_time)
    assert got.to_pydict() == want.to_pydict()
    within = load_bars(tmp_path / "bars.parquet", symbols=["AAA"], sort_timestamps=by_time)
    assert within.to_pydict() == want.filter(pc.equal(want["symbol"], "AAA")).to_pydict()


def test_sort_bars_copies_only_when_the_rows_are_out_of_order():
    ordered = pa.concat_tables([bars("AAA", 3), bars("BBB", 2)])
    assert sort_bars(ordered) is ordered  # nothing to do: no copy
    shuffled = ordered.take([3, 0, 4, 2, 1])
    assert sort_bars(shuffled).to_pydict() == ordered.to_pydict()
    assert (
        sort_bars(shuffled, by_timestamp=False)["symbol"].to_pylist() == ["AAA"] * 3 + ["BBB"] * 2
    )


def test_scan_by_reading_combines_record_batches(tmp_path, monkeypatch):
    # row groups holding several symbols make the scan read the columns, a batch at a time;
    # a symbol split across batches (and a null time) still gives one exact row
    from storage import bars as bars_module

    monkeypatch.setattr(bars_module, "SCAN_BATCH_ROWS", 3)
    raw = pa.concat_tables([bars("BBB", 4, first_day=2), bars("AAA", 5), bars("BBB", 2)])
    ts = raw["timestamp"].to_pylist()
    raw = raw.set_column(1, "timestamp", pa.array([*ts[:6], None, *ts[7:]], schemas.TIMESTAMP))
    pq.write_table(raw, tmp_path / "mixed.parquet", row_group_size=100)
    got = scan_symbols(tmp_path / "mixed.parquet").to_pylist()
    assert [(r["symbol"], r["n_rows"]) for r in got] == [("AAA", 5), ("BBB", 6)]
    spans = [(r["min_timestamp"], r["max_timestamp"]) for r in got]
    assert spans == [(day(0), day(4)), (day(0), day(5))]
