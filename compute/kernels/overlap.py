"""Overlap studies: moving averages and bands (TA-Lib group "Overlap Studies")."""

import numpy as np
from numba import njit

from compute.kernels.common import (
    directional_move_nb,
    fma_nb,
    is_zero_nb,
    nan_head_nb,
    true_range_nb,
    var_into_nb,
    writes_all,
)
from compute.kernels.ma import _wma_sums_nb, ma_into_nb, ma_lookback_nb, wma_step_nb


@writes_all
@njit(cache=True)
def bbands_into_nb(x, upper, middle, lower, period, nbdevup, nbdevdn, matype):
    """Write TA-Lib BBANDS: an MA of ``matype`` +/- nbdev population standard deviations.

    The deviation is always STDDEV(x, period) (TA-Lib >= 0.7 dropped the SMA-specific
    formula), and the bands start where both the MA and the deviation have a value.

    The variance is computed into ``upper`` rather than a temporary: the former array of
    the input's length faulted in 8 MB of fresh pages on every call at 1 M bars. The bands
    are then made over slices from their first bar, a loop that vectorizes (``vsqrtpd``):
    the former loop over every bar, with a NaN test each, took its square roots one at a
    time, 1.8 ns/bar of BBANDS' 4.3 (TA-Lib: 3.3 in all).
    """
    n = x.shape[0]
    first = max(period - 1, ma_lookback_nb(period, matype))
    ma_into_nb(x, middle, period, matype)
    var_into_nb(x, upper, period)  # ``upper`` holds the variance until its band replaces it
    for out in (upper, middle, lower):
        nan_head_nb(out, first)
    if n <= first:
        return
    mid = middle[first:]
    up = upper[first:]
    low = lower[first:]
    for j in range(mid.shape[0]):
        std = np.sqrt(up[j])
        up[j] = mid[j] + std * nbdevup
        low[j] = mid[j] - std * nbdevdn


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


@writes_all
@njit(cache=True)
def mavp_into_nb(x, periods, out, tmp, minperiod, maxperiod, matype):
    """Write TA-Lib MAVP, an MA of ``matype`` whose period varies bar by bar, into ``out``.

    As in TA-Lib, every bar's MA is the one TA_MA returns when asked to start at the lookback
    of ``maxperiod``: a recursive MA (EMA, DEMA, TEMA, KAMA, T3, MAMA) of a shorter period is
    seeded only as many bars before that start as its own lookback, not at the first bar.
    Each distinct period is computed once over the segment into ``tmp`` (scratch from the
    driver) and copied to its bars, which a counting sort by period lists. Measured cause of
    the former 1.3x TA-Lib's time: the bars of each period were found by rescanning a table
    of every bar's period (29 passes over 8 MB at the benchmark's periods), and that table
    and the MA buffer were allocated in the kernel (fresh pages on every call).
    """
    n = x.shape[0]
    start = ma_lookback_nb(maxperiod, matype)
    nan_head_nb(out, start)
    if n <= start:
        return
    span = maxperiod - minperiod + 1
    first_of = np.zeros(span + 1, dtype=np.int64)  # bars of period minperiod + p: slots
    for i in range(start, n):  # first_of[p]..first_of[p + 1] - 1 of ``order``
        first_of[mavp_period_nb(periods[i], minperiod, maxperiod) - minperiod + 1] += 1
    for p in range(span):
        first_of[p + 1] += first_of[p]
    order = np.empty(n - start, dtype=np.int64)
    slot = first_of[:span].copy()
    for i in range(start, n):
        p = mavp_period_nb(periods[i], minperiod, maxperiod) - minperiod
        order[slot[p]] = i
        slot[p] += 1
    for p in range(span):
        if first_of[p] == first_of[p + 1]:
            continue
        period = minperiod + p
        first = start - ma_lookback_nb(period, matype)
        ma_into_nb(x[first:], tmp[first:], period, matype)
        for j in range(first_of[p], first_of[p + 1]):
            out[order[j]] = tmp[order[j]]


