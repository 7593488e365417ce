"""storage.validate: one tiny bad dataset per rule, row accounting, sorting notes, symbol names."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from compute.errors import DataError
from storage import schemas
from storage.validate import REASONS, quarantine_table, symbol_name_problem, validate_bars

DAY_US = 86_400_000_000


def bars(symbol: str | None, n: int = 6, **overrides: tuple[int, float]) -> pa.Table:
    """``n`` valid daily bars; ``column=(row, value)`` plants one bad value."""
    columns: dict[str, np.ndarray] = {
        "timestamp": np.arange(n, dtype=np.int64) * DAY_US,
        "open": np.full(n, 10.0),
        "high": np.full(n, 11.0),
        "low": np.full(n, 9.0),
        "close": np.full(n, 10.5),
        "volume": np.full(n, 100.0),
    }
    for column, (row, value) in overrides.items():
        columns[column][row] = value
    return pa.table(
        {
            "symbol": pa.array([symbol] * n, pa.string()),
            "timestamp": pa.array(columns.pop("timestamp")).view(schemas.TIMESTAMP),
            **columns,
        },
        schema=schemas.BARS,
    )


def at_day(day: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)


RULES = [
    ("nonfinite_price", {"close": (2, np.nan)}, 2, "'close' = nan"),
    ("nonfinite_price", {"high": (1, np.inf)}, 1, "'high' = inf"),
    ("nonpositive_price", {"low": (3, 0.0), "open": (3, 0.0)}, 3, "= 0.0"),
    ("nonpositive_price", {"close": (4, -1.0)}, 4, "'close' = -1.0"),
    ("high_below_low", {"high": (1, 8.0)}, 1, "high = 8.0 is below low = 9.0"),
    ("ohlc_not_bracketed", {"open": (2, 12.0)}, 2, "open = 12.0"),
    ("ohlc_not_bracketed", {"low": (5, 10.6)}, 5, "low = 10.6"),
    ("bad_volume", {"volume": (0, -5.0)}, 0, "'volume' = -5.0"),
    ("bad_volume", {"volume": (3, np.nan)}, 3, "'volume' = nan"),
    ("duplicate_timestamp", {"timestamp": (4, 3 * DAY_US)}, 4, "appears more than once"),
]


@pytest.mark.parametrize(("reason", "overrides", "bad_row", "detail"), RULES)
def test_each_rule_quarantines_the_symbol_with_its_first_bad_timestamp(
    reason, overrides, bad_row, detail
):
    table = pa.concat_tables([bars("GOOD"), bars("BAD", **overrides)])
    clean, records, notes = validate_bars(table, min_bars=2)
    assert clean["symbol"].unique().to_pylist() == ["GOOD"]
    assert len(records) == 1
    record = records[0]
    assert (record.symbol, record.reason, record.n_rows) == ("BAD", reason, 6)
    expected_day = 3 if reason == "duplicate_timestamp" else bad_row  # the repeated value
    assert record.first_bad_timestamp == at_day(expected_day)
    assert detail in record.detail
    assert notes == []


def test_null_values_are_quarantined_and_named():
    table = bars("N")
    table = table.set_column(5, "close", pa.array([1.0, None, 1.0, 1.0, 1.0, 1.0]))
    _, records, _ = validate_bars(table, min_bars=1)
    assert [(r.reason, r.first_bad_timestamp) for r in records] == [("null_value", at_day(1))]
    assert "'close' is null" in records[0].detail


def test_too_few_bars():
    clean, records, _ = validate_bars(
        pa.concat_tables([bars("SHORT", n=3), bars("LONG", n=5)]), min_bars=5
    )
    assert clean.num_rows == 5
    assert [(r.symbol, r.reason, r.n_rows) for r in records] == [("SHORT", "too_few_bars", 3)]
    assert "3 bars, fewer than the 5 required" in records[0].detail


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "a\\b", "x..y", "nul\x00", "tab\there", "z" * 201, None]
)
def test_unusable_symbol_names_are_quarantined(name):
    table = pa.concat_tables([bars("OK"), bars(name)])
    clean, records, _ = validate_bars(table, min_bars=1)
    assert clean["symbol"].unique().to_pylist() == ["OK"]
    assert [(r.symbol, r.reason) for r in records] == [(name, "bad_symbol_name")]
    assert symbol_name_problem(name) is not None


@pytest.mark.parametrize(
    "name", ["AAPL", "BRK.B", "^GSPC", "ES=F", "a b", "x'); DROP TABLE runs;--"]
)
def test_ordinary_symbol_names_pass(name):
    assert symbol_name_problem(name) is None
    _, records, _ = validate_bars(bars(name), min_bars=1)
    assert records == []


def test_unsorted_timestamps_are_sorted_with_a_note():
    table = bars("U").take(pa.array([0, 1, 4, 2, 3, 5]))
    clean, records, notes = validate_bars(table, min_bars=1)
    assert records == []
    assert clean["timestamp"].to_pylist() == [at_day(d) for d in range(6)]
    assert len(notes) == 1
    assert "timestamps were not" in str(notes[0])
    assert "6 rows" in str(notes[0])


def test_rows_of_one_symbol_scattered_across_the_table_are_grouped():
    a, b = bars("A"), bars("B")
    table = pa.concat_tables([a.slice(0, 3), b, a.slice(3)])
    clean, records, notes = validate_bars(table, min_bars=6)
    assert (records, notes) == ([], [])
    assert clean["symbol"].to_pylist() == ["A"] * 6 + ["B"] * 6
    assert clean["timestamp"].to_pylist()[:6] == [at_day(d) for d in range(6)]


def test_a_symbol_with_several_problems_reports_the_first_reason_and_the_rest():
    _, records, _ = validate_bars(bars("M", close=(1, -1.0), volume=(2, -1.0)), min_bars=1)
    assert records[0].reason == "nonpositive_price"
    assert "also: ohlc_not_bracketed, bad_volume" in records[0].detail
    assert REASONS.index("nonpositive_price") < REASONS.index("bad_volume")


def test_every_row_is_accounted_for():
    rng = np.random.default_rng(7)
    parts = []
    for i in range(40):
        kind = rng.integers(0, 4)
        overrides = (
            {}
            if kind == 0
            else {("high", "volume", "close")[kind - 1]: (int(rng.integers(0, 6)), -1.0)}
        )
        parts.append(bars(f"S{i:02d}", n=int(rng.integers(1, 9)) if kind == 0 else 6, **overrides))
    table = pa.concat_tables(parts).take(pa.array(rng.permutation(sum(p.num_rows for p in parts))))
    clean, records, _ = validate_bars(table, min_bars=3)
    assert records, "the data set was built to contain bad symbols"
    assert clean.num_rows + sum(r.n_rows for r in records) == table.num_rows
    assert set(clean["symbol"].to_pylist()).isdisjoint(r.symbol for r in records)


def test_clean_output_is_one_chunk_of_the_bars_schema():
    clean, _, _ = validate_bars(pa.concat_tables([bars("B"), bars("A")]), min_bars=1)
    assert clean.schema == schemas.BARS
    assert all(column.num_chunks == 1 for column in clean.columns)


def test_empty_input_and_missing_columns():
    clean, records, notes = validate_bars(schemas.BARS.empty_table(), min_bars=5)
    assert (clean.num_rows, records, notes) == (0, [], [])
    with pytest.raises(DataError, match="lack column"):
        validate_bars(bars("A").drop_columns(["volume"]), min_bars=1)


def test_quarantine_table_has_the_quarantine_schema():
    _, records, _ = validate_bars(bars("X", high=(0, 1.0)), min_bars=1)
    table = quarantine_table(records, "run-1")
    assert table.schema == schemas.QUARANTINE
    assert table.to_pylist()[0]["run_id"] == "run-1"
