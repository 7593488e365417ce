"""Overlap studies: moving averages and bands (TA-Lib group "Overlap Studies")."""

import numpy as np
from numba import njit

from compute.kernels.common import (
    directional_move_nb,
    ema_into_nb,
    fma_nb,
    is_zero_nb,
    sma_into_nb,
    true_range_nb,
    var_into_nb,
    window_max_nb,
    window_min_nb,
)
from compute.kernels.ma import ma_into_nb, ma_lookback_nb


@njit(cache=True)
def bbands_into_nb(x, upper, middle, lower, period, nbdevup, nbdevdn, matype):
    """Write TA-Lib BBANDS: an MA of ``matype`` +/- nbdev population standard deviations.

    The deviation is always STDDEV(x, period) (TA-Lib >= 0.7 dropped the SMA-specific
    formula), and the bands start where both the MA and the deviation have a value.
    """
    n = x.shape[0]
    ma_into_nb(x, middle, period, matype)
    var = np.empty(n)
    var_into_nb(x, var, period)
    for i in range(n):
        if i < period - 1 or np.isnan(middle[i]):
            middle[i] = np.nan
            continue
        std = np.sqrt(var[i])
        upper[i] = middle[i] + std * nbdevup
        lower[i] = middle[i] - std * nbdevdn


# --- MA-typed wrappers over ``ma_into_nb`` (MA, TRIMA, KAMA, T3) and MAVP -----------------


@njit(cache=True)
def mavp_period_nb(value, minperiod, maxperiod):
    """TA-Lib MAVP's period for one bar: ``value`` truncated and clamped to [minperiod,
    maxperiod]; NaN takes ``minperiod``, and so does -inf, while +inf and values beyond the
    int range take ``maxperiod`` (what TA-Lib 0.8's binary does)."""
    if not value >= minperiod:  # NaN too
        return minperiod
    if value > maxperiod:
        return maxperiod
    return int(value)


@njit(cache=True)
def mavp_into_nb(x, periods, out, minperiod, maxperiod, matype):
    """Write TA-Lib MAVP, an MA of ``matype`` whose period varies bar by bar, into ``out``.

    As in TA-Lib, every bar's MA is the one TA_MA returns when asked to start at the lookback
    of ``maxperiod``: a recursive MA (EMA, DEMA, TEMA, KAMA, T3, MAMA) of a shorter period is
    seeded only as many bars before that start as its own lookback, not at the first bar.
    Each distinct period is computed once over the whole segment.
    """
    n = x.shape[0]
    start = ma_lookback_nb(maxperiod, matype)
    if n <= start:
        return
    todo = np.empty(n - start, dtype=np.int64)
    for i in range(start, n):
        todo[i - start] = mavp_period_nb(periods[i], minperiod, maxperiod)
    tmp = np.empty(n)
    for i in range(n - start):
        p = todo[i]
        if p == 0:
            continue
        first = start - ma_lookback_nb(p, matype)
        ma_into_nb(x[first:], tmp[first:], p, matype)
        for j in range(i, n - start):
            if todo[j] == p:
                todo[j] = 0
                out[start + j] = tmp[start + j]


# --- rolling extremes: MIDPOINT, MIDPRICE, DONCHIAN ----------------------------------------


@njit(cache=True)
def max_min_into_nb(hi_src, lo_src, upper, lower, period):
    """Write the rolling max of ``hi_src`` and min of ``lo_src`` over ``period`` bars.

    The window's extremes are kept with their index and rescanned only when one falls out
    of the window (TA-Lib's MAX/MIN/MIDPRICE scheme); the values equal a full rescan.
    """
    hi_idx, hi = -1, 0.0
    lo_idx, lo = -1, 0.0
    for i in range(period - 1, hi_src.shape[0]):
        if hi_idx <= i - period:
            hi_idx, hi = window_max_nb(hi_src, i - period + 1, i)
        elif hi_src[i] >= hi:
            hi_idx, hi = i, hi_src[i]
        if lo_idx <= i - period:
            lo_idx, lo = window_min_nb(lo_src, i - period + 1, i)
        elif lo_src[i] <= lo:
            lo_idx, lo = i, lo_src[i]
        upper[i] = hi
        lower[i] = lo


@njit(cache=True)
def donchian_into_nb(high, low, upper, middle, lower, period):
    """numba equivalent of ``talib.DONCHIAN``: highest high, the midpoint, lowest low over the
    last ``period`` bars (the current bar included)."""
    max_min_into_nb(high, low, upper, lower, period)
    for i in range(period - 1, high.shape[0]):
        middle[i] = (upper[i] + lower[i]) / 2.0


