"""Moving averages by TA-Lib MA type, and ``ma_into_nb``, the dispatcher every MA-typed
indicator (BBANDS, STOCH, STOCHF, ...) runs over its input's valid region.

MA types: 0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3. MAMA lives in
``compute.kernels.cycle``; until it is wired in here, ``SUPPORTED_MATYPES`` leaves 7 out and
the registry refuses it (numba's cache does not see changes to callees in other modules, so
wiring it in means editing this file, which also invalidates the cached callers).
"""

import numpy as np
from numba import njit

from compute.kernels.common import ema_into_nb, is_zero_nb, sma_into_nb

MATYPE_NAMES = {
    0: "SMA",
    1: "EMA",
    2: "WMA",
    3: "DEMA",
    4: "TEMA",
    5: "TRIMA",
    6: "KAMA",
    7: "MAMA",
    8: "T3",
}
SUPPORTED_MATYPES = frozenset((0, 1, 2, 3, 4, 5, 6, 8))
T3_VFACTOR = 0.7  # TA_MA calls T3 with TA-Lib's default volume factor
MAMA_LOOKBACK = 32  # TA_MAMA_Lookback: 32 bars for any limits (unstable period 0)


def ma_lookback(period: int, matype: int) -> int:
    """TA-Lib's ``TA_MA_Lookback``: leading bars without a value for an MA of this type."""
    if matype not in MATYPE_NAMES:
        raise ValueError(f"unknown MA type {matype}; valid: {sorted(MATYPE_NAMES)}")
    return int(ma_lookback_nb(period, matype))


@njit(cache=True)
def ma_lookback_nb(period, matype):
    """``ma_lookback`` for kernels (MA types 0-8; period 1 is a copy, lookback 0)."""
    if period <= 1:
        return 0
    if matype == 3:
        return 2 * (period - 1)
    if matype == 4:
        return 3 * (period - 1)
    if matype == 6:
        return period
    if matype == 7:
        return MAMA_LOOKBACK
    if matype == 8:
        return 6 * (period - 1)
    return period - 1


@njit(cache=True)
def _wma_sums_nb(x, lo, hi):
    """Weighted (1..n, oldest first) and plain sums of ``x[lo:hi]``."""
    total = 0.0
    plain = 0.0
    w = 1
    for j in range(lo, hi):
        total += x[j] * w
        plain += x[j]
        w += 1
    return total, plain


@njit(cache=True)
def wma_into_nb(x, out, period):
    """Write TA-Lib WMA (weights 1..period, newest heaviest) into ``out``.

    Running sums slide in O(1) per bar and are rebuilt from the window every 32 periods and
    whenever the value leaving outweighs the rest of the window, as TA-Lib 0.8 re-anchors
    them: a series that drops to exact zeros (a flat %K under STOCH) then gives exact zeros
    rather than the old values' rounding residue (``test_ma_typed_indicators_match_talib``).
    """
    n = x.shape[0]
    if n < period:
        return
    inv_divider = 1.0 / (period * (period + 1) / 2.0)
    total, plain = _wma_sums_nb(x, 0, period)
    out[period - 1] = total * inv_divider
    since = 0
    for i in range(period, n):
        old = x[i - period]
        total = total - plain + x[i] * period
        plain = plain - old + x[i]
        since += 1
        if since >= 32 * period or abs(old) > abs(plain):
            since = 0
            total, plain = _wma_sums_nb(x, i - period + 1, i + 1)
        out[i] = total * inv_divider


@njit(cache=True)
def dema_into_nb(x, out, period):
    """Write TA-Lib DEMA, 2 EMA(x) - EMA(EMA(x)), into ``out``."""
    n = x.shape[0]
    lb = period - 1
    if n <= 2 * lb:
        return
    e1 = np.empty(n)
    e2 = np.empty(n)
    ema_into_nb(x, e1, period, 0)
    ema_into_nb(e1[lb:], e2[lb:], period, 0)
    for i in range(2 * lb, n):
        out[i] = 2.0 * e1[i] - e2[i]


@njit(cache=True)
def tema_into_nb(x, out, period):
    """Write TA-Lib TEMA, EMA3 + 3 EMA1 - 3 EMA2 over chained EMAs, into ``out``."""
    n = x.shape[0]
    lb = period - 1
    if n <= 3 * lb:
        return
    e1 = np.empty(n)
    e2 = np.empty(n)
    e3 = np.empty(n)
    ema_into_nb(x, e1, period, 0)
    ema_into_nb(e1[lb:], e2[lb:], period, 0)
    ema_into_nb(e2[2 * lb :], e3[2 * lb :], period, 0)
    for i in range(3 * lb, n):
        out[i] = e3[i] + (3.0 * e1[i] - 3.0 * e2[i])


