"""Volatility indicators (TA-Lib group "Volatility Indicators")."""

import numpy as np
from numba import njit

from compute.kernels.common import centred_var_nb, fma_nb, is_zero_nb, true_range_nb


@njit(cache=True)
def trange_into_nb(high, low, close, out):
    """Write TA-Lib TRANGE into ``out``: the true range from the second bar on.

    Over slices indexed from 0, so the loop vectorizes (``close[i - 1]`` carried numba's
    negative-index wrap-around check).
    """
    m = high.shape[0] - 1
    if m <= 0:
        return
    h = high[1:]
    lo = low[1:]
    prev = close[:m]
    dst = out[1:]
    for j in range(m):
        dst[j] = true_range_nb(h[j], lo[j], prev[j])


@njit(cache=True)
def atr_into_nb(high, low, close, out, period):
    """Write TA-Lib ATR into ``out``: Wilder's average of the true range, seeded with the mean
    of the first ``period`` true ranges (bars 1..period); period 1 is TRANGE.

    Each step is TA-Lib 0.8's ``fma(b, prev, k * tr)`` with ``smma_into_nb``'s weights,
    which equals ``talib.ATR`` to the bit on every parity case (the former
    ``(prev * (n - 1) + tr) / n`` differed in the last bits). It also puts one fused
    multiply-add on the loop-carried chain instead of a multiply, an add and a multiply:
    the cause of the 2.4x gap to TA-Lib.
    """
    _atr_into_nb(high, low, close, out, period, False)


@njit(cache=True)
def natr_into_nb(high, low, close, out, timeperiod):
    """numba equivalent of ``talib.NATR``: 100 * ATR / close.

    As in TA-Lib, period 1 returns the plain true range (not normalised), and a close of
    zero gives 0.
    """
    _atr_into_nb(high, low, close, out, timeperiod, True)


@njit(cache=True, error_model="numpy")
def _atr_into_nb(high, low, close, out, period, normalise):
    """ATR's loop, each value divided by its close as it is made if ``normalise`` (NATR, in
    one pass instead of two; numpy's error model: the division is guarded)."""
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
    k = 1.0 - (period - 1.0) / period
    b = 1.0 - k
    for i in range(period, n):
        if i > period:
            prev = fma_nb(b, prev, k * true_range_nb(high[i], low[i], close[i - 1]))
        c = close[i]
        if not normalise:
            out[i] = prev
        else:
            out[i] = 0.0 if is_zero_nb(c) else (prev / c) * 100.0


@njit(cache=True)
def adr_into_nb(high, low, out, timeperiod):
    """numba equivalent of ``talib.ADR``: the SMA of high - low.

    TA-Lib sums the ranges (not SMA(high) - SMA(low)) with SMA's running-sum order and divides
    by the period, which this repeats.
    """
    n = high.shape[0]
    if n < timeperiod:
        return
    total = 0.0
    for i in range(timeperiod - 1):
        total += high[i] - low[i]
    for i in range(timeperiod - 1, n):
        total += high[i] - low[i]
        out[i] = total / timeperiod
        j = i - timeperiod + 1
        total -= high[j] - low[j]


@njit(cache=True)
def cvi_into_nb(high, low, out, period, roc_period):
    """Write TA-Lib CVI into ``out``: Chaikin volatility, the ``roc_period``-bar rate of change
    (in %) of an EMA of high - low seeded with the mean of its first ``period`` ranges; 0 where
    the earlier EMA is exactly 0. The EMA step is TA-Lib 0.8's ``fma(x - prev, k, prev)``."""
    n = high.shape[0]
    first = period - 1
    if n <= first + roc_period:
        return
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(period):
        total += high[i] - low[i]
    ema = total / period
    out[first] = ema
    for i in range(period, n):
        ema = fma_nb((high[i] - low[i]) - ema, k, ema)
        out[i] = ema
    # out holds the EMA; turn it into its rate of change from the end, in place
    for i in range(n - 1, first + roc_period - 1, -1):
        lagged = out[i - roc_period]
        out[i] = 100.0 * ((out[i] - lagged) / lagged) if lagged != 0.0 else 0.0
    for i in range(first, first + roc_period):
        out[i] = np.nan


