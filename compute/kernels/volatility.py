"""Volatility indicators (TA-Lib group "Volatility Indicators")."""

import numpy as np
from numba import njit

from compute.kernels.common import centred_var_nb, fma_nb, is_zero_nb, true_range_nb
from compute.kernels.driver import writes_all
from compute.kernels.momentum import ema_stage_nb, qstick_into_nb


@writes_all
@njit(cache=True)
def trange_into_nb(high, low, close, out):
    """Write TA-Lib TRANGE into ``out``: the true range from the second bar on.

    Over slices indexed from 0, so the loop vectorizes (``close[i - 1]`` carried numba's
    negative-index wrap-around check). The kernel alone took 0.7x TA-Lib's time; the
    driver's NaN fill of the output before it (now skipped: ``writes_all``) made it 1.3x.
    """
    out[:1] = np.nan
    m = high.shape[0] - 1
    if m <= 0:
        return
    h = high[1:]
    lo = low[1:]
    prev = close[:m]
    dst = out[1:]
    for j in range(m):
        dst[j] = true_range_nb(h[j], lo[j], prev[j])


@writes_all
@njit(cache=True, error_model="numpy")
def atr_into_nb(high, low, close, out, period, normalise):
    """Write TA-Lib ATR into ``out`` or, with ``normalise``, NATR (100 * ATR / close, 0 where
    the close is ``TA_IS_ZERO``): Wilder's average of the true range, seeded with the mean of
    the first ``period`` true ranges (bars 1..period); period 1 is TRANGE (not normalised,
    as TA-Lib does).

    Each step is TA-Lib 0.8's ``fma(b, prev, k * tr)`` with ``smma_into_nb``'s weights,
    which equals ``talib.ATR`` to the bit on every parity case (the former
    ``(prev * (n - 1) + tr) / n`` differed in the last bits). It also puts one fused
    multiply-add on the loop-carried chain instead of a multiply, an add and a multiply:
    the cause of the 2.4x gap to TA-Lib. The driver's NaN fill of the output before the
    kernel (now skipped: ``writes_all``) was the rest of the gap (1.34x; the kernel 1.1x).
    NATR divides each value by its close as it is made (one pass; numpy's error model: the
    division is guarded).
    """
    n = high.shape[0]
    if period == 1:
        trange_into_nb(high, low, close, out)
        return
    out[:period] = np.nan
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


@writes_all
@njit(cache=True)
def adr_into_nb(high, low, out, timeperiod):
    """numba equivalent of ``talib.ADR``: the SMA of high - low, summed as TA-Lib does
    (not SMA(high) - SMA(low)): QSTICK's loop with low as the open and high as the close."""
    qstick_into_nb(low, high, out, timeperiod)


@writes_all
@njit(cache=True, error_model="numpy")
def cvi_into_nb(high, low, out, period, roc_period):
    """Write TA-Lib CVI into ``out``: Chaikin volatility, the ``roc_period``-bar rate of change
    (in %) of an EMA of high - low seeded with the mean of its first ``period`` ranges; 0 where
    the earlier EMA is exactly 0. The EMA step is TA-Lib 0.8's ``fma(x - prev, k, prev)``.

    One pass, the last ``roc_period`` EMA values in a ring: the EMA written into ``out`` and
    turned into its rate of change by a second pass from the end, after the driver's NaN
    fill, took 1.5x TA-Lib's time (the division's zero test under numba's default error
    model kept that pass from vectorizing).
    """
    n = high.shape[0]
    first = period - 1 + roc_period
    out[:first] = np.nan
    k = 2.0 / (period + 1)
    ring = np.empty(roc_period)  # the EMA of bar t - roc_period, at ``pos`` on bar t
    pos = 0
    ema = total = 0.0
    for t in range(n):
        ema, total = ema_stage_nb(t, period, k, high[t] - low[t], ema, total)
        if t < period - 1:
            continue
        if t >= first:
            lagged = ring[pos]
            out[t] = 100.0 * ((ema - lagged) / lagged) if lagged != 0.0 else 0.0
        ring[pos] = ema
        pos = pos + 1 if pos + 1 < roc_period else 0


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
    sum1 = sum2 = ema1 = ema2 = total = 0.0
    for t in range(n):
        ema1, sum1 = ema_stage_nb(t, fast, k, high[t] - low[t], ema1, sum1)
        if t >= lb_ema:
            ema2, sum2 = ema_stage_nb(t - lb_ema, fast, k, ema1, ema2, sum2)
        if t >= lb_ratio:
            ratio = 1.0 if ema2 == 0.0 else ema1 / ema2
            ring[pos] = ratio
            total += ratio
            pos = pos + 1 if pos + 1 < slow else 0
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
    s1 = s2 = 0.0
    for j in range(sd_period - 1):
        d = x[j] - shift
        s1 += d
        s2 += d * d
    budget = 32 * sd_period
    up_total = dn_total = prev_up = prev_dn = 0.0
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
        if t <= lb:
            if delta > 0.0:
                up_total += sigma
            elif delta < 0.0:
                dn_total += sigma
            if t < lb:
                continue
            prev_up = up_total / period
            prev_dn = dn_total / period
        else:
            up = sigma if delta > 0.0 else 0.0
            dn = sigma if delta < 0.0 else 0.0
            prev_up = fma_nb(w_beta, prev_up, w_alpha * up)
            prev_dn = fma_nb(w_beta, prev_dn, w_alpha * dn)
        total = prev_up + prev_dn
        out[t] = 50.0 if total == 0.0 else 100.0 * (prev_up / total)
