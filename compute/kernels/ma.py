"""Moving averages by TA-Lib MA type, and ``ma_into_nb``, the dispatcher every MA-typed
indicator (BBANDS, STOCH, STOCHF, ...) runs over its input's valid region.

MA types: 0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3; MAMA comes from
``compute.kernels.cycle``. The registry refuses any type left out of ``SUPPORTED_MATYPES``.
numba's on-disk cache does not notice when a callee in another module changes: after editing
``common`` or ``cycle``, clear ``$NUMBA_CACHE_DIR`` so the kernels here are recompiled.
"""

import numpy as np
from numba import njit

from compute.kernels.common import (
    ema_into_nb,
    fma_nb,
    is_zero_nb,
    nan_head_nb,
    sma_into_nb,
    sum_nb,
    writes_all,
)
from compute.kernels.cycle import mama_into_nb

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
SUPPORTED_MATYPES = frozenset(MATYPE_NAMES)
T3_VFACTOR = 0.7  # TA_MA calls T3 with TA-Lib's default volume factor
MAMA_LOOKBACK = 32  # TA_MAMA_Lookback: 32 bars for any limits (unstable period 0)
MAMA_FASTLIMIT = 0.5  # TA_MA calls MAMA with TA-Lib's default limits
MAMA_SLOWLIMIT = 0.05


def ma_lookback(period: int, matype: int) -> int:
    """TA-Lib's ``TA_MA_Lookback``: leading bars without a value for an MA of this type.

    ``matype`` comes validated by the registry (its ``matype`` parameter takes 0-8).
    """
    # the pure-Python body: planning needs no numba (loading a kernel costs ~0.7 s the
    # first time in a process)
    return int(ma_lookback_nb.py_func(period, matype))


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
        plain += x[j]
        total += x[j] * w
        w += 1
    return total, plain


@njit(inline="always")
def wma_step_nb(v, period, total, plain, leaving):
    """``wma_into_nb``'s update of its sums for a new value ``v``, before the re-anchor check.

    Scalars only: an inlined step that takes the array binds it anew every bar (an NRT
    incref/decref pair a bar, 10x WMA's time when the re-anchor lived in here too).
    """
    plain += v
    plain -= leaving
    total += v * period
    return total, plain


@njit(cache=True)
def wma_into_nb(x, out, period):
    """Write TA-Lib WMA (weights 1..period, newest heaviest) into ``out``.

    The weighted sum slides in O(1) (add period * new value, subtract the plain sum) and both
    sums are rebuilt from the window every 8 periods, on TA-Lib 0.8's schedule, so rounding
    residue cannot pile up and the output is TA-Lib's to the bit.
    """
    n = x.shape[0]
    if n < period:
        return
    divider = period * (period + 1) / 2.0
    total, plain = _wma_sums_nb(x, 0, period - 1)
    leaving = 0.0
    countdown = 8 * period
    for i in range(period - 1, n):
        total, plain = wma_step_nb(x[i], period, total, plain, leaving)
        countdown -= 1
        if countdown <= 0:
            countdown = 8 * period
            total, plain = _wma_sums_nb(x, i - period + 1, i + 1)
        leaving = x[i - period + 1]
        out[i] = total / divider
        total -= plain


@njit(cache=True)
def ema_chain_seed_nb(x, period, depth):
    """State of ``depth`` (1-3) chained TA-Lib EMAs at bar ``depth * (period - 1)``.

    Returns ``(e1, e2, e3)`` (levels beyond ``depth`` are 0). Level j + 1 is seeded with the
    mean of level j's first ``period`` values, summed in order, exactly as ``ema_into_nb``
    over level j's output would, so a one-pass chain equals the chained arrays to the bit.
    Needs ``x.shape[0] > depth * (period - 1)``.
    """
    lb = period - 1
    k = 2.0 / (period + 1)
    e1 = sum_nb(x, 0, period) / period
    e2 = 0.0
    e3 = 0.0
    if depth >= 2:
        total = e1
        for i in range(period, 2 * lb + 1):
            e1 = fma_nb(x[i] - e1, k, e1)
            total += e1
        e2 = total / period
    if depth >= 3:
        total = e2
        for i in range(2 * lb + 1, 3 * lb + 1):
            e1 = fma_nb(x[i] - e1, k, e1)
            e2 = fma_nb(e1 - e2, k, e2)
            total += e2
        e3 = total / period
    return e1, e2, e3