@njit(cache=True)
def trima_into_nb(x, out, period):
    """Write TA-Lib TRIMA, the SMA of an SMA (triangular weights), into ``out``."""
    n = x.shape[0]
    if n < period:
        return
    half = period >> 1
    if period % 2 == 1:
        first, second = half + 1, half + 1
    else:
        first, second = half, half + 1
    inner = np.empty(n)
    sma_into_nb(x, inner, first)
    sma_into_nb(inner[first - 1 :], out[first - 1 :], second)


@njit(cache=True)
def _abs_change_sum_nb(x, lo, hi):
    """Sum of |x[j] - x[j - 1]| for j in [lo, hi)."""
    total = 0.0
    for j in range(lo, hi):
        total += abs(x[j] - x[j - 1])
    return total


@njit(cache=True)
def kama_into_nb(x, out, period):
    """Write TA-Lib KAMA (Kaufman adaptive MA, fast 2 / slow 30) into ``out``.

    The efficiency ratio's denominator, the sum of |changes| over the window, slides in O(1)
    and is rebuilt when the change leaving outweighs the rest (or every 32 periods), so a
    window of no change has exactly 0 volatility and an efficiency of 1, as in TA-Lib 0.8.
    """
    n = x.shape[0]
    if n <= period:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    volatility = _abs_change_sum_nb(x, 1, period + 1)
    prev = x[period - 1]
    since = 0
    for i in range(period, n):
        trailing = i - period
        if i > period:
            leaving = abs(x[trailing] - x[trailing - 1])
            volatility -= leaving
            volatility += abs(x[i] - x[i - 1])
            since += 1
            if since >= 32 * period or leaving > volatility:
                since = 0
                volatility = _abs_change_sum_nb(x, trailing + 1, i + 1)
        change = x[i] - x[trailing]
        if volatility <= change or is_zero_nb(volatility):
            ratio = 1.0
        else:
            ratio = abs(change / volatility)
        sc = ratio * const_diff + const_max
        sc *= sc
        prev = (x[i] - prev) * sc + prev
        out[i] = prev


@njit(cache=True)
def t3_into_nb(x, out, period, vfactor):
    """Write TA-Lib T3 (Tillson: six chained EMAs, each seeded with an SMA) into ``out``."""
    n = x.shape[0]
    lb = 6 * (period - 1)
    if n <= lb:
        return
    k = 2.0 / (period + 1.0)
    k1 = 1.0 - k
    # Each EMA level is seeded with the mean of its first ``period`` inputs, the inputs being
    # the previous level's values as they appear; level j's seed lands at j * (period - 1).
    e = np.zeros(6)
    today = 0
    total = 0.0
    for _ in range(period):
        total += x[today]
        today += 1
    e[0] = total / period
    for level in range(1, 6):
        total = e[level - 1]
        for _ in range(period - 1):
            e[0] = k * x[today] + k1 * e[0]
            for j in range(1, level):
                e[j] = k * e[j - 1] + k1 * e[j]
            total += e[level - 1]
            today += 1
        e[level] = total / period
    v2 = vfactor * vfactor
    c1 = -(v2 * vfactor)
    c2 = 3.0 * (v2 - c1)
    c3 = -6.0 * v2 - 3.0 * (vfactor - c1)
    c4 = 1.0 + 3.0 * vfactor - c1 + 3.0 * v2
    out[lb] = c1 * e[5] + c2 * e[4] + c3 * e[3] + c4 * e[2]
    for i in range(lb + 1, n):
        e[0] = k * x[i] + k1 * e[0]
        for j in range(1, 6):
            e[j] = k * e[j - 1] + k1 * e[j]
        out[i] = c1 * e[5] + c2 * e[4] + c3 * e[3] + c4 * e[2]


@njit(cache=True)
def ma_into_nb(x, out, period, matype):
    """Write TA-Lib ``MA(x, period, matype)`` into ``out``; period 1 copies ``x`` (as TA_MA).

    MA type 7 (MAMA) is not wired in yet and leaves ``out`` untouched; the registry refuses it.
    """
    if period == 1:
        for i in range(x.shape[0]):
            out[i] = x[i]
    elif matype == 0:
        sma_into_nb(x, out, period)
    elif matype == 1:
        ema_into_nb(x, out, period, 0)
    elif matype == 2:
        wma_into_nb(x, out, period)
    elif matype == 3:
        dema_into_nb(x, out, period)
    elif matype == 4:
        tema_into_nb(x, out, period)
    elif matype == 5:
        trima_into_nb(x, out, period)
    elif matype == 6:
        kama_into_nb(x, out, period)
    elif matype == 8:
        t3_into_nb(x, out, period, T3_VFACTOR)
