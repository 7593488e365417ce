"""Momentum indicators (TA-Lib group "Momentum Indicators").

Each ``_seg_nb`` kernel runs an ``_into_nb`` over every segment; the oscillators built on a
moving average (STOCH, STOCHF) run ``ma_into_nb`` over the valid region of their raw line.
"""

import numpy as np
from numba import njit

from compute.kernels.common import (
    dmi_seed_nb,
    dmi_step_nb,
    fma_nb,
    is_zero_nb,
    is_zero_scaled_nb,
    nan_like_nb,
    true_range_nb,
    wilder_avg_step_nb,
    window_max_nb,
    window_min_nb,
)
from compute.kernels.ma import ma_into_nb, ma_lookback_nb


@njit(cache=True)
def macd_into_nb(x, macd, signal, hist, fast, slow, signal_period):
    """Write TA-Lib MACD: fast EMA seeded at the slow EMA's first bar, signal EMA of the line.

    Periods are swapped when slow < fast; every output starts at slow + signal - 2, and a
    signal period of 1 makes the signal the line itself (histogram 0). The three EMAs run in
    one pass, each seeded and stepped exactly as ``ema_into_nb`` does.
    """
    if slow < fast:
        fast, slow = slow, fast
    n = x.shape[0]
    first = slow - 1
    start = first + signal_period - 1
    if start >= n:
        return
    k_slow = 2.0 / (slow + 1)
    k_fast = 2.0 / (fast + 1)
    k_signal = 2.0 / (signal_period + 1)
    total = 0.0
    for i in range(slow):
        total += x[i]
    slow_ema = total / slow
    total = 0.0
    for i in range(slow - fast, slow):
        total += x[i]
    fast_ema = total / fast
    line = fast_ema - slow_ema
    total = line  # the signal's seed: the mean of the first signal_period line values
    sig = line
    if signal_period == 1:
        macd[first] = line
        signal[first] = line
        hist[first] = 0.0
    for i in range(first + 1, n):
        v = x[i]
        slow_ema = fma_nb(v - slow_ema, k_slow, slow_ema)
        fast_ema = fma_nb(v - fast_ema, k_fast, fast_ema)
        line = fast_ema - slow_ema
        if signal_period == 1:
            sig = line
        elif i < start:
            total += line
            continue
        elif i == start:
            sig = (total + line) / signal_period
        else:
            sig = fma_nb(line - sig, k_signal, sig)
        macd[i] = line
        signal[i] = sig
        hist[i] = line - sig


@njit(cache=True)
def rsi_into_nb(x, out, period):
    """Write TA-Lib RSI: Wilder averages of gains and losses seeded with the mean of the first
    ``period`` changes; 0 where both averages are exactly 0 (TA-Lib tests the total exactly)."""
    n = x.shape[0]
    if n <= period:
        return
    inv = 1.0 / period
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        d = x[i] - x[i - 1]
        if d > 0.0:
            gain += d
        else:
            loss -= d
    gain *= inv
    loss *= inv
    total = gain + loss
    out[period] = 100.0 * (gain / total) if total > 0.0 else 0.0
    for i in range(period + 1, n):
        d = x[i] - x[i - 1]
        up = d if d > 0.0 else 0.0
        gain = wilder_avg_step_nb(gain, up, period - 1, inv)
        loss = wilder_avg_step_nb(loss, up - d, period - 1, inv)
        total = gain + loss
        out[i] = 100.0 * (gain / total) if total > 0.0 else 0.0


