"""Strategies against plain-Python / pandas references of their definitions.

Each registered strategy runs with its defaults and every parameter set it declares in
``examples`` on real daily stocks and synthetic edge shapes; targets must equal the
reference's exactly (NaN pattern included).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import talib

from compute import strategies
from compute.errors import ParameterError
from compute.kernels.strategies import EQUAL_RTOL
from tests.datasets import constant, real_daily, synthetic_rough


def _cases() -> dict[str, np.ndarray]:
    aapl = real_daily("AAPL")["close"]
    return {
        "real_aapl": aapl,
        "real_ibm": real_daily("IBM")["close"],
        "real_msft_tail": real_daily("MSFT")["close"][-900:],
        "synthetic_rough": synthetic_rough()["close"],
        "constant": constant(120)["close"],
        "short_30": aapl[:30],
        "one_bar": aapl[:1],
    }


CASES = _cases()


def _band(values: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.where(values < lower, 1.0, np.where(values > upper, -1.0, 0.0))


def momentum_reference(close, p) -> np.ndarray:
    """The bot's ``generate_momentum_signals`` with TA-Lib RSI/MACD, NaN until all defined."""
    s = pd.Series(close)
    price_momentum = ((s / s.shift(p["momentum_period"]) - 1) * 100).to_numpy()
    rsi = talib.RSI(close, timeperiod=p["rsi_period"])
    macd, macdsignal, _ = talib.MACD(
        close, fastperiod=p["macd_fast"], slowperiod=p["macd_slow"], signalperiod=p["macd_signal"]
    )
    rsi_signal = np.where(rsi > p["rsi_upper"], -1, np.where(rsi < p["rsi_lower"], 1, 0))
    macd_signal = np.where(macd > macdsignal, 1, -1)
    combined = (
        price_momentum * p["momentum_weight"]
        + rsi_signal * p["rsi_weight"]
        + macd_signal * p["macd_weight"]
    )
    out = np.sign(combined)
    out[np.isnan(price_momentum) | np.isnan(rsi) | np.isnan(macd) | np.isnan(macdsignal)] = np.nan
    return out


def zscore_reference(close, p) -> np.ndarray:
    """The bot's ``fast_mean_reversion_signal``, NaN before the first full window."""
    w, thr = p["window"], p["threshold"]
    out = np.full(close.shape[0], np.nan)
    for i in range(w, close.shape[0]):
        window = close[i - w : i]
        if window.max() == window.min():
            out[i] = 0.0
            continue
        z = (close[i] - window.mean()) / window.std()
        out[i] = -1.0 if z > thr else (1.0 if z < -thr else 0.0)
    return out


def ma_crossover_reference(close, p) -> np.ndarray:
    """Exact (rational) means of the windows before each bar, equal within 1e-12 relative."""
    s, lw = p["short_window"], p["long_window"]
    prefix = [Fraction(0)]
    for x in close:
        prefix.append(prefix[-1] + Fraction(float(x)))
    tol = Fraction(EQUAL_RTOL)
    out = np.full(close.shape[0], np.nan)
    for i in range(lw, close.shape[0]):
        short_ma = (prefix[i] - prefix[i - s]) / s
        long_ma = (prefix[i] - prefix[i - lw]) / lw
        diff = short_ma - long_ma
        out[i] = 0.0 if abs(diff) <= tol * abs(long_ma) else (1.0 if diff > 0 else -1.0)
    return out


def bollinger_reference(close, p) -> np.ndarray:
    """``bb_position`` of TA-Lib BBANDS, thresholded."""
    upper, _, lower = talib.BBANDS(
        close, timeperiod=p["timeperiod"], nbdevup=p["nbdevup"], nbdevdn=p["nbdevdn"], matype=0
    )
    width = upper - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        position = (close - lower) / width
    out = _band(position, p["lower"], p["upper"])
    out[width == 0] = 0.0
    out[np.isnan(width)] = np.nan
    return out


REFERENCES = {
    "momentum": momentum_reference,
    "zscore": zscore_reference,
    "ma_crossover": ma_crossover_reference,
    "bollinger": bollinger_reference,
}


def _param_sets():
    for name in strategies.names():
        for i, params in enumerate([{}, *strategies.spec(name).examples]):
            yield pytest.param(name, dict(params), id=f"{name}-{i}")


def test_every_strategy_has_a_reference():
    assert sorted(REFERENCES) == strategies.names()


@pytest.mark.parametrize(("name", "params"), list(_param_sets()))
def test_matches_reference(name, params):
    full = strategies.spec(name).resolve(params)
    for case, close in CASES.items():
        got = strategies.compute(name, {"close": close}, **params)
        expected = REFERENCES[name](close, full)
        assert got.dtype == np.float64
        same = (got == expected) | (np.isnan(got) & np.isnan(expected))
        if not same.all():
            i = int(np.argmin(same))
            pytest.fail(f"{name} {params} on {case}: index {i}: ours {got[i]}, ref {expected[i]}")