# --- rolling extremes: MIDPOINT, MIDPRICE, DONCHIAN ----------------------------------------


RANGE_MID, RANGE_WILLR, RANGE_BANDS, RANGE_MAX_MIN = 0, 1, 2, 3  # ``extremes_into_nb``


@njit(inline="always")
def extremes_into_nb(hi_src, lo_src, close, out, upper, lower, period, kind):
    """The rolling max of ``hi_src`` and min of ``lo_src`` over ``period`` bars, written as
    ``kind`` says: RANGE_MID (max + min) / 2 into ``out``; RANGE_WILLR TA-Lib WILLR,
    -100 (max - close) / (max - min), 0 where max == min; RANGE_BANDS the max into
    ``upper``, the midpoint into ``out``, the min into ``lower``; RANGE_MAX_MIN the max
    and the min only. NaN in the warm-up.

    Van Herk / Gil-Werman in one loop per block of ``period`` bars: a running max/min of the
    block combined with the previous block's suffix extremes (a ring, +-inf past its end, so
    no branch), then the block's own suffixes. A block-extremes function called per block,
    its outputs read back, cost 2.7 ns/bar against TA-Lib's 1.2 (MIDPRICE, 1 M bars);
    this loop 1.7. The values are those of a full rescan (a max or min is exact).
    Inlined (``inline="always"``), ``kind`` is a constant in each caller and the loop keeps
    only its writes; called, the loop tested ``kind`` every bar: MIDPOINT 1.5x TA-Lib's
    time, 1.0x inlined.
    """
    n = hi_src.shape[0]
    suf_hi = np.full(period + 1, -np.inf)
    suf_lo = np.full(period + 1, np.inf)
    for start in range(0, n, period):
        run_hi = -np.inf
        run_lo = np.inf
        for k in range(min(period, n - start)):
            i = start + k
            run_hi = max(hi_src[i], run_hi)
            run_lo = min(lo_src[i], run_lo)
            hi = max(suf_hi[k + 1], run_hi)
            lo = min(suf_lo[k + 1], run_lo)
            if kind == RANGE_WILLR:
                out[i] = (hi - close[i]) / (hi - lo) * -100.0 if hi - lo != 0.0 else 0.0
            elif kind != RANGE_MAX_MIN:
                out[i] = (hi + lo) / 2.0
            if kind == RANGE_BANDS or kind == RANGE_MAX_MIN:
                upper[i] = hi
                lower[i] = lo
        run_hi = -np.inf
        run_lo = np.inf
        for k in range(min(period, n - start) - 1, -1, -1):
            run_hi = max(hi_src[start + k], run_hi)
            run_lo = min(lo_src[start + k], run_lo)
            suf_hi[k] = run_hi
            suf_lo[k] = run_lo
    for arr in (out, upper, lower):  # the first block's partial windows
        nan_head_nb(arr, period - 1)


@njit(inline="always")
def range_into_nb(hi_src, lo_src, close, out, period, willr):
    """``extremes_into_nb``'s midpoint, or with ``willr`` its WILLR, into ``out``."""
    extremes_into_nb(hi_src, lo_src, close, out, out, out, period, 1 if willr else 0)


@njit(inline="always")
def max_min_into_nb(hi_src, lo_src, upper, lower, period):
    """``extremes_into_nb``'s rolling max of ``hi_src`` into ``upper`` and min of ``lo_src``
    into ``lower``, NaN in the warm-up."""
    extremes_into_nb(hi_src, lo_src, lo_src, upper, upper, lower, period, RANGE_MAX_MIN)


@writes_all
@njit(cache=True)
def donchian_into_nb(high, low, upper, middle, lower, period):
    """numba equivalent of ``talib.DONCHIAN``: highest high, the midpoint, lowest low over the
    last ``period`` bars (the current bar included)."""
    extremes_into_nb(high, low, low, middle, upper, lower, period, RANGE_BANDS)