@njit(cache=True)
def fast_k_into_nb(high, low, close, out, period):
    """Write the raw stochastic %K, 100 (close - lowest low) / (highest high - lowest low).

    0 where the window's range is zero within TA-Lib's scaled band (``TA_IS_ZERO_SCALED``).
    """
    hi_idx, hi = -1, 0.0
    lo_idx, lo = -1, 0.0
    for i in range(period - 1, high.shape[0]):
        if hi_idx <= i - period:
            hi_idx, hi = window_max_nb(high, i - period + 1, i)
        elif high[i] >= hi:
            hi_idx, hi = i, high[i]
        if lo_idx <= i - period:
            lo_idx, lo = window_min_nb(low, i - period + 1, i)
        elif low[i] <= lo:
            lo_idx, lo = i, low[i]
        rng = hi - lo
        if is_zero_scaled_nb(rng, abs(hi) + abs(lo)):
            out[i] = 0.0
        else:
            # this operation order is TA-Lib 0.8's, bit for bit: MAMA-smoothed %K (STOCH
            # with an MA type of 7) amplifies a last-bit difference into a visible one
            out[i] = (close[i] - lo) / rng * 100.0


@njit(cache=True)
def stoch_into_nb(high, low, close, slowk, slowd, fastk_p, slowk_p, slowk_t, slowd_p, slowd_t):
    """Write TA-Lib STOCH: %K smoothed by MA(slowk), and MA(slowd) of that, from its first value."""
    n = high.shape[0]
    lb_k = fastk_p - 1
    lb_sk = ma_lookback_nb(slowk_p, slowk_t)
    start = lb_k + lb_sk + ma_lookback_nb(slowd_p, slowd_t)
    if start >= n:
        return
    raw = nan_like_nb(high)
    fast_k_into_nb(high, low, close, raw, fastk_p)
    k = nan_like_nb(high)
    ma_into_nb(raw[lb_k:], k[lb_k:], slowk_p, slowk_t)
    d = nan_like_nb(high)
    ma_into_nb(k[lb_k + lb_sk :], d[lb_k + lb_sk :], slowd_p, slowd_t)
    slowk[start:] = k[start:]
    slowd[start:] = d[start:]


@njit(cache=True)
def stochf_into_nb(high, low, close, fastk, fastd, fastk_p, fastd_p, fastd_t):
    """Write TA-Lib STOCHF: raw %K and its MA(fastd), both from the first %D value."""
    n = high.shape[0]
    lb_k = fastk_p - 1
    start = lb_k + ma_lookback_nb(fastd_p, fastd_t)
    if start >= n:
        return
    raw = nan_like_nb(high)
    fast_k_into_nb(high, low, close, raw, fastk_p)
    d = nan_like_nb(high)
    ma_into_nb(raw[lb_k:], d[lb_k:], fastd_p, fastd_t)
    fastk[start:] = raw[start:]
    fastd[start:] = d[start:]


@njit(cache=True)
def willr_into_nb(high, low, close, out, period):
    """Write TA-Lib WILLR, -100 (highest high - close) / (highest high - lowest low); 0 where
    the range is exactly 0."""
    hi_idx, hi = -1, 0.0
    lo_idx, lo = -1, 0.0
    for i in range(period - 1, high.shape[0]):
        if hi_idx <= i - period:
            hi_idx, hi = window_max_nb(high, i - period + 1, i)
        elif high[i] >= hi:
            hi_idx, hi = i, high[i]
        if lo_idx <= i - period:
            lo_idx, lo = window_min_nb(low, i - period + 1, i)
        elif low[i] <= lo:
            lo_idx, lo = i, low[i]
        rng = hi - lo
        out[i] = (hi - close[i]) / rng * -100.0 if rng != 0.0 else 0.0