@njit(cache=True)
def dema_tema_into_nb(x, out, period, depth):
    """Write TA-Lib DEMA (``depth`` 2: 2 EMA(x) - EMA(EMA(x))) or TEMA (3: EMA3 + 3 EMA1 -
    3 EMA2 over chained EMAs) into ``out``.

    The EMAs run in one pass on scalars. Measured cause of the old 6.8x (DEMA) and 5.4x
    (TEMA) gaps to TA-Lib: an intermediate array of the input's length per EMA, whose
    fresh pages the kernel faulted in on every call (malloc hands 8 MB blocks back to the
    OS when freed), about 15 ns/bar on this VM against 2 ns/bar of arithmetic.
    """
    n = x.shape[0]
    first = depth * (period - 1)
    if n <= first:
        return
    k = 2.0 / (period + 1)
    e1, e2, e3 = ema_chain_seed_nb(x, period, depth)
    for i in range(first, n):
        if i > first:
            e1 = fma_nb(x[i] - e1, k, e1)
            e2 = fma_nb(e1 - e2, k, e2)
            if depth == 3:
                e3 = fma_nb(e2 - e3, k, e3)
        out[i] = 2.0 * e1 - e2 if depth == 2 else e3 + (3.0 * e1 - 3.0 * e2)


@njit(cache=True)
def trima_into_nb(x, out, period):
    """Write TA-Lib TRIMA (triangular weights 1, 2, .., 2, 1) into ``out``.

    One numerator slides in O(1): the window's older half (weights falling towards the past)
    and newer half (weights falling towards the present) are kept as plain sums whose
    transfers update it, in TA-Lib's order, so the output is TA-Lib's to the bit.
    """
    n = x.shape[0]
    if n < period:
        return
    half = period >> 1
    odd = period % 2 == 1
    if odd:
        factor = 1.0 / ((half + 1.0) * (half + 1))
        mid = half  # bars [0, mid] are the older half, with the peak weight
    else:
        factor = 1.0 / (float(half) * (half + 1))
        mid = half - 1
    num = 0.0
    older = 0.0
    for j in range(mid, -1, -1):
        older += x[j]
        num += older
    newer = 0.0
    for j in range(mid + 1, period):
        newer += x[j]
        num += newer
    out[period - 1] = num * factor
    for i in range(period, n):
        moving = x[i - period + mid + 1]  # crosses from the newer half to the older one
        num -= older
        older -= x[i - period]
        older += moving
        if odd:
            num += newer
            newer -= moving
        else:
            newer -= moving
            num += newer
        newer += x[i]
        num += x[i]
        out[i] = num * factor


@njit(inline="always")
def _kama_step_nb(prev, new, change, volatility, const_diff, const_max):
    """KAMA's step to ``new`` given the window's net ``change`` and ``volatility``."""
    if volatility <= change or is_zero_nb(volatility):
        ratio = 1.0
    else:
        ratio = abs(change / volatility)
    sc = fma_nb(ratio, const_diff, const_max)
    return fma_nb(new - prev, sc * sc, prev)


@njit(cache=True)
def kama_into_nb(x, out, period):
    """Write TA-Lib KAMA (Kaufman adaptive MA, fast 2 / slow 30) into ``out``.

    The efficiency ratio's denominator, the sum of |changes| over the window, slides in O(1)
    and is set to exactly 0 once ``period`` changes in a row were 0 (dropping the rounding
    residue, as TA-Lib 0.8 does), so a flat window has an efficiency of 1. The smoothing
    constant and the step use ``fma`` as TA-Lib 0.8 does.

    The reset to 0 is a branch that skips the sum's update: written as an assignment after
    it, LLVM made it a masked move (``vmovsd {k1}{z}`` in ``inspect_asm``) on the sum's
    loop-carried chain, every bar; 1.23x TA-Lib's time then, 1.06x now (1 M bars).
    """
    n = x.shape[0]
    if n <= period:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    volatility = 0.0
    still = 0  # consecutive zero changes
    for i in range(1, period + 1):
        d = abs(x[i] - x[i - 1])
        volatility += d
        still = still + 1 if d == 0.0 else 0
    if still >= period:
        volatility = 0.0
    prev = x[period - 1]
    for i in range(period, n):
        trailing = i - period
        if i > period:
            d = abs(x[i] - x[i - 1])
            still = still + 1 if d == 0.0 else 0
            if still >= period:
                volatility = 0.0
            else:
                volatility -= abs(x[trailing - 1] - x[trailing])
                volatility += d
        prev = _kama_step_nb(prev, x[i], x[i] - x[trailing], volatility, const_diff, const_max)
        out[i] = prev


