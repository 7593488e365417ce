"""Strategies: target positions in {-1, 0, +1} per bar from prices and indicator outputs.

Every kernel returns NaN until all of its inputs are defined (the warm-up), then -1, 0 or
+1. Window means over past bars are taken relative to the window's last value
(``ref + sum(x - ref) / n``): identical to the plain mean up to rounding, and exactly equal
to the price on a flat stretch, so constant windows give a zero deviation and equal
averages instead of rounding noise (tests/unit/test_strategies.py, flat stretches of
``synthetic_rough``).
"""

import math

from numba import njit

# Decimal prices whose averages are equal (MSFT 2011: 29.239 over 5 and over 20 days) give
# binary means a few ulps apart; closer than this, relative, they are equal
# (tests/unit/test_strategies.py::test_matches_reference[ma_crossover-1]).
EQUAL_RTOL = 1e-12


@njit(cache=True)
def _band_nb(value, lower, upper):
    """+1 below ``lower``, -1 above ``upper``, 0 between (both bounds inclusive)."""
    if value < lower:
        return 1.0
    if value > upper:
        return -1.0
    return 0.0


@njit(cache=True)
def _sign_nb(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


@njit(cache=True)
def _past_mean_nb(x, i, window):
    """Mean of ``x[i - window:i]`` (the window before bar i), relative to ``x[i - 1]``."""
    ref = x[i - 1]
    total = 0.0
    for j in range(i - window, i):
        total += x[j] - ref
    return ref + total / window


@njit(cache=True)
def momentum_into_nb(
    close,
    rsi,
    macd,
    macdsignal,
    out,
    momentum_period,
    momentum_weight,
    rsi_lower,
    rsi_upper,
    rsi_weight,
    macd_weight,
):
    """The bot's momentum composite, signed.

    ``sign(w_m * (close / close.shift(p) - 1) * 100 + w_r * band(rsi) + w_d * (+1 if macd >
    macdsignal else -1))`` with ``band`` +1 below ``rsi_lower``, -1 above ``rsi_upper``.
    """
    n = close.shape[0]
    for i in range(momentum_period, n):
        if math.isnan(rsi[i]) or math.isnan(macd[i]) or math.isnan(macdsignal[i]):
            continue
        mom = (close[i] / close[i - momentum_period] - 1.0) * 100.0
        rsi_sig = _band_nb(rsi[i], rsi_lower, rsi_upper)
        macd_sig = 1.0 if macd[i] > macdsignal[i] else -1.0
        out[i] = _sign_nb(mom * momentum_weight + rsi_sig * rsi_weight + macd_sig * macd_weight)


@njit(cache=True)
def zscore_into_nb(close, out, window, threshold):
    """Mean reversion on the z-score of the close against the ``window`` bars before it.

    Mean and population std of ``close[i - window:i]``; z > threshold gives -1, z <
    -threshold +1, otherwise (and with a zero std) 0.
    """
    n = close.shape[0]
    for i in range(window, n):
        mean = _past_mean_nb(close, i, window)
        ss = 0.0
        for j in range(i - window, i):
            d = close[j] - mean
            ss += d * d
        if ss == 0.0:
            out[i] = 0.0
            continue
        z = (close[i] - mean) / math.sqrt(ss / window)
        out[i] = _band_nb(z, -threshold, threshold)


@njit(cache=True)
def ma_crossover_into_nb(close, out, short_window, long_window):
    """``sign(mean(close[i-short:i]) - mean(close[i-long:i]))``: the bars before bar i.

    Averages within ``EQUAL_RTOL`` of each other count as equal (0).
    """
    n = close.shape[0]
    for i in range(long_window, n):
        short_ma = _past_mean_nb(close, i, short_window)
        long_ma = _past_mean_nb(close, i, long_window)
        diff = short_ma - long_ma
        out[i] = 0.0 if abs(diff) <= EQUAL_RTOL * abs(long_ma) else _sign_nb(diff)


@njit(cache=True)
def bollinger_into_nb(close, upperband, lowerband, out, lower, upper):
    """Band position ``(close - lowerband) / (upperband - lowerband)``: +1 below ``lower``,
    -1 above ``upper``, else 0; 0 when the bands coincide."""
    for i in range(close.shape[0]):
        hi = upperband[i]
        lo = lowerband[i]
        if math.isnan(hi) or math.isnan(lo):
            continue
        width = hi - lo
        out[i] = 0.0 if width == 0.0 else _band_nb((close[i] - lo) / width, lower, upper)
