"""storage.bars against hostile layouts (issue 12): every input row is read and counted once,
or the dataset is refused with one line naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from compute.errors import DataError
from storage import validate
from storage.bars import load_bars, scan_symbols

from .test_storage_bars import bars


def _symbol_as(table: pa.Table, kind: str) -> pa.Table:
    column = table["symbol"]
    column = column.dictionary_encode() if kind == "dictionary" else column.cast(pa.large_string())
    return table.set_column(0, "symbol", column)


def _scan_rows(root: Path) -> dict[str, int]:
    scan = scan_symbols(root)
    return dict(zip(scan["symbol"].to_pylist(), scan["n_rows"].to_pylist(), strict=True))


# --------------------------------------------------------------------------- symbol column types


@pytest.mark.parametrize("kind", ["dictionary", "large_string"])
@pytest.mark.parametrize("layout", ["flat", "hive"])
def test_dictionary_and_large_string_symbols_in_a_directory_are_read(tmp_path, kind, layout):
    for i, (name, n) in enumerate([("AAA", 5), ("BBB", 7)]):
        folder = tmp_path / (f"symbol={name}" if layout == "hive" else "")
        folder.mkdir(exist_ok=True)
        pq.write_table(_symbol_as(bars(name, n), kind), folder / f"part-{i}.parquet")
    assert _scan_rows(tmp_path) == {"AAA": 5, "BBB": 7}
    loaded = load_bars(tmp_path)
    assert loaded.num_rows == 12
    assert loaded["symbol"].type == pa.string()
    assert load_bars(tmp_path, symbols=["BBB"]).num_rows == 7


def test_pandas_categorical_symbols_over_several_files(tmp_path):
    frame = pd.concat([bars("AAA", 5).to_pandas(), bars("BBB", 4).to_pandas()])
    frame["symbol"] = frame["symbol"].astype("category")
    frame.iloc[:6].to_parquet(tmp_path / "a.parquet")
    frame.iloc[6:].to_parquet(tmp_path / "b.parquet")
    assert _scan_rows(tmp_path) == {"AAA": 5, "BBB": 4}
    assert load_bars(tmp_path).num_rows == 9


# --------------------------------------------------------------------------- hive vs column


def test_a_file_whose_symbol_column_contradicts_its_directory_is_refused(tmp_path):
    (tmp_path / "symbol=AAA").mkdir()
    (tmp_path / "symbol=CCC").mkdir()
    pq.write_table(bars("BBB", 6), tmp_path / "symbol=AAA" / "part-0.parquet")
    pq.write_table(bars("CCC", 6).drop_columns(["symbol"]), tmp_path / "symbol=CCC" / "p.parquet")
    with pytest.raises(DataError) as info:
        scan_symbols(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "symbol=AAA" / "part-0.parquet"))
    assert "'BBB'" in message
    assert "symbol=AAA" in message


@pytest.mark.parametrize("kind", ["string", "dictionary"])
def test_a_file_whose_column_contradicts_its_directory_in_some_rows_is_refused(tmp_path, kind):
    (tmp_path / "symbol=AAA").mkdir()
    table = pa.concat_tables([bars("AAA", 4), bars("BBB", 2, first_day=10)])
    if kind == "dictionary":
        table = _symbol_as(table, kind)
    pq.write_table(table, tmp_path / "symbol=AAA" / "p.parquet", row_group_size=3)
    with pytest.raises(DataError, match=r"holds 'BBB', not the 'AAA'"):
        scan_symbols(tmp_path)


def test_a_column_that_agrees_with_its_directory_is_fine(tmp_path):
    (tmp_path / "symbol=AAA").mkdir()
    pq.write_table(_symbol_as(bars("AAA", 4), "dictionary"), tmp_path / "symbol=AAA" / "a.parquet")
    (tmp_path / "symbol=BBB").mkdir()
    pq.write_table(bars("BBB", 3), tmp_path / "symbol=BBB" / "b.parquet")
    assert _scan_rows(tmp_path) == {"AAA": 4, "BBB": 3}
    assert load_bars(tmp_path).num_rows == 7


# --------------------------------------------------------------------------- null times and dates


@pytest.mark.parametrize(
    "window",
    [{"start": "2000-01-01"}, {"end": "2030-01-01"}, {"start": "2024-01-03", "end": "2024-01-20"}],
    ids=["start", "end", "both"],
)
def test_a_null_timestamp_is_kept_by_the_dates_filter_and_quarantined(tmp_path, window):
    table = bars("AAA", 30)
    ts = table["timestamp"].to_pylist()
    ts[12] = None
    table = table.set_column(1, "timestamp", pa.array(ts, table.schema.field("timestamp").type))
    pq.write_table(pa.concat_tables([table, bars("BBB", 30)]), tmp_path / "x.parquet")
    loaded = load_bars(tmp_path, **window)
    assert pc.sum(pc.is_null(loaded["timestamp"])).as_py() == 1
    clean, records, _ = validate.validate_bars(loaded, 2)
    assert [(r.symbol, r.reason) for r in records] == [("AAA", "null_value")]
    assert clean.num_rows + sum(r.n_rows for r in records) == loaded.num_rows
    assert set(clean["symbol"].to_pylist()) == {"BBB"}


# --------------------------------------------------------------------------- time types and ranges


def _with_times(table: pa.Table, times: pa.Array) -> pa.Table:
    return table.set_column(1, "timestamp", times)


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_times_beyond_the_microsecond_range_are_a_data_error_not_other_dates(tmp_path, unit):
    seconds = 9_400_000_000_000 + 86_400 * np.arange(5, dtype=np.int64)  # year ~300000
    scale = 1 if unit == "s" else 1000
    table = _with_times(bars("AAA", 5), pa.array(seconds * scale, pa.timestamp(unit)))
    pq.write_table(table, tmp_path / "far.parquet")
    for read in (lambda: scan_symbols(tmp_path), lambda: load_bars(tmp_path, start="2015-01-01")):
        with pytest.raises(DataError) as info:
            read()
        assert str(info.value).startswith(str(tmp_path / "far.parquet"))
        assert "out of bounds" in str(info.value)


def test_dictionary_encoded_iso_strings_are_times(tmp_path):
    table = bars("AAA", 4)
    text = pa.array([t.isoformat() for t in table["timestamp"].to_pylist()]).dictionary_encode()
    pq.write_table(_with_times(table, text), tmp_path / "x.parquet")
    assert load_bars(tmp_path)["timestamp"].equals(table["timestamp"])


@pytest.mark.parametrize(
    "times",
    [
        pa.array(np.arange(4, dtype=np.int64) * 86_400_000_000, pa.timestamp("ns", "Asia/Tokyo")),
        pa.array(np.arange(4, dtype=np.int32) - 719_162, pa.date32()),  # from 0001-01-01
        pa.array(np.arange(4, dtype=np.int64) * 86_400 + 253_370_764_800, pa.timestamp("s")),
    ],
    ids=["ns-tokyo", "date32-year-1", "s-year-9999"],
)
def test_time_types_and_extreme_but_valid_dates_are_kept_exactly(tmp_path, times):
    pq.write_table(_with_times(bars("AAA", 4), times), tmp_path / "x.parquet")
    loaded = load_bars(tmp_path)
    expected = (
        pc.cast(pc.cast(times, pa.timestamp(times.type.unit, "UTC")), pa.timestamp("us", "UTC"))
        if pa.types.is_timestamp(times.type)
        else pc.cast(pc.cast(times, pa.timestamp("us")), pa.timestamp("us", "UTC"))
    )
    assert loaded["timestamp"].to_pylist() == expected.to_pylist()
