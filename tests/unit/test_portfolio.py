"""compute.portfolio: sleeves summed by hand on small cases, and the report's helpers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from compute.errors import DataError, ParameterError
from compute.portfolio import (
    choose_period,
    combine_sleeves,
    count_per_period,
    downsample_indices,
    drawdown,
    histogram,
    max_by_key,
    micros,
    portfolio_curves,
    rank_symbols,
    sum_by_key,
)

UTC = dt.UTC
DAY = 86_400_000_000


def day(n: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=n)


def us(when: dt.datetime) -> int:
    return (when - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def equity_table(rows: list[tuple[str, str, int, float]]) -> pa.Table:
    symbol, strategy, when, value = zip(*rows, strict=True)
    return pa.table(
        {
            "run_id": pa.array(["r1"] * len(rows)),
            "symbol": pa.array(symbol),
            "strategy": pa.array(strategy),
            "timestamp": pa.array([day(n) for n in when], pa.timestamp("us", tz="UTC")),
            "equity": pa.array(value, pa.float64()),
        }
    )


def test_overlapping_date_ranges_hold_start_before_and_last_after():
    # A: days 1-3, 100 -> 121; B: days 2-4, 200 -> 150. Capital = mean(100, 200) = 150, so each
    # sleeve gets 75: A is scaled by 0.75 (75, 82.5, 90.75), B by 0.375 (75, 67.5, 56.25).
    table = equity_table(
        [
            ("B", "s", 2, 200.0),
            ("A", "s", 1, 100.0),
            ("B", "s", 3, 180.0),
            ("A", "s", 2, 110.0),
            ("A", "s", 3, 121.0),
            ("B", "s", 4, 150.0),
        ]
    )
    curve = portfolio_curves(table)["s"]
    assert curve.n_sleeves == 2
    assert curve.initial_capital == 150.0
    assert curve.timestamp_us.tolist() == [us(day(n)) for n in (1, 2, 3, 4)]
    # day 1: A 75 + B not started (75); day 2: 82.5 + 75; day 3: 90.75 + 67.5; day 4: A ended (90.75) + 56.25
    np.testing.assert_allclose(curve.equity, [150.0, 157.5, 158.25, 147.0], rtol=1e-13)
    np.testing.assert_allclose(
        curve.drawdown, [0.0, 0.0, 0.0, 147.0 / 158.25 - 1.0], rtol=1e-13, atol=1e-15
    )


def test_gap_in_one_sleeve_carries_its_previous_value():
    # A has no bar on day 2: it counts at its day-1 value there.
    table = equity_table(
        [
            ("A", "s", 1, 10.0),
            ("A", "s", 3, 12.0),
            ("B", "s", 1, 10.0),
            ("B", "s", 2, 8.0),
            ("B", "s", 3, 9.0),
        ]
    )
    curve = portfolio_curves(table)["s"]
    np.testing.assert_allclose(curve.equity, [10.0, 5.0 + 4.0, 6.0 + 4.5], rtol=1e-13)


def test_explicit_capital_and_one_curve_per_strategy():
    table = equity_table(
        [
            ("A", "x", 0, 100.0),
            ("A", "x", 1, 150.0),
            ("A", "y", 0, 100.0),
            ("A", "y", 1, 50.0),
            ("B", "y", 0, 100.0),
            ("B", "y", 1, 100.0),
        ]
    )
    curves = portfolio_curves(table, initial_capital=1000.0)
    assert sorted(curves) == ["x", "y"]
    np.testing.assert_allclose(curves["x"].equity, [1000.0, 1500.0])
    np.testing.assert_allclose(curves["y"].equity, [1000.0, 250.0 + 500.0])
    assert curves["y"].n_sleeves == 2


def test_empty_equity_gives_no_curves():
    assert portfolio_curves(equity_table([("A", "s", 0, 1.0)]).slice(0, 0)) == {}


def _reference(
    sleeves: list[tuple[np.ndarray, np.ndarray]], capital: float
) -> tuple[np.ndarray, np.ndarray]:
    """Plain loop: every sleeve forward-filled on the union of times, start value before its first bar."""
    times = np.unique(np.concatenate([t for t, _ in sleeves]))
    total = np.zeros(times.size)
    share = capital / len(sleeves)
    for t, v in sleeves:
        scaled = v * share / v[0]
        for j, when in enumerate(times):
            k = np.searchsorted(t, when, side="right") - 1
            total[j] += share if k < 0 else scaled[k]
    return times, total


def test_matches_a_plain_loop_on_random_ragged_sleeves():
    rng = np.random.default_rng(7)
    sleeves = []
    for _ in range(7):
        t = np.sort(rng.choice(200, size=rng.integers(1, 60), replace=False)).astype(np.int64) * DAY
        v = 100.0 * np.cumprod(1 + rng.normal(0, 0.02, t.size))
        sleeves.append((t, v))
    ids = np.concatenate([np.full(t.size, i) for i, (t, _) in enumerate(sleeves)])
    times, port, capital = combine_sleeves(
        ids, np.concatenate([t for t, _ in sleeves]), np.concatenate([v for _, v in sleeves])
    )
    ref_times, ref = _reference(sleeves, capital)
    np.testing.assert_array_equal(times, ref_times)
    np.testing.assert_allclose(port, ref, rtol=1e-12)


def test_combine_sleeves_refuses_unsorted_rows_and_bad_values():
    with pytest.raises(ParameterError, match="sorted"):
        combine_sleeves(np.array([0, 0]), np.array([2, 1]), np.array([1.0, 1.0]))
    with pytest.raises(DataError, match="finite"):
        combine_sleeves(np.array([0, 0]), np.array([1, 2]), np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="first equity value"):
        combine_sleeves(np.array([0, 1]), np.array([1, 1]), np.array([1.0, 0.0]))


def test_portfolio_curves_names_symbol_strategy_and_time_of_bad_equity():
    with pytest.raises(
        DataError, match=r"symbol 'A', strategy 'zz' at 2024-01-01T00:00:00.000000Z is -5.0"
    ):
        portfolio_curves(equity_table([("A", "zz", 0, -5.0), ("A", "zz", 1, 1.0)]))
    with pytest.raises(
        DataError, match=r"symbol 'B', strategy 'zz' at 2024-01-02T00:00:00.000000Z is nan"
    ):
        portfolio_curves(
            equity_table([("A", "zz", 0, 5.0), ("B", "zz", 0, 1.0), ("B", "zz", 1, float("nan"))])
        )


def test_drawdown_counts_the_first_value_as_a_peak():
    np.testing.assert_allclose(
        drawdown(np.array([100.0, 80.0, 120.0, 90.0])), [0.0, -0.2, 0.0, -0.25]
    )


def test_downsample_keeps_ends_and_extremes_within_the_budget():
    values = np.sin(np.linspace(0, 20, 100_001))
    values[54_321] = -5.0  # a deep trough must survive
    dd = drawdown(values + 10)
    idx = downsample_indices([values, dd], 1000)
    assert idx.size <= 1000
    assert idx[0] == 0
    assert idx[-1] == values.size - 1
    assert 54_321 in idx
    assert np.all(np.diff(idx) > 0)
    assert downsample_indices(values[:50], 1000).tolist() == list(range(50))


def test_downsample_refuses_a_too_small_budget():
    with pytest.raises(ParameterError, match="max_points"):
        downsample_indices(np.zeros(10), 3)


def test_histogram_leaves_out_non_finite_values():
    edges, counts, dropped = histogram(np.array([0.0, 0.5, 1.0, np.nan, np.inf]), bins=2)
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    assert counts.tolist() == [1, 2]
    assert dropped == 2


def test_rank_symbols_best_and_worst_per_strategy():
    metrics = pa.table(
        {
            "symbol": ["A", "B", "C", "D", "A"],
            "strategy": ["s", "s", "s", "s", "t"],
            "sharpe_ratio": [1.0, float("nan"), -2.0, 3.0, 0.5],
        }
    )
    ranked = rank_symbols(metrics, n=2)
    best, worst = ranked["s"]
    assert best["symbol"].to_pylist() == ["D", "A"]
    assert worst["symbol"].to_pylist() == ["C", "A"]
    assert ranked["t"][0]["symbol"].to_pylist() == ["A"]


def test_count_per_period_by_week_starting_monday():
    # 2024-01-01 is a Monday: days 0-6 are week 1, day 7 starts week 2.
    times = np.array([us(day(n)) for n in (0, 6, 7, 8, 8)])
    starts, names, counts = count_per_period(
        times, np.array(["long", "short", "long", "short", "short"]), "W"
    )
    assert starts.tolist() == [times[0], times[2]]
    assert names == ["long", "short"]
    assert counts.tolist() == [[1, 1], [1, 2]]


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("M", ["2024-01-01", "2024-02-01"]),
        ("Q", ["2024-01-01", "2024-04-01"]),
        ("Y", ["2024-01-01", "2025-01-01"]),
    ],
)
def test_count_per_period_by_calendar_months(period, expected):
    stamps = {
        "M": ["2024-01-31", "2024-02-01"],
        "Q": ["2024-03-31", "2024-04-01"],
        "Y": ["2024-12-31", "2025-01-01"],
    }[period]
    times = np.array(stamps, dtype="datetime64[us]").astype(np.int64)
    starts, _, counts = count_per_period(times, np.array(["long", "long"]), period)
    assert starts.astype("datetime64[us]").astype("datetime64[D]").astype(str).tolist() == expected
    assert counts.tolist() == [[1, 1]]


def test_choose_period_picks_the_finest_that_fits():
    start = int(np.datetime64("2020-01-01", "us").astype(np.int64))
    assert choose_period(start, start + 50 * 3_600_000_000, max_bins=120) == "h"
    assert choose_period(start, start + 100 * DAY, max_bins=120) == "D"
    assert choose_period(start, start + 700 * DAY, max_bins=120) == "W"
    assert choose_period(start, start + 3000 * DAY, max_bins=120) == "M"
    assert choose_period(start, start + 20 * 365 * DAY, max_bins=120) == "Q"


def test_sum_by_key_keeps_first_appearance_order():
    keys, totals = sum_by_key(["load", "kernels", "load"], np.array([1.0, 2.0, 0.5]))
    assert keys == ["load", "kernels"]
    np.testing.assert_allclose(totals, [1.5, 2.0])


def test_histogram_default_bins_grow_with_the_sample():
    assert histogram(np.arange(20.0))[1].size == 10
    assert histogram(np.arange(900.0))[1].size == 30
    assert histogram(np.arange(10_000.0))[1].size == 50


def test_max_by_key_keeps_first_appearance_order():
    keys, peaks = max_by_key(["w2", "w1", "w2"], np.array([5.0, 7.0, 9.0]))
    assert keys == ["w2", "w1"]
    np.testing.assert_allclose(peaks, [9.0, 7.0])


def test_micros_from_any_timestamp_unit():
    column = pa.array([0, 1_500], pa.timestamp("ms", tz="UTC"))
    assert micros(column).tolist() == [0, 1_500_000]
