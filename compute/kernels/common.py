"""Building blocks shared by every family, written once and reused by the 1-D kernels.

Array blocks (``*_into_nb``: SMA, EMA, rolling variance) write into a caller-provided output
(a segment's slice, from ``compute.kernels.driver``); scalar blocks are one bar
of a fused loop: Wilder's average and running sum (``wilder_*_step_nb``), the true range,
directional movement and the DMI sums (``dmi_seed_nb``/``dmi_step_nb``), and the rescan of a
rolling extreme (``window_max_nb``/``window_min_nb``). ``fma_nb`` is C's ``fma``, which
TA-Lib 0.8 uses in its EMA-type recurrences.

numba's on-disk cache keys a kernel on its own source file only: after editing this module,
clear ``$NUMBA_CACHE_DIR`` so the kernels that inline these blocks are recompiled.

Parity notes: the reference is the TA-Lib bundled with the ``ta-lib`` 0.8.2 wheel (C library
0.8.1), not the 0.4 sources most ports follow. It tests for zero in three ways, chosen per
function: exactly (``> 0.0``), within a fixed band (``TA_IS_ZERO``: |v| < 1e-14) or within a
band scaled to the operands (``TA_IS_ZERO_SCALED``); the kernels say which they follow, and
the flat stretches of ``synthetic_rough`` (tests/datasets.py) exercise every one of them.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

ZERO_EPS = 1e-14  # TA-Lib's TA_EPSILON, the band of TA_IS_ZERO


def writes_all(kernel):
    """Mark the 1-D ``kernel`` as writing every element of its outputs, its warm-up too
    (``nan_head_nb``): ``compute.kernels.driver`` then allocates them without a NaN fill."""
    kernel.writes_all = True
    return kernel


@njit(cache=True)
def nan_like_nb(x):
    """``np.full_like(x, np.nan)`` for float64 arrays."""
    out = np.empty(x.shape[0], dtype=np.float64)
    out[:] = np.nan
    return out


@njit(cache=True)
def nan_head_nb(out, k):
    """Write NaN into ``out[:k]`` (all of ``out`` if it is shorter): the warm-up of a kernel
    marked ``driver.writes_all``, whose outputs the driver does not fill (a loop: slice
    assignment costs seconds to compile)."""
    for i in range(min(k, out.shape[0])):
        out[i] = np.nan


@njit(cache=True)
def is_zero_nb(v):
    """TA-Lib's ``TA_IS_ZERO``: |v| below 1e-14."""
    return -ZERO_EPS < v < ZERO_EPS


@njit(cache=True)
def is_zero_scaled_nb(v, scale):
    """TA-Lib's ``TA_IS_ZERO_SCALED``: |v| within 1e-14 of ``scale`` (a difference's operands)."""
    return abs(v) <= ZERO_EPS * scale


@intrinsic
def fma_nb(typingctx, a, b, c):
    """``a * b + c`` rounded once, like C's ``fma`` (LLVM's ``llvm.fma``: one instruction on
    CPUs with FMA, a correctly rounded fallback elsewhere)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        # numba has already cast the arguments to the float64 of ``sig``
        dbl = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [dbl], ir.FunctionType(dbl, [dbl] * 3))
        return builder.call(fn, list(args))

    return sig, codegen


@njit(cache=True)
def first_valid_nb(arrays, a, b):
    """First index in ``[a, b)`` where no array of the tuple ``arrays`` is NaN, ``b`` if none.

    The ``talib`` wrapper starts TA-Lib at that bar (leading NaNs are skipped, not fed to
    running totals or filters): the candlestick patterns pass their four prices, the
    Hilbert-transform family its one input.
    """
    for i in range(a, b):
        valid = True
        for x in arrays:
            if np.isnan(x[i]):
                valid = False
        if valid:
            return i
    return b


@njit(cache=True)
def sum_nb(x, lo, hi):
    """``x[lo:hi]`` summed in order: the seed of TA-Lib's running sums and EMAs."""
    total = 0.0
    for i in range(lo, hi):
        total += x[i]
    return total