@writes_all
@njit(cache=True)
def t3_into_nb(x, out, period, vfactor):
    """Write TA-Lib T3 (Tillson: six chained EMAs, each seeded with an SMA) into ``out``;
    period 1 copies ``x``, as TA-Lib does.

    The six levels step as scalars: kept in an array of six, each level went through memory
    every bar (a store and its reload on the chain of the next level), 1.45x TA-Lib's time
    against 0.98x now (1 M bars, the same bits).
    """
    n = x.shape[0]
    if period == 1:
        for i in range(n):
            out[i] = x[i]
        return
    lb = 6 * (period - 1)
    nan_head_nb(out, lb)
    if n <= lb:
        return
    k = 2.0 / (period + 1.0)
    k1 = 1.0 - k
    # Each EMA level is seeded with the mean of its first ``period`` inputs, the inputs being
    # the previous level's values as they appear; level j's seed lands at j * (period - 1).
    # each step is TA-Lib 0.8's fma((1 - k), e, k * input); the output's four terms are fused
    # the way its binary does, which makes T3 equal to TA-Lib's to the bit
    e = np.zeros(6)
    today = period
    e[0] = sum_nb(x, 0, period) / period
    for level in range(1, 6):
        total = e[level - 1]
        for _ in range(period - 1):
            e[0] = fma_nb(k1, e[0], k * x[today])
            for j in range(1, level):
                e[j] = fma_nb(k1, e[j], k * e[j - 1])
            total += e[level - 1]
            today += 1
        e[level] = total / period
    e1, e2, e3, e4, e5, e6 = e[0], e[1], e[2], e[3], e[4], e[5]
    v2 = vfactor * vfactor
    c1 = -(v2 * vfactor)
    c2 = 3.0 * (v2 - c1)
    c3 = -6.0 * v2 - 3.0 * (vfactor - c1)
    c4 = 1.0 + 3.0 * vfactor - c1 + 3.0 * v2
    out[lb] = fma_nb(c4, e3, fma_nb(c3, e4, fma_nb(c1, e6, c2 * e5)))
    for i in range(lb + 1, n):
        e1 = fma_nb(k1, e1, k * x[i])
        e2 = fma_nb(k1, e2, k * e1)
        e3 = fma_nb(k1, e3, k * e2)
        e4 = fma_nb(k1, e4, k * e3)
        e5 = fma_nb(k1, e5, k * e4)
        e6 = fma_nb(k1, e6, k * e5)
        out[i] = fma_nb(c4, e3, fma_nb(c3, e4, fma_nb(c1, e6, c2 * e5)))


@writes_all
@njit(cache=True)
def ma_into_nb(x, out, period, matype):
    """Write TA-Lib ``MA(x, period, matype)`` into ``out``, NaN in its warm-up; period 1
    copies ``x`` (as TA_MA).

    MAMA (7) writes its MAMA line and drops FAMA, with TA-Lib's default limits 0.5 / 0.05.
    Writing the warm-up here (and in ``sma_into_nb``, ``ema_into_nb``, ``t3_into_nb``)
    spares the driver its NaN fill of the whole output, which was the whole gap of SMA,
    EMA and WMA to TA-Lib (0.2 ns/bar of 1.0-1.6; the loops alone are at 0.99-1.04x).
    """
    nan_head_nb(out, ma_lookback_nb(period, matype))
    if period == 1:
        for i in range(x.shape[0]):
            out[i] = x[i]
    elif matype == 0:
        sma_into_nb(x, out, period)
    elif matype == 1:
        ema_into_nb(x, out, period, 0)
    elif matype == 2:
        wma_into_nb(x, out, period)
    elif matype == 3 or matype == 4:
        dema_tema_into_nb(x, out, period, matype - 1)
    elif matype == 5:
        trima_into_nb(x, out, period)
    elif matype == 6:
        kama_into_nb(x, out, period)
    elif matype == 7:
        mama_into_nb(x, out, np.full(x.shape[0], np.nan), MAMA_FASTLIMIT, MAMA_SLOWLIMIT)
    elif matype == 8:
        t3_into_nb(x, out, period, T3_VFACTOR)