@njit(cache=True)
def midprice_into_nb(high, low, out, upper, lower, period):
    """numba equivalent of ``talib.MIDPRICE``: (highest high + lowest low) / 2 over the last
    ``period`` bars; ``upper``/``lower`` are scratch."""
    donchian_into_nb(high, low, upper, out, lower, period)


@njit(cache=True)
def midpoint_into_nb(x, out, upper, lower, period):
    """numba equivalent of ``talib.MIDPOINT``: (max + min) / 2 of the last ``period`` values."""
    donchian_into_nb(x, x, upper, out, lower, period)


# --- bands: ACCBANDS, KC ------------------------------------------------------------------


@njit(cache=True)
def accbands_into_nb(high, low, close, upper, middle, lower, period):
    """Write TA-Lib ACCBANDS (Headley's acceleration bands) into the three outputs.

    upper = SMA(high * (1 + 4 (high - low) / (high + low))), lower likewise with low and
    1 - ..., middle = SMA(close); a bar whose high + low is zero (within 1e-14) enters the
    bands with its plain high and low.
    """
    n = close.shape[0]
    if n < period:
        return
    up = np.empty(n)
    dn = np.empty(n)
    for i in range(n):
        total = high[i] + low[i]
        if is_zero_nb(total):
            up[i] = high[i]
            dn[i] = low[i]
        else:
            ratio = 4 * (high[i] - low[i]) / total
            up[i] = high[i] * (1 + ratio)
            dn[i] = low[i] * (1 - ratio)
    sma_into_nb(close, middle, period)
    sma_into_nb(up, upper, period)
    sma_into_nb(dn, lower, period)


@njit(cache=True)
def kc_into_nb(high, low, close, upper, middle, lower, period, atr_period, nbdev):
    """Write TA-Lib KC (Keltner channels): EMA of the typical price +/- nbdev ATR.

    The bands start where both legs have a value, and TA-Lib enters each leg there at its
    own lookback: the shorter one is seeded with the bars just before the first band, not
    with the first bars (when atrperiod >= timeperiod the centre line is not the EMA of the
    whole series; otherwise the ATR is not ``talib.ATR``'s). The ATR is Wilder's RMA of the
    true range, TA-Lib 0.8's ``fma`` step included.
    """
    n = close.shape[0]
    ema_lb = period - 1
    atr_lb = atr_period if atr_period > 1 else 1
    lb = ema_lb if ema_lb > atr_lb else atr_lb
    if n <= lb:
        return
    typ = np.empty(n)
    for i in range(n):
        typ[i] = (high[i] + low[i] + close[i]) / 3.0
    atr = np.empty(n)
    for i in range(lb - atr_lb + 1, n):
        atr[i] = true_range_nb(high[i], low[i], close[i - 1])
    if atr_period > 1:
        rma_into_nb(atr[lb - atr_lb + 1 :], atr[lb - atr_lb + 1 :], atr_period)
    ema_into_nb(typ, middle, period, lb - ema_lb)
    for i in range(lb, n):
        band = atr[i] * nbdev
        upper[i] = middle[i] + band
        lower[i] = middle[i] - band


# --- moving averages outside TA-Lib's MA types: HMA, RMA, VWMA, ZLEMA --------------------


@njit(cache=True)
def hma_into_nb(x, out, period):
    """Write TA-Lib HMA, WMA(2 WMA(x, n // 2) - WMA(x, n), int(sqrt(n))), into ``out``.

    Composed of WMAs as TA-Lib 0.8 does, each started where its first value is needed (the
    half-period WMA n // 2 - 1 bars before bar n - 1, not at bar 0): WMA's re-anchored sums
    then round as TA-Lib's do and the output is its to the bit (a difference of WMAs
    magnifies any last-bit difference). Periods 2 and 3 give 2 x - WMA(x, n); period 1
    copies the input.
    """
    n = x.shape[0]
    if period == 1:
        out[:] = x
        return
    half = period // 2
    root = int(np.sqrt(period))
    if n <= period - 1 + root - 1:
        return
    full = np.empty(n)
    half_ma = np.empty(n)
    ma_into_nb(x, full, period, 2)
    ma_into_nb(x[period - half :], half_ma[period - half :], half, 2)
    delagged = np.empty(n)
    for i in range(period - 1, n):
        delagged[i] = 2.0 * half_ma[i] - full[i]
    ma_into_nb(delagged[period - 1 :], out[period - 1 :], root, 2)