@njit(cache=True)
def cci_into_nb(high, low, close, out, period):
    """Write TA-Lib CCI, (tp - mean tp) / (0.015 mean |tp - mean tp|) over ``period`` typical
    prices; 0 where either term is rounding noise of the mean.

    TA-Lib 0.8 treats the deviation of the bar as zero within 1e-14 of |mean| and the summed
    deviation within 1e-14 of period * |mean| (scale-free: found by probing the wheel, see
    ``synthetic_rough`` in tests/unit/test_indicator_parity.py). The window lives in a ring
    indexed by bar modulo ``period`` and is summed in ring order, as TA-Lib does.
    """
    n = high.shape[0]
    if n < period:
        return
    ring = np.empty(period)
    for i in range(n):
        tp = (high[i] + low[i] + close[i]) / 3
        ring[i % period] = tp
        if i < period - 1:
            continue
        avg = 0.0
        for j in range(period):
            avg += ring[j]
        avg /= period
        dev = 0.0
        for j in range(period):
            dev += abs(ring[j] - avg)
        num = tp - avg
        scale = abs(avg)
        if is_zero_scaled_nb(num, scale) or is_zero_scaled_nb(dev, period * scale):
            out[i] = 0.0
        else:
            out[i] = num / (0.015 * (dev / period))


@njit(cache=True)
def di_one_bar_into_nb(high, low, close, out, plus):
    """Write TA-Lib's PLUS_DI/MINUS_DI at period 1: the bar's DM over its true range, as a
    fraction (not a percentage) and 0 where the true range is not positive."""
    for i in range(1, high.shape[0]):
        up = high[i] - high[i - 1]
        down = low[i - 1] - low[i]
        move = up if plus else down
        other = down if plus else up
        if move > 0 and move > other:
            tr = true_range_nb(high[i], low[i], close[i - 1])
            out[i] = move / tr if tr > 0.0 else 0.0
        else:
            out[i] = 0.0


@njit(cache=True)
def di_into_nb(high, low, close, out, period, plus):
    """Write TA-Lib PLUS_DI (``plus``) or MINUS_DI: 100 smoothed DM / smoothed TR, 0 where
    the smoothed TR is not positive."""
    n = high.shape[0]
    if period == 1:
        di_one_bar_into_nb(high, low, close, out, plus)
        return
    if n <= period:
        return
    inv = 1.0 / period
    sum_p, sum_m, sum_tr = dmi_seed_nb(high, low, close, period)
    for i in range(period, n):
        sum_p, sum_m, sum_tr = dmi_step_nb(high, low, close, i, inv, sum_p, sum_m, sum_tr)
        dm = sum_p if plus else sum_m
        out[i] = 100.0 * (dm / sum_tr) if sum_tr > 0.0 else 0.0


@njit(cache=True)
def adx_into_nb(high, low, close, out, period):
    """Write TA-Lib ADX: Wilder average of DX seeded with the mean of the first ``period`` DX.

    A bar whose TR sum is 0, or whose DIs sum to 0, has no DX: it adds nothing to the seed
    and leaves the ADX unchanged.
    """
    n = high.shape[0]
    first = 2 * period - 1
    if n <= first:
        return
    inv = 1.0 / period
    sum_p, sum_m, sum_tr = dmi_seed_nb(high, low, close, period)
    adx = 0.0
    for i in range(period, n):
        sum_p, sum_m, sum_tr = dmi_step_nb(high, low, close, i, inv, sum_p, sum_m, sum_tr)
        has_dx = False
        dx = 0.0
        if sum_tr > 0.0:
            minus_di = 100.0 * (sum_m / sum_tr)
            plus_di = 100.0 * (sum_p / sum_tr)
            total = minus_di + plus_di
            if not is_zero_nb(total):
                has_dx = True
                dx = 100.0 * (abs(minus_di - plus_di) / total)
        if i < first:
            adx += dx
        elif i == first:
            adx = (adx + dx) / period
            out[i] = adx
        else:
            if has_dx:
                adx = adx - (adx - dx) * inv
            out[i] = adx