@writes_all
@njit(cache=True)
def midprice_into_nb(high, low, out, period):
    """numba equivalent of ``talib.MIDPRICE``: (highest high + lowest low) / 2 over the last
    ``period`` bars."""
    range_into_nb(high, low, low, out, period, False)


@writes_all
@njit(cache=True)
def midpoint_into_nb(x, out, period):
    """numba equivalent of ``talib.MIDPOINT``: (max + min) / 2 of the last ``period`` values."""
    range_into_nb(x, x, x, out, period, False)


# --- bands: ACCBANDS, KC ------------------------------------------------------------------


@njit(cache=True)
def accbands_into_nb(high, low, close, upper, middle, lower, period):
    """Write TA-Lib ACCBANDS (Headley's acceleration bands) into the three outputs.

    upper = SMA(high * (1 + 4 (high - low) / (high + low))), lower likewise with low and
    1 - ..., middle = SMA(close); a bar whose high + low is zero (within 1e-14) enters the
    bands with its plain high and low.

    The three SMAs run in one pass over rings of ``period`` terms: the old two term arrays
    of the input's length faulted in 16 MB of fresh pages on every call at 1 M bars (4,003
    minor faults a call, none for TA-Lib), the cause of the 2.5x gap.
    """
    n = close.shape[0]
    if n < period:
        return
    # the last ``period`` band terms, in rings; each SMA keeps sma_into_nb's order
    ring_up = np.empty(period)
    ring_dn = np.empty(period)
    pos = 0
    total_up = 0.0
    total_dn = 0.0
    total_mid = 0.0
    for i in range(n):
        total = high[i] + low[i]
        if is_zero_nb(total):
            up = high[i]
            dn = low[i]
        else:
            ratio = 4 * (high[i] - low[i]) / total
            up = high[i] * (1 + ratio)
            dn = low[i] * (1 - ratio)
        ring_up[pos] = up
        ring_dn[pos] = dn
        pos = pos + 1 if pos + 1 < period else 0
        total_up += up
        total_dn += dn
        total_mid += close[i]
        if i >= period - 1:
            upper[i] = total_up / period
            middle[i] = total_mid / period
            lower[i] = total_dn / period
            total_up -= ring_up[pos]  # the window's oldest term
            total_dn -= ring_dn[pos]
            total_mid -= close[i - period + 1]


@writes_all
@njit(cache=True)
def kc_into_nb(high, low, close, upper, middle, lower, period, atr_period, nbdev):
    """Write TA-Lib KC (Keltner channels): EMA of the typical price +/- nbdev ATR.

    The bands start where both legs have a value, and TA-Lib enters each leg there at its
    own lookback: the shorter one is seeded with the bars just before the first band, not
    with the first bars (when atrperiod >= timeperiod the centre line is not the EMA of the
    whole series; otherwise the ATR is not ``talib.ATR``'s). The ATR is Wilder's RMA of the
    true range, TA-Lib 0.8's ``fma`` step included (``smma_into_nb``'s weights).

    Both legs are seeded at the first band and stepped in one loop, on scalars: the former
    typical-price and true-range arrays of the input's length (16 MB of fresh pages a call
    at 1 M bars) and the driver's NaN fill of the three outputs made KC 1.7x TA-Lib's time.
    """
    n = close.shape[0]
    atr_lb = max(atr_period, 1)
    lb = max(period - 1, atr_lb)
    for out in (upper, middle, lower):
        nan_head_nb(out, lb)
    if n <= lb:
        return
    k = 2.0 / (period + 1)
    ema = 0.0
    for i in range(lb - period + 1, lb + 1):
        ema += (high[i] + low[i] + close[i]) / 3.0
    ema /= period
    beta = (atr_lb - 1) / atr_lb
    alpha = 1.0 - beta
    atr = 0.0
    for i in range(lb - atr_lb + 1, lb + 1):
        atr += true_range_nb(high[i], low[i], close[i - 1])
    atr /= atr_lb
    for i in range(lb, n):
        if i > lb:
            ema = fma_nb((high[i] + low[i] + close[i]) / 3.0 - ema, k, ema)
            atr = fma_nb(beta, atr, alpha * true_range_nb(high[i], low[i], close[i - 1]))
        band = atr * nbdev
        middle[i] = ema
        upper[i] = ema + band
        lower[i] = ema - band


