"""compute.portfolio summaries: the report's per-sleeve aggregates against the full equity rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from compute.errors import DataError
from compute.portfolio import (
    MAX_GRID_POINTS,
    SUMMARY_SCHEMA,
    choose_grid,
    count_per_period,
    portfolio_curves,
    portfolio_from_summaries,
    summarize_sleeves,
    trades_from_summaries,
)

MINUTE = 60_000_000
HOUR = 60 * MINUTE
START = int(np.datetime64("2026-01-05T00:00", "us").astype(np.int64))


def _ragged(seed: int, n_symbols: int = 9, strategies=("a", "b")):
    """Minute equity of ragged sleeves (late starts, early ends, gaps) and their trades."""
    rng = np.random.default_rng(seed)
    eq = {k: [] for k in ("symbol", "strategy", "timestamp", "equity")}
    tr = {k: [] for k in ("symbol", "strategy", "side", "entry_time")}
    for strategy in strategies:
        for i in range(n_symbols):
            first, last = int(rng.integers(0, 900)), int(rng.integers(1500, 3000))
            t = np.sort(rng.choice(np.arange(first, last), size=(last - first) // 2, replace=False))
            v = rng.uniform(5e3, 2e4) * np.cumprod(1 + rng.normal(0, 1e-3, t.size))
            eq["symbol"] += [f"S{i}"] * t.size
            eq["strategy"] += [strategy] * t.size
            eq["timestamp"] += (START + t * MINUTE).tolist()
            eq["equity"] += v.tolist()
            k = int(rng.integers(0, 30))
            tr["symbol"] += [f"S{i}"] * k
            tr["strategy"] += [strategy] * k
            tr["side"] += rng.choice(["long", "short"], size=k).tolist()
            tr["entry_time"] += (START + rng.choice(t, size=k) * MINUTE).tolist()
    ts = pa.timestamp("us", tz="UTC")
    equity = pa.table({**{k: eq[k] for k in ("symbol", "strategy")},
                       "timestamp": pa.array(eq["timestamp"], ts), "equity": eq["equity"]})  # fmt: skip
    trades = pa.table({**{k: tr[k] for k in ("symbol", "strategy", "side")},
                       "entry_time": pa.array(tr["entry_time"], ts)})  # fmt: skip
    return equity, trades


def test_summaries_give_the_full_portfolio_at_every_grid_point():
    equity, trades = _ragged(3)
    summaries = summarize_sleeves(equity, trades)
    assert summaries.schema == SUMMARY_SCHEMA
    assert summaries.num_rows == 18
    assert set(summaries["grid"].to_pylist()) == {"h"}
    full = portfolio_curves(equity)
    got = portfolio_from_summaries(summaries)
    assert sorted(got) == sorted(full) == ["a", "b"]
    for name, curve in got.items():
        ref = full[name]
        at = np.searchsorted(ref.timestamp_us, curve.timestamp_us)
        np.testing.assert_array_equal(ref.timestamp_us[at], curve.timestamp_us)
        np.testing.assert_allclose(curve.equity, ref.equity[at], rtol=1e-12)
        assert curve.n_sleeves == ref.n_sleeves == 9
        assert curve.initial_capital == pytest.approx(ref.initial_capital, rel=1e-15)
        # one point per hour with bars, at the hour's last bar
        hours = np.unique((ref.timestamp_us - START) // HOUR)
        assert curve.timestamp_us.size == hours.size


def test_batches_and_coarser_grids_merge_exactly():
    # the same sleeves summarized in two batches, one of them on a daily grid, give the
    # portfolio on the daily grid: the value at each day's last bar
    equity, trades = _ragged(5)
    first = equity.filter(pa.compute.is_in(equity["symbol"], pa.array(["S0", "S1", "S2"])))
    rest = equity.filter(
        pa.compute.invert(pa.compute.is_in(equity["symbol"], pa.array(["S0", "S1", "S2"])))
    )
    merged = pa.concat_tables(
        [summarize_sleeves(first, trades, grid="D"), summarize_sleeves(rest, trades)]
    )
    daily = summarize_sleeves(equity, trades, grid="D")
    for name, curve in portfolio_from_summaries(merged).items():
        ref = portfolio_from_summaries(daily)[name]
        np.testing.assert_array_equal(curve.timestamp_us, ref.timestamp_us)
        np.testing.assert_allclose(curve.equity, ref.equity, rtol=1e-12)
    # trades: counted per day on the coarsest grid whatever the batches' grids
    starts, sides, counts, period = trades_from_summaries(merged)
    times = pa.compute.cast(trades["entry_time"], pa.int64()).to_numpy()
    ref_starts, _, ref_counts = count_per_period(
        times, trades["side"].to_numpy(zero_copy_only=False), period, groups=sides
    )
    assert period in ("D", "M")
    np.testing.assert_array_equal(starts, ref_starts)
    np.testing.assert_array_equal(counts, ref_counts)


def test_grid_points_are_bounded_whatever_the_span():
    assert choose_grid(START, START + 40 * 24 * HOUR) == "h"
    assert choose_grid(START, START + 366 * 24 * HOUR) == "D"
    assert choose_grid(START, START + 20 * 366 * 24 * HOUR) == "M"
    n = 3 * 366 * 24 * 60  # three years of minute bars for one sleeve
    t = START + np.arange(n, dtype=np.int64) * MINUTE
    equity = pa.table({"symbol": ["A"] * n, "strategy": ["s"] * n,
                       "timestamp": pa.array(t, pa.timestamp("us", tz="UTC")),
                       "equity": np.linspace(1e4, 2e4, n)})  # fmt: skip
    row = summarize_sleeves(
        equity, equity.slice(0, 0).rename_columns(["symbol", "strategy", "side", "entry_time"])
    )
    assert len(row["time_us"][0]) <= MAX_GRID_POINTS


def test_a_bad_first_equity_names_the_sleeve():
    equity, trades = _ragged(1, n_symbols=2, strategies=("z",))
    summaries = summarize_sleeves(equity, trades)
    bad = summaries.set_column(3, "first_equity", pa.array([1e4, -1.0]))
    with pytest.raises(DataError, match="symbol 'S1', strategy 'z' has first equity -1.0"):
        portfolio_from_summaries(bad)