@njit(cache=True)
def rma_into_nb(x, out, period):
    """Write TA-Lib RMA (Wilder's moving average, alpha 1 / period) into ``out``.

    Seeded with the mean of the first ``period`` values; each step is TA-Lib 0.8's
    ``fma(beta, prev, alpha * x)`` with beta = (period - 1) / period and alpha = 1 - beta
    (which makes alpha + beta exactly 1). Period 1 copies the input.
    """
    n = x.shape[0]
    if n < period:
        return
    beta = (period - 1) / period
    alpha = 1.0 - beta
    total = 0.0
    for i in range(period):
        total += x[i]
    prev = total / period
    out[period - 1] = prev
    for i in range(period, n):
        prev = fma_nb(beta, prev, alpha * x[i])
        out[i] = prev


@njit(cache=True, error_model="numpy")
def vwma_into_nb(x, volume, out, period):
    """Write TA-Lib VWMA, sum(x * volume) / sum(volume) over ``period`` bars, into ``out``.

    Computed as SMA(x * volume) / SMA(volume), in TA-Lib's order, so the output is its to
    the bit; a window without volume gives NaN (0 / 0), as in TA-Lib. Period 1 copies ``x``.
    """
    n = x.shape[0]
    if period == 1:
        out[:] = x
        return
    if n < period:
        return
    sum_pv = 0.0
    sum_v = 0.0
    for i in range(period - 1):
        sum_pv += x[i] * volume[i]
        sum_v += volume[i]
    for i in range(period - 1, n):
        sum_pv += x[i] * volume[i]
        sum_v += volume[i]
        out[i] = sum_pv / period / (sum_v / period)
        j = i - period + 1
        sum_pv -= x[j] * volume[j]
        sum_v -= volume[j]


@njit(cache=True)
def zlema_into_nb(x, out, period):
    """Write TA-Lib ZLEMA, an EMA of the de-lagged 2 x[t] - x[t - lag] with lag =
    (period - 1) // 2, into ``out``; the EMA is seeded with the mean of its first ``period``
    de-lagged values, so the first output is at lag + period - 1. Period 1 copies ``x``.

    ``ema_into_nb`` over the de-lagged series, its values made on the fly: the old
    intermediate array of the input's length faulted in 8 MB of fresh pages on every call
    at 1 M bars (numba's allocations are not huge-page advised, numpy's are), the cause of
    the 2.6x gap to TA-Lib.
    """
    n = x.shape[0]
    if period == 1:
        out[:] = x
        return
    lag = (period - 1) // 2
    if n < lag + period:
        return
    first = lag + period - 1
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(lag, first + 1):
        total += 2.0 * x[i] - x[i - lag]
    prev = total / period
    out[first] = prev
    for i in range(first + 1, n):
        prev = fma_nb((2.0 * x[i] - x[i - lag]) - prev, k, prev)
        out[i] = prev


# --- trailing stops: SAR, SAREXT, SUPERTREND ----------------------------------------------


@njit(cache=True, inline="always")
def _at_least_nb(v, a, b):
    """``v`` raised to ``a`` and then to ``b``, compared in TA-Lib's order."""
    if v < a:
        v = a
    if v < b:
        v = b
    return v


@njit(cache=True, inline="always")
def _at_most_nb(v, a, b):
    """``v`` lowered to ``a`` and then to ``b``, compared in TA-Lib's order."""
    if v > a:
        v = a
    if v > b:
        v = b
    return v