@njit(cache=True)
def mfi_into_nb(high, low, close, volume, out, period):
    """Write TA-Lib MFI, 100 positive flow / total flow over ``period`` bars.

    As TA-Lib 0.8: a typical price unchanged within the scaled band (``TA_IS_ZERO_SCALED``)
    carries no flow; after ``period`` bars without flow the running sums are reset to exactly
    0 (dropping their rounding residue); an empty window gives 0.
    """
    n = high.shape[0]
    if n <= period:
        return
    pos_ring = np.zeros(period)
    neg_ring = np.zeros(period)
    pos = 0.0
    neg = 0.0
    idle = 0
    prev = (high[0] + low[0] + close[0]) / 3.0
    for i in range(1, n):
        slot = (i - 1) % period
        if i > period:
            pos -= pos_ring[slot]
            neg -= neg_ring[slot]
        tp = (high[i] + low[i] + close[i]) / 3.0
        change = tp - prev
        flow = 0.0 if is_zero_scaled_nb(change, abs(tp) + abs(prev)) else tp * volume[i]
        prev = tp
        p_flow = 0.0 if change < 0.0 else flow
        n_flow = flow if change < 0.0 else 0.0
        pos_ring[slot] = p_flow
        neg_ring[slot] = n_flow
        pos += p_flow
        neg += n_flow
        idle = idle + 1 if flow == 0.0 else 0
        if idle >= period:
            idle = period
            pos = 0.0
            neg = 0.0
        if i < period:
            continue
        total = pos + neg
        clamped = min(max(pos, 0.0), total)
        out[i] = 100.0 * (clamped / total) if total > 0.0 else 0.0


@njit(cache=True)
def macd_seg_nb(close, offsets, fastperiod, slowperiod, signalperiod):
    """numba equivalent of ``talib.MACD`` applied to each segment."""
    macd = nan_like_nb(close)
    signal = nan_like_nb(close)
    hist = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        macd_into_nb(
            close[a:b], macd[a:b], signal[a:b], hist[a:b], fastperiod, slowperiod, signalperiod
        )
    return macd, signal, hist


@njit(cache=True)
def rsi_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.RSI`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        rsi_into_nb(close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def roc_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.ROC`` applied to each segment (0 where the old price is 0)."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        for i in range(a + timeperiod, b):
            old = close[i - timeperiod]
            out[i] = ((close[i] / old) - 1.0) * 100.0 if old != 0.0 else 0.0
    return (out,)


@njit(cache=True)
def mom_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.MOM`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        for i in range(a + timeperiod, b):
            out[i] = close[i] - close[i - timeperiod]
    return (out,)


@njit(cache=True)
def willr_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.WILLR`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        willr_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def stoch_seg_nb(
    high, low, close, offsets, fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype
):
    """numba equivalent of ``talib.STOCH`` applied to each segment."""
    slowk = nan_like_nb(close)
    slowd = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        stoch_into_nb(
            high[a:b],
            low[a:b],
            close[a:b],
            slowk[a:b],
            slowd[a:b],
            fastk_period,
            slowk_period,
            slowk_matype,
            slowd_period,
            slowd_matype,
        )
    return slowk, slowd


@njit(cache=True)
def stochf_seg_nb(high, low, close, offsets, fastk_period, fastd_period, fastd_matype):
    """numba equivalent of ``talib.STOCHF`` applied to each segment."""
    fastk = nan_like_nb(close)
    fastd = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        stochf_into_nb(
            high[a:b],
            low[a:b],
            close[a:b],
            fastk[a:b],
            fastd[a:b],
            fastk_period,
            fastd_period,
            fastd_matype,
        )
    return fastk, fastd


@njit(cache=True)
def cci_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.CCI`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        cci_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def adx_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.ADX`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        adx_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def plus_di_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.PLUS_DI`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        di_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod, True)
    return (out,)


@njit(cache=True)
def minus_di_seg_nb(high, low, close, offsets, timeperiod):
    """numba equivalent of ``talib.MINUS_DI`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        di_into_nb(high[a:b], low[a:b], close[a:b], out[a:b], timeperiod, False)
    return (out,)


@njit(cache=True)
def mfi_seg_nb(high, low, close, volume, offsets, timeperiod):
    """numba equivalent of ``talib.MFI`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        mfi_into_nb(high[a:b], low[a:b], close[a:b], volume[a:b], out[a:b], timeperiod)
    return (out,)
