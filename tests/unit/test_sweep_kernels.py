"""Sweep kernels: every metric row equals the nightly pipeline's metrics for that parameter set.

For each sweepable strategy, a random sample of combinations (strategy parameters and the
sweepable backtest settings) is run through ``compute.pipeline.run_batch`` one at a time
and compared with the rows of one ``evaluate_chunk`` call: exactly, NaN for NaN.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from compute import pipeline, strategies
from compute.sweep import METRIC_NAMES, evaluate_chunk, parse_space, supported
from compute.sweep.evaluate import series_count
from tests.datasets import constant, real_daily, synthetic_rough

FIELDS = ("open", "high", "low", "close", "volume")
BASE = {"fees_bps": 5.0, "slippage_bps": 2.0, "init_cash": 10_000.0}


def _batch():
    parts = {
        "aapl": {f: v[-900:] for f, v in real_daily("AAPL").items()},
        "rough": {f: v[550:1300] for f, v in synthetic_rough(1300, seed=3).items()},
        "flat": constant(150),
        "short": {f: v[:25] for f, v in real_daily("IBM").items()},
    }
    lens = [len(p["close"]) for p in parts.values()]
    arrays = {f: np.concatenate([p[f] for p in parts.values()]) for f in FIELDS}
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    # timestamps are the global bar index, so a drawdown's bar maps back to its index
    ts = np.arange(offsets[-1]).astype("datetime64[s]")
    table = pa.table({"symbol": np.repeat(list(parts), lens), "timestamp": ts, **arrays})
    return arrays, offsets, table


ARRAYS, OFFSETS, TABLE = _batch()

SPACES = {
    "ma_crossover": {
        "params": {
            "short_window": {"start": 2, "stop": 30, "step": 4},
            "long_window": [10, 40, 90],
        },
        "constraints": ["short_window < long_window"],
    },
    "zscore": {"params": {"window": [5, 20, 60], "threshold": [0.5, 1.0, 2.0]}},
    "momentum": {
        "params": {
            "momentum_period": [3, 10],
            "rsi_period": [7, 14],
            "macd_fast": [5, 12],
            "macd_slow": [20, 35],
            "rsi_lower": [30.0, 45.0],
        }
    },
    "bollinger": {
        "params": {
            "timeperiod": [10, 20],
            "nbdevup": [1.0, 2.0],
            "lower": [0.0, 0.2],
            "upper": [0.8, 1.0],
        }
    },
}
BT_AXES = {
    "stop_loss": [None, 0.03],
    "take_profit": [None, 0.08],
    "fraction": [0.5, 1.0],
    "direction": ["long_only", "long_short"],
}


def _nightly(name, params, bt):
    res = pipeline.run_batch(
        TABLE,
        run_id="r",
        indicator_requests=[],
        strategy_requests=[pipeline.StrategyRequest(name, params)],
        backtest_params={**BASE, **bt},
        annualization=252,
        with_equity=False,
        with_indicators=False,
    )
    return res.metrics


def test_every_strategy_is_sweepable():
    assert supported() == strategies.names()


@pytest.mark.parametrize("name", sorted(SPACES))
def test_rows_equal_nightly_metrics_exactly(name):
    space = parse_space({"name": name, **SPACES[name], "backtest": BT_AXES}, base=BASE)
    combos = space.chunk(0, space.n_candidates)
    rows = evaluate_chunk(ARRAYS, OFFSETS, combos, backtest_params=BASE)
    assert rows.shape == (len(combos), 1, len(OFFSETS) - 1, len(METRIC_NAMES))
    rng = np.random.default_rng(sum(map(ord, name)))
    sample = rng.choice(len(combos), size=6, replace=False)
    traded = 0
    for i in sample:
        params, bt = combos.row(int(i))
        met = _nightly(name, params, bt)
        assert met.column("symbol").to_pylist() == ["aapl", "rough", "flat", "short"]
        for j, col in enumerate(METRIC_NAMES):
            want = met.column(col)
            if col.startswith("max_drawdown_"):
                # timestamps are global bar indices: back to local indices, -1 for none
                idx = want.cast(pa.int64()).fill_null(-1).to_numpy()
                want = np.where(idx >= 0, idx - OFFSETS[:-1], -1)
            got = rows[i, 0, :, j]
            assert np.array_equal(np.asarray(want, dtype=np.float64), got, equal_nan=True), (
                f"{name} combination {params} {bt}: {col} differs: nightly {want}, sweep {got}"
            )
        traded += int(met.column("n_trades").to_numpy().sum())
    assert traded > 0  # the sample really trades


def test_windows_equal_a_backtest_of_the_slice_with_the_full_target():
    """A window's row is the nightly backtest of that bar range, fed the target computed on
    the whole series (the indicators' warm-up comes from bars before the window)."""
    from compute import backtest, metrics

    space = parse_space({"name": "zscore", "params": {"window": [10], "threshold": [1.0]}})
    combos = space.chunk(0, 10)
    start = np.array([[100, 50, 0, 0], [400, 300, 20, 5]], dtype=np.int64)
    end = np.array([[400, 300, 150, 25], [900, 700, 150, 5]], dtype=np.int64)
    rows = evaluate_chunk(ARRAYS, OFFSETS, combos, backtest_params=BASE, windows=(start, end))
    target = strategies.compute_batch("zscore", ARRAYS, OFFSETS, window=10, threshold=1.0)
    for w in range(2):
        for s in range(4):
            a, b = OFFSETS[s] + start[w, s], OFFSETS[s] + end[w, s]
            if b <= a:
                assert np.isnan(rows[0, w, s]).all()
                continue
            sl = slice(a, b)
            sim = backtest.simulate(
                *(ARRAYS[f][sl] for f in ("open", "high", "low", "close")), target[sl], **BASE
            )
            met = metrics.metrics_batch(
                sim.equity,
                [0, b - a],
                {**sim.trades, "segment": np.zeros(len(sim.trades["side"]), np.int64)},
            )
            want = np.array([float(met[c][0]) for c in METRIC_NAMES])
            assert np.array_equal(want, rows[0, w, s], equal_nan=True), (w, s)


def test_each_distinct_window_is_computed_once():
    space = parse_space(
        {
            "name": "ma_crossover",
            "params": {
                "short_window": {"start": 1, "stop": 10},
                "long_window": {"start": 11, "stop": 20},
            },
        }
    )
    combos = space.chunk(0, 1000)
    assert len(combos) == 100
    assert series_count("ma_crossover", combos) == 20  # 10 short + 10 long averages, not 200

    mom = parse_space(
        {
            "name": "momentum",
            "params": {
                "rsi_lower": [20.0, 25.0, 30.0],
                "rsi_period": [7, 14],
                "macd_signal": [5, 9],
            },
        }
    )
    c = mom.chunk(0, 100)
    # 2 RSI lines + 2 MACD computations x (macd, macdsignal), shared by 12 combinations
    assert len(c) == 12
    assert series_count("momentum", c) == 2 + 2 * 2
