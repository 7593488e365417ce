"""Every sleeve's benchmark-relative metrics in the ``metrics`` table, against empyrical.

Real daily stocks of different histories (bokeh_sampledata: GOOG from 2004, FB from 2012)
with bars cut out at random, so the universe's calendar has dates some symbols lack. The
equal-weight benchmark is built from two batches' ``return_sums`` (as the flow does) and
checked against a pandas reference; each sleeve's relative metrics must equal empyrical's
functions on the sleeve's returns and the benchmark's returns over the sleeve's bars.
"""

from __future__ import annotations

import warnings

import empyrical
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from empyrical.stats import _zero_dispersion_std
from empyrical.utils import nanstd

from compute import metrics, pipeline

SYMBOLS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
RTOL = 1e-10
RF = 1e-5  # per bar


@pytest.fixture(scope="module")
def universe() -> pa.Table:
    from bokeh_sampledata import stocks

    rng = np.random.default_rng(11)
    parts = []
    for symbol in SYMBOLS:
        raw = getattr(stocks, symbol)
        n = len(raw["date"])
        keep = np.sort(rng.choice(n, n - n // 20, replace=False))  # 5% of bars missing
        parts.append(
            pa.table(
                {
                    "symbol": pa.array([symbol] * keep.shape[0], pa.string()),
                    "timestamp": pa.array(
                        pd.to_datetime(np.asarray(raw["date"])[keep], utc=True).as_unit("us"),
                        pa.timestamp("us", tz="UTC"),
                    ),
                    **{
                        f: np.asarray(raw[f], dtype=np.float64)[keep]
                        for f in ("open", "high", "low", "close", "volume")
                    },
                }
            )
        )
    return pa.concat_tables(parts)


def _us(table: pa.Table) -> np.ndarray:
    return table["timestamp"].cast(pa.int64()).to_numpy()


def _reference_equal_weight(table: pa.Table) -> pd.Series:
    """Mean over symbols of each one's return since its own previous bar; 0 where none."""
    df = table.select(["symbol", "timestamp", "close"]).to_pandas()
    df["ret"] = df.groupby("symbol")["close"].pct_change()
    mean = df.groupby("timestamp")["ret"].mean().fillna(0.0)
    return (1.0 + mean).cumprod()


def _equal_weight(table: pa.Table) -> metrics.BenchmarkSeries:
    parts = []
    for batch in (SYMBOLS[:2], SYMBOLS[2:]):  # two batches, merged as the flow merges them
        part = table.filter(pa.compute.is_in(table["symbol"], pa.array(batch)))
        _, offsets = pipeline.segments(part)
        parts.append(metrics.return_sums(_us(part), part["close"].to_numpy(), offsets))
    return metrics.equal_weight_benchmark(parts)


def test_equal_weight_benchmark_is_the_mean_return_since_each_symbols_last_bar(universe):
    series = _equal_weight(universe)
    ref = _reference_equal_weight(universe)
    np.testing.assert_array_equal(series.timestamp_us, ref.index.as_unit("us").asi8)
    np.testing.assert_allclose(series.value, ref.to_numpy(), rtol=1e-12)
    assert series.value[0] == 1.0  # no symbol has a previous bar at the first date


def test_benchmark_at_repeats_its_last_value_and_is_nan_before_its_start():
    series = metrics.symbol_benchmark("X", np.array([10, 20, 30]), np.array([1.0, 2.0, 4.0]))
    got = series.at(np.array([5, 10, 15, 20, 35]))
    np.testing.assert_array_equal(got, [np.nan, 1.0, 1.0, 2.0, 4.0])


def _run(table: pa.Table, benchmark: metrics.BenchmarkSeries | None) -> pipeline.BatchResult:
    from flows.settings import BacktestConfig

    return pipeline.run_batch(
        table,
        run_id="r",
        indicator_requests=[],
        strategy_requests=[
            pipeline.StrategyRequest("zscore"),
            pipeline.StrategyRequest("momentum"),
        ],
        backtest_params={**BacktestConfig().model_dump(), "fees_bps": 5.0},
        annualization=252,
        risk_free=RF,
        benchmark=benchmark,
    )


def _expected(r: np.ndarray, f: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alpha, beta = empyrical.alpha_beta(r, f, risk_free=RF, annualization=252)
        active = r - f
        return {
            "alpha": alpha,
            "beta": beta,
            # empyrical-reloaded has no public tracking error: excess_sharpe's denominator
            "tracking_error": _zero_dispersion_std(active, nanstd(active, ddof=1)),
            "excess_sharpe": empyrical.excess_sharpe(r, f),
            "up_capture": empyrical.up_capture(r, f),
            "down_capture": empyrical.down_capture(r, f),
        }


@pytest.mark.parametrize("which", ["equal_weight", "IBM", "FB"])
def test_every_sleeves_relative_metrics_equal_empyrical(universe, which):
    table = universe.sort_by([("symbol", "ascending"), ("timestamp", "ascending")])
    if which == "equal_weight":
        series = _equal_weight(universe)
    else:
        one = table.filter(pa.compute.equal(table["symbol"], which))
        series = metrics.symbol_benchmark(which, _us(one), one["close"].to_numpy())
    result = _run(table, series)
    got = result.metrics.to_pandas()
    eq = result.equity
    equity = pd.DataFrame(
        {
            "symbol": eq["symbol"].cast(pa.string()).to_numpy(zero_copy_only=False),
            "strategy": eq["strategy"].to_numpy(zero_copy_only=False),
            "us": eq["timestamp"].cast(pa.int64()).to_numpy(),
            "equity": eq["equity"].to_numpy(),
        }
    )
    assert len(got) == 2 * len(SYMBOLS)
    assert set(got["benchmark"]) == {which}
    checked = 0
    for row in got.itertuples():
        sleeve = equity[(equity["symbol"] == row.symbol) & (equity["strategy"] == row.strategy)]
        e = sleeve["equity"].to_numpy()
        b = series.at(sleeve["us"].to_numpy())
        r, f = e[1:] / e[:-1] - 1, b[1:] / b[:-1] - 1
        for name, want in _expected(r, f).items():
            have = getattr(row, name)
            label = f"{which}: {row.symbol}/{row.strategy} {name} = {have!r}, empyrical {want!r}"
            if np.isnan(want):
                assert np.isnan(have), label
            else:
                assert abs(have - want) <= RTOL * abs(want), label
                checked += 1
    assert checked >= 8 * len(SYMBOLS)  # finite values, not NaN = NaN


def test_without_a_benchmark_the_columns_are_null(universe):
    table = universe.sort_by([("symbol", "ascending"), ("timestamp", "ascending")])
    got = _run(table.slice(0, 3000), None).metrics
    for name in ("benchmark", *metrics.RELATIVE_METRICS):
        assert got[name].null_count == got.num_rows > 0, name


def test_a_benchmark_outside_the_universe_is_a_config_error():
    from compute.errors import ConfigError
    from flows.benchmark import attach_benchmark
    from flows.settings import OutputConfig
    from flows.tasks import BatchJob

    job = BatchJob(
        run_id="r", batch=0, symbols=("A", "B"), input_path="x", input_options={},
        output=OutputConfig(), start=None, end=None, min_bars=1, indicators=(),
        strategies=(), backtest={}, annualization=252, risk_free=0.0,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"'metrics.benchmark' = 'SPY' is not a symbol .*2 sym"):
        attach_benchmark(None, "SPY", [job])