@writes_all
@njit(cache=True)
def sma_into_nb(x, out, period):
    """Write TA-Lib SMA of ``x`` into ``out`` (same length), NaN in the first ``period - 1``.

    Divides rather than multiplying by 1/period: the division is off the loop-carried chain
    (free in practice) and keeps the output equal to TA-Lib's to the bit, which MA-typed
    indicators need when a MAMA smooths this output (MAMA turns a last-bit difference into a
    visible one: ``test_ma_typed_indicators_match_talib_for_every_ma_type``).
    """
    n = x.shape[0]
    nan_head_nb(out, period - 1)
    if n < period:
        return
    total = sum_nb(x, 0, period - 1)
    for i in range(period - 1, n):
        total += x[i]
        out[i] = total / period
        total -= x[i - period + 1]


@writes_all
@njit(cache=True)
def ema_into_nb(x, out, period, start):
    """Write TA-Lib EMA into ``out``, seeded with mean(x[start:start+period]) at start+period-1,
    NaN before.

    ``start`` lets callers seed later than index 0 (MACD seeds its fast EMA at the slow
    EMA's start; DEMA/TEMA chain EMAs over earlier EMAs' valid region). Each step is
    TA-Lib 0.8's ``fma(x - prev, k, prev)``, which makes the output equal to TA-Lib's to the bit.
    """
    n = x.shape[0]
    first = start + period - 1
    nan_head_nb(out, first)
    if first >= n:
        return
    k = 2.0 / (period + 1)
    prev = sum_nb(x, start, first + 1) / period
    out[first] = prev
    for i in range(first + 1, n):
        prev = fma_nb(x[i] - prev, k, prev)
        out[i] = prev


@njit(cache=True)
def centred_var_nb(x, lo, hi, inv_period):
    """Two-pass variance of ``x[lo:hi]``: (its mean, the sums of deviations from it and of
    their squares, the variance); a variance below 1e-12 of the mean squared deviation is
    rounding noise of the mean (a window of equal values) and is exactly 0, as in TA-Lib."""
    centre = sum_nb(x, lo, hi) * inv_period
    s1 = 0.0
    s2 = 0.0
    for j in range(lo, hi):
        d = x[j] - centre
        s1 += d
        s2 += d * d
    mean = s1 * inv_period
    v = s2 * inv_period - mean * mean
    if v < 1e-12 * (s2 * inv_period):
        v = 0.0
    return centre, s1, s2, v


@njit(cache=True)
def var_into_nb(x, out, period):
    """Write the rolling population variance (TA-Lib VAR) into ``out``, cancellation-free.

    TA-Lib >= 0.7 no longer subtracts E[x]^2 from E[x^2] on raw prices (which loses every
    digit of a small variance of a large price): it keeps running sums of deviations from a
    centre near the window and re-centres with an exact two-pass sum whenever the result
    would lose digits. This does the same in its own way: re-centre (``centred_var_nb``) when
    the variance falls below 1e-6 of the mean squared deviation it comes from, when a removed
    deviation dwarfs the remaining sum, or every 32 windows. The output is never negative.
    """
    n = x.shape[0]
    if n < period:
        return
    inv = 1.0 / period
    centre, s1, s2, v = centred_var_nb(x, 0, period, inv)
    out[period - 1] = v
    since = 0
    for i in range(period, n):
        d_old = x[i - period] - centre
        d_new = x[i] - centre
        s1 = s1 - d_old + d_new
        s2 = s2 - d_old * d_old + d_new * d_new
        mean = s1 * inv
        v = s2 * inv - mean * mean
        since += 1
        if v < 1e-6 * (s2 * inv) or d_old * d_old > 1e6 * s2 or since >= 32 * period:
            since = 0
            centre, s1, s2, v = centred_var_nb(x, i - period + 1, i + 1, inv)
        out[i] = v


@njit(cache=True)
def window_max_nb(x, lo, hi):
    """(index, value) of the maximum of ``x[lo : hi + 1]``, the latest one on ties.

    The rescan of a rolling maximum (TA-Lib's MAX, WILLR, STOCH): kernels keep the current
    maximum and its index, take a new bar when ``x[i] >= value``, and call this only when
    the index falls out of the window; ties keep the latest bar, which stays longest.
    """
    idx = lo
    best = x[lo]
    for j in range(lo + 1, hi + 1):
        if x[j] >= best:
            idx = j
            best = x[j]
    return idx, best