# --- moving averages outside TA-Lib's MA types: HMA, VWMA, ZLEMA (RMA: ``smma_into_nb``) --


@writes_all
@njit(cache=True, error_model="numpy")
def hma_into_nb(x, out, work, period):
    """Write TA-Lib HMA, WMA(2 WMA(x, n // 2) - WMA(x, n), int(sqrt(n))), into ``out``.

    Composed of WMAs as TA-Lib 0.8 does, each started where its first value is needed (the
    half-period WMA n // 2 - 1 bars before bar n - 1, not at bar 0): WMA's re-anchored sums
    then round as TA-Lib's do and the output is its to the bit (a difference of WMAs
    magnifies any last-bit difference). Period 1 copies the input.

    The two inner WMAs step together (as ``wma_into_nb`` does) and write the de-lagged series into
    ``work``, scratch from the driver, which ``ma_into_nb``'s WMA then smooths. Measured causes
    of the former gaps: three arrays of the input's length allocated in the kernel (24 MB
    of fresh pages a call at 1 M bars: 5.2x TA-Lib's time); then one loop over all three
    WMAs with a ring for the outer one (1.5x): its twenty-odd loop-carried values spilled
    to the stack and the ring's re-anchor became a masked move on the outer sum's chain
    (``inspect_asm``). Two passes: 1.08x.
    """
    n = x.shape[0]
    root = int(np.sqrt(period))
    nan_head_nb(out, period + root - 2)
    if period == 1:
        for i in range(n):
            out[i] = x[i]
        return
    if n <= period + root - 2:
        return
    half = period // 2
    div_full = period * (period + 1) / 2.0
    div_half = half * (half + 1) / 2.0
    f_total, f_plain = _wma_sums_nb(x, 0, period - 1)
    h_total, h_plain = _wma_sums_nb(x, period - half, period - 1)
    f_leaving = h_leaving = 0.0
    f_count = 8 * period
    h_count = 8 * half
    for i in range(period - 1, n):
        v = x[i]
        f_total, f_plain = wma_step_nb(v, period, f_total, f_plain, f_leaving)
        f_count -= 1
        if f_count <= 0:
            f_count = 8 * period
            f_total, f_plain = _wma_sums_nb(x, i - period + 1, i + 1)
        f_leaving = x[i - period + 1]
        full = f_total / div_full
        f_total -= f_plain
        if half == 1:  # a WMA of one value is that value (its sliding sums would round)
            work[i] = 2.0 * v - full
            continue
        h_total, h_plain = wma_step_nb(v, half, h_total, h_plain, h_leaving)
        h_count -= 1
        if h_count <= 0:
            h_count = 8 * half
            h_total, h_plain = _wma_sums_nb(x, i - half + 1, i + 1)
        h_leaving = x[i - half + 1]
        work[i] = 2.0 * (h_total / div_half) - full
        h_total -= h_plain
    ma_into_nb(work[period - 1 :], out[period - 1 :], root, 2)


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
    af_init_long = min(af_init_long, af_max_long)
    af_step_long = min(af_step_long, af_max_long)
    af_init_short = min(af_init_short, af_max_short)
    af_step_short = min(af_step_short, af_max_short)
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
    beta = (period - 1) / period  # Wilder's smoothing as ``smma_into_nb`` steps it
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
    side = (acceleration, acceleration, maximum)  # initial, step, maximum
    sarext_into_nb(high, low, out, 0.0, 0.0, *side, *side, False)
