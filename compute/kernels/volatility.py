"""Volatility indicators (TA-Lib group "Volatility Indicators")."""

from numba import njit

from compute.kernels.common import is_zero_nb, nan_like_nb, true_range_nb, wilder_avg_step_nb


@njit(cache=True)
def trange_into_nb(high, low, close, out):
    """Write TA-Lib TRANGE into ``out``: the true range from the second bar on."""
    for i in range(1, high.shape[0]):
        out[i] = true_range_nb(high[i], low[i], close[i - 1])


@njit(cache=True)
def atr_into_nb(high, low, close, out, period):
    """Write TA-Lib ATR into ``out``: Wilder's average of the true range, seeded with the mean
    of the first ``period`` true ranges (bars 1..period); period 1 is TRANGE."""
    n = high.shape[0]
    if period == 1:
        trange_into_nb(high, low, close, out)
        return
    if n <= period:
        return
    total = 0.0
    for i in range(1, period + 1):
        total += true_range_nb(high[i], low[i], close[i - 1])
    prev = total / period
    out[period] = prev
    inv = 1.0 / period
    for i in range(period + 1, n):
        prev = wilder_avg_step_nb(
            prev, true_range_nb(high[i], low[i], close[i - 1]), period - 1, inv
        )
        out[i] = prev


@njit(cache=True)
def trange_seg_nb(high, low, close, offsets):
    """numba equivalent of ``talib.TRANGE`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        trange_into_nb(high[a:b], low[a:b], close[a:b], out[a:b])
    return (out,)


@njit(cache=True)
def atr_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.ATR`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        atr_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def natr_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.NATR`` applied to each segment: 100 * ATR / close.

    As in TA-Lib, period 1 returns the plain true range (not normalised), and a close of
    zero gives 0.
    """
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        atr_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod)
        if timeperiod > 1:
            for i in range(a + timeperiod, b):
                c = close[i]
                out[i] = 0.0 if is_zero_nb(c) else (out[i] / c) * 100.0
    return (out,)