@njit(cache=True)
def sarext_into_nb(
    high,
    low,
    out,
    start_value,
    offset_on_reverse,
    af_init_long,
    af_step_long,
    af_max_long,
    af_init_short,
    af_step_short,
    af_max_short,
    signed,
):
    """Write TA-Lib SAREXT (``signed``: short positions negative) or SAR into ``out``.

    TA-Lib's bootstrap: with ``start_value`` 0 the first position is short if the second
    bar's -DM is positive (the low fell further than the high rose), long otherwise, and the
    first bar's low (long) or high (short) is the first SAR; a positive start value starts
    long at that SAR, a negative one short at its absolute value. Accelerations above their
    maximum are lowered to it. On a reversal the SAR jumps to the extreme point, is kept
    outside the last two bars' range and moved by ``offset_on_reverse`` (a fraction of it)
    away from price. Each step is ``fma(af, ep - sar, sar)``, as TA-Lib 0.8's binary does.
    """
    n = high.shape[0]
    if n < 2:
        return
    if af_init_long > af_max_long:
        af_init_long = af_max_long
    if af_step_long > af_max_long:
        af_step_long = af_max_long
    if af_init_short > af_max_short:
        af_init_short = af_max_short
    if af_step_short > af_max_short:
        af_step_short = af_max_short
    af_long = af_init_long
    af_short = af_init_short
    if start_value == 0.0:
        _, minus_dm = directional_move_nb(high[1], high[0], low[1], low[0])
        is_long = not minus_dm > 0.0
        sar = low[0] if is_long else high[0]
    else:
        is_long = start_value > 0.0
        sar = abs(start_value)
    ep = high[1] if is_long else low[1]
    short_sign = -1.0 if signed else 1.0
    new_low = low[1]
    new_high = high[1]
    for i in range(1, n):
        prev_low = new_low
        prev_high = new_high
        new_low = low[i]
        new_high = high[i]
        if is_long:
            if new_low <= sar:
                is_long = False
                sar = _at_least_nb(ep, prev_high, new_high)
                if offset_on_reverse != 0.0:
                    sar += sar * offset_on_reverse
                out[i] = short_sign * sar
                af_short = af_init_short
                ep = new_low
                sar = _at_least_nb(fma_nb(af_short, ep - sar, sar), prev_high, new_high)
            else:
                out[i] = sar
                if new_high > ep:
                    ep = new_high
                    af_long += af_step_long
                    if af_long > af_max_long:
                        af_long = af_max_long
                sar = _at_most_nb(fma_nb(af_long, ep - sar, sar), prev_low, new_low)
        elif new_high >= sar:
            is_long = True
            sar = _at_most_nb(ep, prev_low, new_low)
            if offset_on_reverse != 0.0:
                sar -= sar * offset_on_reverse
            out[i] = sar
            af_long = af_init_long
            ep = new_high
            sar = _at_most_nb(fma_nb(af_long, ep - sar, sar), prev_low, new_low)
        else:
            out[i] = short_sign * sar
            if new_low < ep:
                ep = new_low
                af_short += af_step_short
                if af_short > af_max_short:
                    af_short = af_max_short
            sar = _at_least_nb(fma_nb(af_short, ep - sar, sar), prev_high, new_high)


@njit(cache=True)
def supertrend_into_nb(high, low, close, line, trend, period, multiplier):
    """Write TA-Lib SUPERTREND: the trailing band (``line``) and the trend (+1 up, -1 down).

    Bands are the median price +/- multiplier * ATR(period); each ratchets toward price and
    is reset only by a previous close beyond it. TA-Lib starts every series in an uptrend
    at bar ``period`` (on the lower band) whatever the prices do; the trend flips when the
    close crosses the band it follows. The ATR is TA-Lib 0.8's, step for step. ``trend`` is 0
    before the first value, like TA-Lib's integer output.
    """
    n = close.shape[0]
    if n <= period:
        return
    total = 0.0
    for i in range(1, period + 1):
        total += true_range_nb(high[i], low[i], close[i - 1])
    atr = total / period
    beta = (period - 1) / period  # Wilder's smoothing as ``rma_into_nb`` steps it
    alpha = 1.0 - beta
    band = multiplier * atr
    mid = (high[period] + low[period]) / 2.0
    final_upper = mid + band
    final_lower = mid - band
    up = True
    prev_close = close[period]
    line[period] = final_lower
    trend[period] = 1.0
    for i in range(period + 1, n):
        atr = fma_nb(beta, atr, alpha * true_range_nb(high[i], low[i], close[i - 1]))
        mid = (high[i] + low[i]) / 2.0
        band = multiplier * atr
        basic_upper = mid + band
        basic_lower = mid - band
        if basic_upper < final_upper or prev_close > final_upper:
            final_upper = basic_upper
        if basic_lower > final_lower or prev_close < final_lower:
            final_lower = basic_lower
        c = close[i]
        if up:
            if c < final_lower:
                up = False
        elif c > final_upper:
            up = True
        if up:
            line[i] = final_lower
            trend[i] = 1.0
        else:
            line[i] = final_upper
            trend[i] = -1.0
        prev_close = c


@njit(cache=True)
def sar_into_nb(high, low, out, acceleration, maximum):
    """numba equivalent of ``talib.SAR``: SAREXT with one acceleration for both sides."""
    sarext_into_nb(
        high,
        low,
        out,
        0.0,
        0.0,
        acceleration,
        acceleration,
        maximum,
        acceleration,
        acceleration,
        maximum,
        False,
    )
