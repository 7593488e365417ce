"""Sweep spaces: parsing and validation errors, ranges, constraints, chunked enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from compute.errors import ConfigError
from compute.sweep import parse_space


def _ma(**extra):
    return {
        "name": "ma_crossover",
        "params": {
            "short_window": {"start": 5, "stop": 50, "step": 5},
            "long_window": [20, 60, 200],
        },
        "constraints": ["short_window < long_window"],
        **extra,
    }


def _all(space, size):
    chunks = list(space.chunks(size))
    ids = np.concatenate([c.ids for c in chunks])
    params = {k: np.concatenate([c.params[k] for c in chunks]) for k in chunks[0].params}
    return ids, params


def test_range_is_inclusive_and_grid_respects_constraint():
    space = parse_space(_ma())
    ids, p = _all(space, 1000)
    assert sorted(set(p["short_window"].tolist())) == list(range(5, 55, 5))
    assert np.all(p["short_window"] < p["long_window"])
    # 10 shorts x 3 longs, minus shorts >= 20 against long 20 (7 of them)
    assert len(ids) == space.count() == 30 - 7


def test_float_range_values_are_clean():
    space = parse_space(
        {"name": "zscore", "params": {"threshold": {"start": 0.1, "stop": 0.5, "step": 0.1}}}
    )
    _, p = _all(space, 100)
    assert p["threshold"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert set(p["window"].tolist()) == {20}  # not swept: the strategy's default


@pytest.mark.parametrize("size", [1, 4, 7, 64])
def test_chunks_partition_the_grid_in_one_order(size):
    space = parse_space(
        _ma(backtest={"stop_loss": [None, 0.05], "direction": ["long_only", "long_short"]})
    )
    ref_ids, ref = _all(space, 10_000)
    ids, p = _all(space, size)
    assert np.array_equal(ids, ref_ids)
    for k in ref:
        assert np.array_equal(p[k], ref[k])
    assert len(ids) == space.count(size=5)


def test_backtest_axes_become_columns():
    space = parse_space(
        _ma(
            backtest={
                "stop_loss": [None, 0.05],
                "fraction": {"start": 0.5, "stop": 1.0, "step": 0.5},
            }
        )
    )
    c = space.chunk(0, 10_000)
    assert set(np.unique(c.backtest["fraction"]).tolist()) == {0.5, 1.0}
    sl = c.backtest["stop_loss"]
    assert np.isnan(sl).sum() == len(c) // 2
    assert np.nanmax(sl) == 0.05
    params, bt = c.row(0)
    assert bt["stop_loss"] is None
    assert bt["direction"] == "long_only"
    assert set(params) == {"short_window", "long_window"}


def test_random_samples_are_deterministic_and_chunk_independent():
    entry = {
        "name": "momentum",
        "params": {
            "macd_fast": {"distribution": "int_uniform", "low": 2, "high": 40},
            "macd_slow": {"distribution": "int_uniform", "low": 10, "high": 60},
            "rsi_lower": {"distribution": "uniform", "low": 10.0, "high": 45.0},
            "momentum_weight": {"distribution": "log_uniform", "low": 0.01, "high": 1.0},
        },
        "samples": 2500,
        "seed": 11,
    }
    a_ids, a = _all(parse_space(entry), 2500)
    b_ids, b = _all(parse_space(entry), 333)
    assert np.array_equal(a_ids, np.arange(2500))
    assert np.array_equal(a_ids, b_ids)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # the strategy's own check (macd_fast < macd_slow) holds without being written down
    assert np.all(a["macd_fast"] < a["macd_slow"])
    assert a["rsi_lower"].min() >= 10.0
    assert a["rsi_lower"].max() < 45.0
    assert a["momentum_weight"].min() >= 0.01
    assert a["momentum_weight"].max() < 1.0
    assert len(np.unique(a["rsi_lower"])) > 2000  # really random, not a constant
    other = _all(parse_space({**entry, "seed": 12}), 2500)[1]
    assert not np.array_equal(a["rsi_lower"], other["rsi_lower"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_ma(params={"fast": [1, 2]}), "unknown parameter 'fast'"),
        (_ma(params={"short_window": []}), "sweep.strategies[0].params.short_window: empty space"),
        (
            _ma(params={"short_window": {"start": 9, "stop": 3}}),
            "empty space: stop (3) is below start (9)",
        ),
        (
            _ma(params={"short_window": [50, 60], "long_window": [20, 30]}),
            "empty space: 4 combination(s) of ma_crossover, none valid",
        ),
        (_ma(constraints=["short_window < slow"]), "unknown parameter 'slow'"),
        (_ma(constraints=["short_window <<< 3"]), "is not a constraint"),
        (_ma(params={"short_window": [0, 5]}), "'short_window' = 0 is out of range"),
        (_ma(backtest={"stop_loss": [0.05, 1.5]}), "backtest.stop_loss: backtest: stop_loss = 1.5"),
        (_ma(backtest={"direction": ["both"]}), "direction = 'both' is not valid"),
        (_ma(backtest={"fees_bps": [1, 2]}), "'fees_bps' cannot be swept"),
        (
            _ma(backtest={"direction": ["long_short"], "take_profit": [0.5, 2.0]}),
            "take_profit = 2.0 is out of range",
        ),
        (
            {
                "name": "zscore",
                "params": {"threshold": {"distribution": "uniform", "low": 1, "high": 3}},
            },
            "a distribution needs 'samples: N'",
        ),
        ({"name": "nope"}, "unknown strategy 'nope'"),
    ],
)
def test_bad_space_is_one_line_error_naming_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_space(entry)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