@pytest.mark.parametrize(("name", "params"), list(_param_sets()))
def test_first_target_at_lookback(name, params):
    close = CASES["real_aapl"]
    lb = strategies.lookback(name, **params)
    got = strategies.compute(name, {"close": close}, **params)
    assert np.isnan(got[:lb]).all(), f"{name} {params}: a target before lookback {lb}"
    assert not np.isnan(got[lb:]).any(), f"{name} {params}: NaN at or after lookback {lb}"
    assert set(np.unique(got[lb:])) <= {-1.0, 0.0, 1.0}
    short = strategies.compute(name, {"close": close[:lb]}, **params)
    assert np.isnan(short).all()


@pytest.mark.parametrize("name", strategies.names())
def test_batch_equals_per_symbol(name):
    parts = [
        CASES["real_aapl"][:700],
        np.array([], dtype=np.float64),
        CASES["real_ibm"][-400:],
        CASES["short_30"][:10],
        CASES["synthetic_rough"],
        CASES["one_bar"],
    ]
    offsets = np.concatenate([[0], np.cumsum([p.shape[0] for p in parts])])
    batch = strategies.compute_batch(name, {"close": np.concatenate(parts)}, offsets)
    for i, part in enumerate(parts):
        single = strategies.compute(name, {"close": part})
        np.testing.assert_array_equal(batch[offsets[i] : offsets[i + 1]], single, err_msg=str(i))


@pytest.mark.parametrize("name", strategies.names())
def test_future_bars_never_change_earlier_targets(name):
    close = CASES["real_ibm"][:500]
    full = strategies.compute(name, {"close": close})
    for cut in (0, 1, 30, 34, 250):
        head = strategies.compute(name, {"close": close[:cut]})
        np.testing.assert_array_equal(full[:cut], head, err_msg=f"cut {cut}")


def test_zscore_by_hand():
    close = np.array([10.0, 11, 10, 11, 14, 10.5, 8])
    got = strategies.compute("zscore", {"close": close}, window=4, threshold=1.5)
    # bar 4: window 10,11,10,11 (mean 10.5, std 0.5): z = 7 -> -1; bar 5: window 11,10,11,14
    # (mean 11.5, std 1.5): z = -2/3 -> 0; bar 6: window 10,11,14,10.5: z < -1.5 -> +1
    np.testing.assert_array_equal(got, [np.nan] * 4 + [-1.0, 0.0, 1.0])


def test_zscore_flat_window_gives_zero():
    close = np.array([5.0, 5, 5, 9])
    got = strategies.compute("zscore", {"close": close}, window=3)
    np.testing.assert_array_equal(got, [np.nan, np.nan, np.nan, 0.0])


def test_ma_crossover_by_hand_excludes_the_current_bar():
    close = np.array([1.0, 2, 3, 4, 100, 1, 1, 1, 1])
    got = strategies.compute("ma_crossover", {"close": close}, short_window=2, long_window=4)
    # bar 4 sees 1,2,3,4 (short 3.5 > long 2.5); bar 6 sees 3,4,100,1 (50.5 > 27);
    # bar 7 sees 4,100,1,1 (1 < 26.5): the 100 of bar 4 counts from bar 5 on
    np.testing.assert_array_equal(got, [np.nan] * 4 + [1.0, 1.0, 1.0, -1.0, -1.0])
    flat = strategies.compute("ma_crossover", {"close": np.full(40, 0.1)})
    np.testing.assert_array_equal(flat[26:], 0.0)


def test_bollinger_thresholds_are_band_positions():
    close = CASES["real_aapl"][:300]
    upper, _, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    position = (close - lower) / (upper - lower)
    got = strategies.compute("bollinger", {"close": close}, lower=0.25, upper=0.75)
    ok = ~np.isnan(position)
    np.testing.assert_array_equal(got[ok] == 1.0, position[ok] < 0.25)
    np.testing.assert_array_equal(got[ok] == -1.0, position[ok] > 0.75)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("zscore", {"window": 1}, r"zscore: parameter 'window' = 1 is out of range; valid range"),
        ("zscore", {"lookback": 3}, r"zscore: unknown parameter 'lookback'; valid parameters"),
        ("ma_crossover", {"short_window": 30}, r"short_window \(30\) must be less than long_"),
        ("momentum", {"rsi_lower": 80.0}, r"rsi_lower \(80.0\) must be less than rsi_upper"),
        ("bollinger", {"nbdevup": -1.0}, r"bollinger: parameter 'nbdevup' = -1.0 is out of range"),
        ("macross", {}, r"unknown strategy 'macross'; available: bollinger, ma_crossover"),
    ],
)
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(ParameterError, match=message):
        strategies.compute(name, {"close": CASES["short_30"]}, **params)


def test_bad_inputs_are_refused():
    with pytest.raises(ParameterError, match=r"zscore: missing input 'close'"):
        strategies.compute("zscore", {"open": CASES["short_30"]})
    with pytest.raises(ParameterError, match="offsets must be 1-D, start at 0 and end at"):
        strategies.compute_batch("zscore", {"close": CASES["short_30"]}, [0, 10])


def test_spec_declares_indicators():
    assert set(strategies.spec("momentum").indicators(strategies.spec("momentum").resolve({}))) == {
        "rsi",
        "macd",
    }
    assert list(
        strategies.spec("bollinger").indicators({"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0})
    ) == ["bbands"]
