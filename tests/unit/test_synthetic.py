"""Synthetic bars: valid OHLC, deterministic per (seed, index), visible volatility regimes."""

from __future__ import annotations

import numpy as np
import pytest

from compute.errors import ParameterError
from compute.synthetic import FREQUENCIES, generate_symbol, symbol_names, timestamps

FIELDS = ("open", "high", "low", "close", "volume")


@pytest.mark.parametrize("freq", sorted(FREQUENCIES))
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_ohlc_relationships_hold(freq: str, seed: int) -> None:
    bars = generate_symbol(5000, seed, freq=freq, index=seed % 7)
    for name in FIELDS:
        assert bars[name].dtype == np.float64
        assert np.all(np.isfinite(bars[name])), name
        assert np.all(bars[name] > 0), name
    assert np.all(bars["high"] >= np.maximum(bars["open"], bars["close"]))
    assert np.all(bars["low"] <= np.minimum(bars["open"], bars["close"]))
    assert np.array_equal(bars["volume"], np.round(bars["volume"]))


def test_every_array_has_n_bars() -> None:
    bars = generate_symbol(123, 3)
    assert {len(v) for v in bars.values()} == {123}
    assert bars["timestamp"].dtype == np.int64
    assert all(len(v) == 0 for v in generate_symbol(0, 3).values())


def test_deterministic_for_seed_and_index() -> None:
    a = generate_symbol(1000, 7, index=3)
    b = generate_symbol(1000, 7, index=3)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["close"], generate_symbol(1000, 7, index=4)["close"])
    assert not np.array_equal(a["close"], generate_symbol(1000, 8, index=3)["close"])


def test_start_price_is_the_close_before_the_first_bar() -> None:
    bars = generate_symbol(10, 0, start_price=100.0)
    # The first open is the start price moved by a small overnight gap only.
    assert abs(np.log(bars["open"][0] / 100.0)) < 0.05


def test_volatility_regimes_are_visible() -> None:
    bars = generate_symbol(20_000, 11)
    returns = np.diff(np.log(bars["close"]))
    regime = bars["regime"][1:]
    assert 0.05 < regime.mean() < 0.5, "both regimes should occur"
    ratio = returns[regime == 1].std() / returns[regime == 0].std()
    assert ratio > 2.0
    # Without the labels: 20-bar rolling volatility is bimodal, not nearly constant.
    window = np.lib.stride_tricks.sliding_window_view(returns, 20).std(axis=1)
    assert np.percentile(window, 95) / np.percentile(window, 25) > 2.0


def test_volume_rises_with_absolute_return() -> None:
    bars = generate_symbol(20_000, 5)
    returns = np.abs(np.diff(np.log(bars["close"])))
    assert np.corrcoef(returns, np.log(bars["volume"][1:]))[0, 1] > 0.3


def test_daily_bars_fall_on_weekdays() -> None:
    ts = timestamps(30, "1d", "2024-01-06")  # a Saturday: the first bar is Monday
    days = ts.astype("datetime64[us]").astype("datetime64[D]")
    assert days[0] == np.datetime64("2024-01-08")
    assert np.all(np.is_busday(days))
    assert np.all(np.diff(ts) > 0)


@pytest.mark.parametrize(("freq", "step"), [("1h", 3_600_000_000), ("1min", 60_000_000)])
def test_intraday_bars_are_evenly_spaced_around_the_clock(freq: str, step: int) -> None:
    ts = timestamps(5000, freq, "2024-01-06")
    assert np.all(np.diff(ts) == step)
    assert ts[0] == np.datetime64("2024-01-06", "us").astype(np.int64)


def test_symbol_names_are_distinct_and_sortable() -> None:
    names = symbol_names(10_500)
    assert names[:2] == ["SYN00000", "SYN00001"]
    assert len(set(names)) == len(names)
    assert names == sorted(names)
    assert symbol_names(3) == ["SYN0000", "SYN0001", "SYN0002"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freq": "5m"}, "choose one of: 1d, 1h, 1min"),
        ({"n_bars": -1}, "n_bars must be >= 0"),
        ({"start_price": 0.0}, "start_price must be a positive number"),
    ],
)
def test_bad_arguments_raise_with_the_value(kwargs: dict, message: str) -> None:
    args = {"n_bars": 10, "seed": 0, **kwargs}
    with pytest.raises(ParameterError, match=message):
        generate_symbol(**args)