@njit(cache=True)
def massi_into_nb(high, low, out, fast, slow):
    """Write TA-Lib MASSI into ``out``: the Mass Index, the ``slow``-bar sum of
    EMA(high - low) / EMA(EMA(high - low)), both EMAs of period ``fast`` seeded with the mean
    of their first ``fast`` inputs (steps ``fma(x - prev, k, prev)``, as TA-Lib 0.8); a ratio
    whose denominator is exactly 0 counts as 1."""
    n = high.shape[0]
    lb_ema = fast - 1
    lb_ratio = 2 * lb_ema
    lb = lb_ratio + slow - 1
    if n <= lb:
        return
    k = 2.0 / (fast + 1)
    ring = np.empty(slow, dtype=np.float64)
    pos = 0
    sum1 = 0.0
    sum2 = 0.0
    ema1 = 0.0
    ema2 = 0.0
    total = 0.0
    for t in range(n):
        hl = high[t] - low[t]
        if t < fast:
            sum1 += hl
            if t == fast - 1:
                ema1 = sum1 / fast
        else:
            ema1 = fma_nb(hl - ema1, k, ema1)
        if t >= lb_ema:
            t2 = t - lb_ema
            if t2 < fast:
                sum2 += ema1
                if t2 == fast - 1:
                    ema2 = sum2 / fast
            else:
                ema2 = fma_nb(ema1 - ema2, k, ema2)
        if t >= lb_ratio:
            ratio = 1.0 if ema2 == 0.0 else ema1 / ema2
            ring[pos] = ratio
            total += ratio
            pos += 1
            if pos == slow:
                pos = 0
            if t >= lb:
                out[t] = total
                total -= ring[pos]


@njit(cache=True)
def rvi_into_nb(x, out, period, sd_period):
    """Write TA-Lib RVI into ``out``: Dorsey's relative volatility index, 100 * up / (up + down)
    where up and down are Wilder averages of the ``sd_period`` population standard deviation
    on up and down bars (seeded with their plain mean over the first ``period`` bars); 50 when
    both are exactly 0.

    The standard deviation is TA-Lib 0.8's running one: sums of deviations from a shift near
    the window, re-centred with a two-pass sum when the variance falls below 1e-6 of the mean
    square, when the departing squared deviation exceeds 1e6 times the remaining sum, or every
    32 * sd_period bars.
    """
    n = x.shape[0]
    lb = sd_period - 1 + period - 1
    if n <= lb:
        return
    w_beta = float(period - 1) / float(period)
    w_alpha = 1.0 - w_beta
    inv = 1.0 / float(sd_period)
    shift = x[0]
    s1 = 0.0
    s2 = 0.0
    for j in range(sd_period - 1):
        d = x[j] - shift
        s1 += d
        s2 += d * d
    budget = 32 * sd_period
    up_total = 0.0
    dn_total = 0.0
    prev_up = 0.0
    prev_dn = 0.0
    for t in range(sd_period - 1, n):
        d = x[t] - shift
        s1 += d
        s2 += d * d
        mean = s1 * inv
        var = s2 * inv - mean * mean
        d = x[t - sd_period + 1] - shift
        s1 -= d
        d *= d
        s2 -= d
        budget -= 1
        if var < 1e-6 * (s2 * inv) or d > 1e6 * s2 or budget <= 0:
            budget = 32 * sd_period
            lo = t - sd_period + 1
            shift, s1, s2, var = centred_var_nb(x, lo, t + 1, inv)
            d = x[lo] - shift
            s1 -= d
            s2 -= d * d
        sigma = np.sqrt(var)
        delta = x[t] - x[t - 1]
        if t < lb:
            if delta > 0.0:
                up_total += sigma
            elif delta < 0.0:
                dn_total += sigma
            continue
        if t == lb:
            if delta > 0.0:
                up_total += sigma
            elif delta < 0.0:
                dn_total += sigma
            prev_up = up_total / period
            prev_dn = dn_total / period
        else:
            up = sigma if delta > 0.0 else 0.0
            dn = sigma if delta < 0.0 else 0.0
            prev_up = fma_nb(w_beta, prev_up, w_alpha * up)
            prev_dn = fma_nb(w_beta, prev_dn, w_alpha * dn)
        total = prev_up + prev_dn
        out[t] = 50.0 if total == 0.0 else 100.0 * (prev_up / total)