@njit(cache=True)
def window_min_nb(x, lo, hi):
    """(index, value) of the minimum of ``x[lo : hi + 1]``, the latest one on ties."""
    idx = lo
    best = x[lo]
    for j in range(lo + 1, hi + 1):
        if x[j] <= best:
            idx = j
            best = x[j]
    return idx, best


@njit(cache=True)
def wilder_avg_step_nb(prev, value, period_minus_1, inv_period):
    """Wilder's average (RSI, ATR): ``(prev * (n - 1) + value) / n``."""
    return (prev * period_minus_1 + value) * inv_period


@njit(cache=True)
def wilder_sum_step_nb(prev, value, inv_period):
    """Wilder's running sum (+DM, -DM, TR of the DMI family): ``prev - prev / n + value``."""
    return prev - prev * inv_period + value


@njit(cache=True)
def true_range_nb(high, low, prev_close):
    """TA-Lib's true range of one bar: max(high - low, |high - prev_close|, |low - prev_close|)."""
    out = high - low
    v = abs(prev_close - high)
    if v > out:
        out = v
    v = abs(low - prev_close)
    if v > out:
        out = v
    return out


@njit(cache=True)
def directional_move_nb(high, prev_high, low, prev_low):
    """Wilder's (+DM, -DM) of one bar: the larger positive move wins, ties give (0, 0)."""
    up = high - prev_high
    down = prev_low - low
    if up > 0 and up > down:
        return up, 0.0
    if down > 0 and up < down:
        return 0.0, down
    return 0.0, 0.0


@njit(cache=True)
def dmi_seed_nb(high, low, close, period):
    """TA-Lib's seed of the DMI family: plain sums of +DM, -DM and TR over bars 1..period-1."""
    sum_p = 0.0
    sum_m = 0.0
    sum_tr = 0.0
    for i in range(1, period):
        p, m = directional_move_nb(high[i], high[i - 1], low[i], low[i - 1])
        sum_p += p
        sum_m += m
        sum_tr += true_range_nb(high[i], low[i], close[i - 1])
    return sum_p, sum_m, sum_tr


@njit(cache=True, inline="always")
def dmi_step_nb(high, low, close, i, inv_period, sum_p, sum_m, sum_tr):
    """One bar of Wilder's smoothed +DM, -DM and TR sums (PLUS_DI, MINUS_DI, DX, ADX).

    From ``dmi_seed_nb``, the first step (bar ``period``) gives the first values.
    """
    p, m = directional_move_nb(high[i], high[i - 1], low[i], low[i - 1])
    tr = true_range_nb(high[i], low[i], close[i - 1])
    return (
        wilder_sum_step_nb(sum_p, p, inv_period),
        wilder_sum_step_nb(sum_m, m, inv_period),
        wilder_sum_step_nb(sum_tr, tr, inv_period),
    )


@writes_all
@njit(cache=True)
def smma_into_nb(x, out, period):
    """Write TA-Lib 0.8's MA type 13, Wilder's smoothed MA, into ``out``: seeded with the mean
    of the first ``period`` values at ``period - 1``, then ``fma(b, prev, k * x)``.

    ``b = (n - 1) / n`` and ``k = 1 - b``, with ``b`` then recomputed as ``1 - k``: TA-Lib's
    spelling of the weights, which (with that fused step) makes the output equal to
    ``talib.MA(x, n, 13)`` to the bit; ``(prev * (n - 1) + x) / n`` differs in the last bit.
    It is also ``talib.RMA``, whose weights are ``b`` and ``1 - b``: for b >= 0.5 (every
    period >= 2) ``1 - b`` is exact, so recomputing ``b`` gives ``b`` back; period 1 (b = 0)
    copies the input.
    """
    n = x.shape[0]
    nan_head_nb(out, period - 1)
    if n < period:
        return
    k = 1.0 - (period - 1.0) / period
    b = 1.0 - k
    prev = sum_nb(x, 0, period) / period
    out[period - 1] = prev
    for i in range(period, n):
        prev = fma_nb(b, prev, k * x[i])
        out[i] = prev
