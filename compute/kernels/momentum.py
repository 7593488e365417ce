"""Momentum indicators (TA-Lib group "Momentum Indicators").

Each kernel writes one series (``compute.kernels.driver`` runs it over every segment). The
stochastics (STOCH, STOCHF, KDJ, STOCHRSI) share one raw %K (``fast_k_into_nb``) smoothed by
``ma_ext_into_nb`` over its valid region; MACD and MACDFIX share one pass of three EMAs.
"""

import numpy as np
from numba import njit

from compute.kernels.common import (
    directional_move_nb,
    dmi_seed_nb,
    dmi_step_nb,
    fma_nb,
    is_zero_nb,
    is_zero_scaled_nb,
    nan_like_nb,
    smma_into_nb,
    sum_nb,
    true_range_nb,
    wilder_avg_step_nb,
    wilder_sum_step_nb,
    window_max_nb,
    window_min_nb,
)
from compute.kernels.driver import writes_all
from compute.kernels.ma import ema_chain_seed_nb, ma_into_nb, ma_lookback_nb
from compute.kernels.overlap import max_min_into_nb, range_into_nb
from compute.kernels.statistic import LINREG_TSF, linreg_into_nb


@njit(cache=True, inline="always")
def ema_stage_nb(j, period, k, value, ema, total):
    """Feed ``value``, input ``j`` (from 0) of a TA-Lib EMA of ``period``, to the EMA.

    Returns (ema, total): the first ``period`` inputs add to ``total`` and their mean seeds
    the EMA at ``j == period - 1``; later ones step it by ``fma(value - ema, k, ema)``. A
    chain of EMAs (SMI, TSI, MASSI) feeds each stage's output to the next, one bar at a time.
    """
    if j < period:
        total += value
        if j == period - 1:
            ema = total / period
        return ema, total
    return fma_nb(value - ema, k, ema), total


@writes_all
@njit(cache=True)
def macd_into_nb(x, macd, signal, hist, fast, slow, signal_period):
    """Write TA-Lib MACD: fast EMA seeded at the slow EMA's first bar, signal EMA of the line.

    Periods are swapped when slow < fast; the EMA constants are 2 / (n + 1).
    """
    if slow < fast:
        fast, slow = slow, fast
    _macd_emas_into_nb(
        x, macd, signal, hist, fast, slow, signal_period, 2.0 / (fast + 1), 2.0 / (slow + 1)
    )


@njit(cache=True)
def _macd_emas_into_nb(x, macd, signal, hist, fast, slow, signal_period, k_fast, k_slow):
    """MACD's three EMAs in one pass, each seeded and stepped exactly as ``ema_into_nb`` does.

    Every output starts at slow + signal - 2, and a signal period of 1 makes the signal the
    line itself (histogram 0). It writes the warm-up's NaNs itself (``writes_all``): the
    driver's NaN fill of the three outputs before the kernel wrote them again was a third of
    the time (MACD 1.7x TA-Lib's, the kernel alone on written outputs 1.0-1.3x).
    """
    n = x.shape[0]
    first = slow - 1
    start = first + signal_period - 1
    macd[:start] = np.nan
    signal[:start] = np.nan
    hist[:start] = np.nan
    k_signal = 2.0 / (signal_period + 1)
    slow_ema = fast_ema = sig = 0.0
    s_total = f_total = g_total = 0.0  # the seed sums
    lag = slow - fast  # the fast EMA is seeded with the mean of x[lag:slow]
    for i in range(n):
        slow_ema, s_total = ema_stage_nb(i, slow, k_slow, x[i], slow_ema, s_total)
        if i >= lag:
            fast_ema, f_total = ema_stage_nb(i - lag, fast, k_fast, x[i], fast_ema, f_total)
        if i < first:
            continue
        line = fast_ema - slow_ema
        if signal_period == 1:
            sig = line
        else:
            sig, g_total = ema_stage_nb(i - first, signal_period, k_signal, line, sig, g_total)
        if i < start:
            continue
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
    gain = loss = 0.0
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
def fast_k_into_nb(high, low, close, out, work, period):
    """Write the raw stochastic %K, 100 (close - lowest low) / (highest high - lowest low),
    into ``out`` from bar ``period - 1``; ``work`` (as long) is scratch.

    0 where the window's range is zero within TA-Lib's scaled band (``TA_IS_ZERO_SCALED``).
    The extremes come from ``max_min_into_nb`` (branch-free blocks, the same values).
    """
    max_min_into_nb(high, low, out, work, period)
    for i in range(period - 1, high.shape[0]):
        hi = out[i]
        lo = work[i]
        rng = hi - lo
        if is_zero_scaled_nb(rng, abs(hi) + abs(lo)):
            out[i] = 0.0
        else:
            # this operation order is TA-Lib 0.8's, bit for bit: MAMA-smoothed %K (STOCH
            # with an MA type of 7) amplifies a last-bit difference into a visible one
            out[i] = (close[i] - lo) / rng * 100.0


@writes_all
@njit(cache=True)
def stoch_into_nb(high, low, close, k, d, fastk_p, slowk_p, slowk_t, slowd_p, slowd_t):
    """Write TA-Lib STOCH: %K smoothed by MA(slowk), and MA(slowd) of that, from its first
    value (any MA types of ``ma_ext_into_nb``), NaN before; returns that first bar.

    The raw %K and its window extremes are made in ``k`` and ``d`` (``fast_k_into_nb``).
    """
    n = high.shape[0]
    lb_k = fastk_p - 1
    lb_sk = lb_k + ma_ext_lookback_nb(slowk_p, slowk_t)
    start = lb_sk + ma_ext_lookback_nb(slowd_p, slowd_t)
    if start < n:
        fast_k_into_nb(high, low, close, d, k, fastk_p)
        ma_ext_into_nb(d[lb_k:], k[lb_k:], slowk_p, slowk_t)
        ma_ext_into_nb(k[lb_sk:], d[lb_sk:], slowd_p, slowd_t)
    k[:start] = np.nan
    d[:start] = np.nan
    return start


@writes_all
@njit(cache=True)
def stochf_into_nb(high, low, close, fastk, fastd, fastk_p, fastd_p, fastd_t):
    """Write TA-Lib STOCHF: raw %K and its MA(fastd), both from the first %D value (any MA
    type of ``ma_ext_into_nb``).

    Written in place with the warm-up's NaNs (``writes_all``): the two NaN-filled arrays of
    the input's length it used to fill and copy, and the driver's NaN fill of the outputs,
    were the whole gap (1.5x TA-Lib; the kernel alone 0.9x).
    """
    lb_k = fastk_p - 1
    start = lb_k + ma_ext_lookback_nb(fastd_p, fastd_t)
    if start < high.shape[0]:
        fast_k_into_nb(high, low, close, fastk, fastd, fastk_p)
        ma_ext_into_nb(fastk[lb_k:], fastd[lb_k:], fastd_p, fastd_t)
    fastk[:start] = np.nan
    fastd[:start] = np.nan


@njit(cache=True, error_model="numpy")
def willr_into_nb(high, low, close, out, period):
    """Write TA-Lib WILLR, -100 (highest high - close) / (highest high - lowest low); 0 where
    the range is exactly 0.

    The window extremes come from ``range_into_nb``'s one loop per block (the same values):
    the keep-the-index-and-rescan scheme cost ~10 ns/bar in mispredicted branches (3.9x
    TA-Lib), calling ``block_extremes_nb`` per block 3.9 against TA-Lib's 2.0.
    """
    range_into_nb(high, low, close, out, period, True)


@njit(cache=True, error_model="numpy")
def cci_into_nb(high, low, close, out, period):
    """Write TA-Lib CCI, (tp - mean tp) / (0.015 mean |tp - mean tp|) over ``period`` typical
    prices; 0 where either term is rounding noise of the mean.

    TA-Lib 0.8 treats the deviation of the bar as zero within 1e-14 of |mean| and the summed
    deviation within 1e-14 of period * |mean| (scale-free: found by probing the wheel, see
    ``synthetic_rough`` in tests/unit/test_indicator_parity.py). The window lives in a ring
    of ``period`` slots (bar i at i % period) and is summed in slot order, as TA-Lib does.

    The slot comes from a counter: computed as ``i % period`` it cost an integer division a
    bar (on the path of the store that the window's sums then load), and numba's default
    error model tested each division's divisor for zero; the two made 1.2x TA-Lib's time,
    0.67x without them.
    """
    n = high.shape[0]
    if n < period:
        return
    ring = np.empty(period)
    pos = 0
    for i in range(n):
        tp = (high[i] + low[i] + close[i]) / 3
        ring[pos] = tp
        pos = pos + 1 if pos + 1 < period else 0
        if i < period - 1:
            continue
        avg = sum_nb(ring, 0, period) / period
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
def di_into_nb(high, low, close, out, period, plus):
    """Write TA-Lib PLUS_DI (``plus``) or MINUS_DI: 100 smoothed DM / smoothed TR, 0 where
    the smoothed TR is not positive.

    Period 1 gives the bar's DM over its true range as a fraction, not a percentage (as
    TA-Lib does): Wilder's sums with 1 / n = 1 are the bar's own DM and TR, exactly.
    """
    n = high.shape[0]
    if n <= period:
        return
    scale = 1.0 if period == 1 else 100.0
    inv = 1.0 / period
    sum_p, sum_m, sum_tr = dmi_seed_nb(high, low, close, period)
    for i in range(period, n):
        sum_p, sum_m, sum_tr = dmi_step_nb(high, low, close, i, inv, sum_p, sum_m, sum_tr)
        dm = sum_p if plus else sum_m
        out[i] = scale * (dm / sum_tr) if sum_tr > 0.0 else 0.0


@njit(cache=True)
def _dx_nb(sum_p, sum_m, sum_tr):
    """(has a DX, DX) from Wilder's DMI sums: none where the TR sum is not positive or the
    DIs sum to 0 (``TA_IS_ZERO``)."""
    if sum_tr > 0.0:
        minus_di = 100.0 * (sum_m / sum_tr)
        plus_di = 100.0 * (sum_p / sum_tr)
        total = minus_di + plus_di
        if not is_zero_nb(total):
            return True, 100.0 * (abs(minus_di - plus_di) / total)
    return False, 0.0


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
        has_dx, dx = _dx_nb(sum_p, sum_m, sum_tr)
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
    pos = neg = 0.0
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
            pos = neg = 0.0
        if i < period:
            continue
        total = pos + neg
        clamped = min(max(pos, 0.0), total)
        out[i] = 100.0 * (clamped / total) if total > 0.0 else 0.0


# --- The rest of TA-Lib's momentum group: AO/AC, APO/PPO, MACDEXT/MACDFIX, AROON, DM/DX/ADXR,
# CMO, STOCHRSI, KDJ, SMI, TSI, TRIX, ULTOSC, VORTEX, WAD and the plain ratios. ---------------

MA_IDENTITY = 10  # TA-Lib 0.8's MA type 10: the input itself, lookback 0 for any period
MA_OWN_DEFAULT = 11  # MA type 11: the function's own default MA type (kernels resolve it)
MA_WILDER = 13  # MA type 13: Wilder's smoothed MA (``smma_into_nb``)


@njit(cache=True)
def own_default_nb(matype, default):
    """Resolve TA-Lib 0.8's MA type 11, "the function's own default", to ``default``."""
    return default if matype == MA_OWN_DEFAULT else matype


@njit(cache=True)
def ma_ext_lookback_nb(period, matype):
    """``ma_lookback_nb`` extended with MA types 10 (identity) and 13 (Wilder)."""
    if matype == MA_IDENTITY or period <= 1:
        return 0
    if matype == MA_WILDER:
        return period - 1
    return ma_lookback_nb(period, matype)


@njit(cache=True)
def ma_ext_into_nb(x, out, period, matype):
    """``ma_into_nb`` extended with MA types 10 (identity) and 13 (Wilder)."""
    if matype == MA_IDENTITY or period == 1:
        out[:] = x
    elif matype == MA_WILDER:
        smma_into_nb(x, out, period)
    else:
        ma_into_nb(x, out, period, matype)


@writes_all
@njit(cache=True)
def ao_into_nb(high, low, out, fast, slow):
    """Write TA-Lib AO, SMA(median, fast) - SMA(median, slow), periods never swapped.

    Both running sums add the new median, are divided as they stand, then drop their oldest
    median: TA_SMA's order, which TA-Lib's fused AO keeps bit for bit.
    """
    first = max(fast, slow) - 1
    out[:first] = np.nan
    sum_f = sum_s = 0.0
    for i in range(high.shape[0]):
        m = (high[i] + low[i]) / 2.0
        if i >= first - (fast - 1):
            sum_f += m
        if i >= first - (slow - 1):
            sum_s += m
        if i < first:
            continue
        out[i] = sum_f / fast - sum_s / slow
        t = i - fast + 1
        sum_f -= (high[t] + low[t]) / 2.0
        t = i - slow + 1
        sum_s -= (high[t] + low[t]) / 2.0


@writes_all
@njit(cache=True)
def ac_into_nb(high, low, out, fast, slow, signal):
    """Write TA-Lib AC, AO - SMA(AO, signal), the SMA in TA_SMA's add/divide/drop order.

    The AO goes to an unfilled array (only its values are read) and the kernel writes its
    own warm-up (``writes_all``): the two NaN fills made 1.2x TA-Lib's time (kernel 1.06x).
    """
    n = high.shape[0]
    first = max(fast, slow) - 1
    out[: first + signal - 1] = np.nan
    if n <= first + signal - 1:
        return
    ao = np.empty(n)
    ao_into_nb(high, low, ao, fast, slow)
    total = sum_nb(ao, first, first + signal - 1)
    for i in range(first + signal - 1, n):
        total += ao[i]
        out[i] = ao[i] - total / signal
        total -= ao[i - signal + 1]


@writes_all
@njit(cache=True)
def adxr_into_nb(high, low, close, out, period):
    """Write TA-Lib ADXR, the mean of today's ADX and the ADX ``period - 1`` bars ago."""
    first = 3 * period - 2
    adx_into_nb(high, low, close, out, period)  # the ADX, averaged in place from the end
    for i in range(high.shape[0] - 1, first - 1, -1):
        out[i] = (out[i] + out[i - (period - 1)]) / 2.0
    out[:first] = np.nan


@njit(cache=True)
def apo_into_nb(x, out, fast, slow, matype, percent):
    """Write TA-Lib APO (MA(fast) - MA(slow)) or, with ``percent``, PPO (that over MA(slow),
    times 100, 0 where MA(slow) is within ``TA_IS_ZERO``).

    Periods are swapped when slow < fast; each MA runs over the whole series, so the fast EMA
    is seeded at its own lookback (unlike MACD, which seeds it at the slow one's).

    With EMAs (the default type) both run in one pass on scalars, as ``ema_into_nb`` steps
    them (PVO runs this over volume): the general path's two NaN-filled arrays of the input's length faulted in 16 MB
    of fresh pages on every call at 1 M bars (3,874 minor faults a call, none for TA-Lib).
    """
    matype = own_default_nb(matype, 1)
    if slow < fast:
        fast, slow = slow, fast
    n = x.shape[0]
    start = ma_ext_lookback_nb(slow, matype)
    if start >= n:
        return
    if matype == 1 and fast >= 2:  # the default: both EMAs in one pass on scalars
        k_fast = 2.0 / (fast + 1)
        k_slow = 2.0 / (slow + 1)
        f_ema = s_ema = f_total = s_total = 0.0
        for i in range(n):
            f_ema, f_total = ema_stage_nb(i, fast, k_fast, x[i], f_ema, f_total)
            s_ema, s_total = ema_stage_nb(i, slow, k_slow, x[i], s_ema, s_total)
            if i >= start:
                out[i] = _apo_value_nb(f_ema, s_ema, percent)
        return
    f = nan_like_nb(x)
    ma_ext_into_nb(x, f, fast, matype)
    ma_ext_into_nb(x, out, slow, matype)  # MA(slow), replaced bar by bar
    for i in range(start, n):
        out[i] = _apo_value_nb(f[i], out[i], percent)


@njit(cache=True, inline="always")
def _apo_value_nb(f, s, percent):
    """APO's ``f - s`` or PPO's ``((f - s) / s) * 100``, 0 where ``s`` is ``TA_IS_ZERO``."""
    if not percent:
        return f - s
    return 0.0 if is_zero_nb(s) else ((f - s) / s) * 100.0


@njit(cache=True)
def aroon_into_nb(high, low, down, up, period, osc):
    """Write TA-Lib AROON (``down``, ``up``) or, with ``osc``, AROONOSC into ``up``.

    The window is ``period + 1`` bars; ties go to the latest extreme. Each line is
    (100 / period) * (period - bars since the extreme), the oscillator (100 / period) *
    (index of the high - index of the low), as TA-Lib forms them.
    """
    n = high.shape[0]
    factor = 100.0 / period
    hi_idx, hi = -1, 0.0
    lo_idx, lo = -1, 0.0
    for i in range(period, n):
        trailing = i - period
        if lo_idx < trailing:
            lo_idx, lo = window_min_nb(low, trailing, i)
        elif low[i] <= lo:
            lo_idx, lo = i, low[i]
        if hi_idx < trailing:
            hi_idx, hi = window_max_nb(high, trailing, i)
        elif high[i] >= hi:
            hi_idx, hi = i, high[i]
        if osc:
            up[i] = factor * (hi_idx - lo_idx)
        else:
            up[i] = factor * (period - (i - hi_idx))
            down[i] = factor * (period - (i - lo_idx))


@njit(cache=True)
def cmo_into_nb(x, out, period):
    """Write TA-Lib CMO: Wilder averages of gains and losses as RSI, then
    100 (gain - loss) / (gain + loss), 0 where the sum is not positive.

    Each Wilder step is TA-Lib's (avg * (n - 1) +- change) / n, divided, not multiplied by
    1 / n; the zero test is exact (TA-Lib 0.8 dropped the 1e-14 band: prices scaled by 1e-15
    keep their values).
    """
    n = x.shape[0]
    if n <= period:
        return
    gain = loss = 0.0
    for i in range(1, period + 1):
        d = x[i] - x[i - 1]
        if d < 0.0:
            loss -= d
        else:
            gain += d
    gain /= period
    loss /= period
    total = gain + loss
    out[period] = 100.0 * ((gain - loss) / total) if total > 0.0 else 0.0
    for i in range(period + 1, n):
        d = x[i] - x[i - 1]
        loss *= period - 1
        gain *= period - 1
        if d < 0.0:
            loss -= d
        else:
            gain += d
        loss /= period
        gain /= period
        total = gain + loss
        out[i] = 100.0 * ((gain - loss) / total) if total > 0.0 else 0.0


@njit(cache=True)
def cmou_into_nb(x, out, period):
    """Write TA-Lib CMOU, the unsmoothed CMO: 100 (up - down) / (up + down) over the last
    ``period`` changes, 0 for an exactly flat window.

    The sums slide (drop the oldest change, add the newest) and are reset to exactly 0 after
    ``period`` zero changes in a row, dropping their rounding residue, as TA-Lib does.
    """
    up = down = 0.0
    still = 0
    for i in range(1, x.shape[0]):
        if i > period:  # the change leaving the window
            d = x[i - period] - x[i - period - 1]
            if d > 0.0:
                up -= d
            elif d < 0.0:
                down += d
        d = x[i] - x[i - 1]
        if d > 0.0:
            up += d
        elif d < 0.0:
            down -= d
        still = still + 1 if d == 0.0 else 0
        if still >= period:  # before bar ``period`` + 1 both sums are exactly 0 then
            still = period
            up = down = 0.0
        if i >= period:
            total = up + down
            out[i] = (100.0 * (up - down)) / total if total > 0.0 else 0.0


@writes_all
@njit(cache=True, error_model="numpy")
def coppock_into_nb(x, out, roc_sum, wma_period, roc1, roc2):
    """Write TA-Lib COPPOCK, WMA(ROC(roc1) + ROC(roc2)), each ROC 0 where its base is 0;
    ``roc_sum`` is scratch (the driver's, allocated without a fill).

    ``error_model="numpy"``: under numba's default each division tests its divisor for zero
    to raise ZeroDivisionError, a branch that kept the loop from vectorizing; the ROC
    divisions are guarded and kernels never raise.
    """
    n = x.shape[0]
    first = max(roc1, roc2)
    for i in range(first, n):
        b1 = x[i - roc1]
        b2 = x[i - roc2]
        r1 = ((x[i] / b1) - 1.0) * 100.0 if b1 != 0.0 else 0.0
        r2 = ((x[i] / b2) - 1.0) * 100.0 if b2 != 0.0 else 0.0
        roc_sum[i] = r1 + r2
    if n > first:
        ma_into_nb(roc_sum[first:], out[first:], wma_period, 2)
    out[: first + wma_period - 1] = np.nan


@njit(cache=True)
def dpo_into_nb(x, out, period):
    """Write TA-Lib DPO, x[t - (period // 2 + 1)] - SMA(x, period)[t].

    The first value waits for the displaced bar as well as the SMA (period 2 starts at bar
    2); the SMA's running sum starts where that first value needs it, as TA-Lib's does.
    """
    n = x.shape[0]
    shift = period // 2 + 1
    first = max(period - 1, shift)
    if n <= first:
        return
    total = sum_nb(x, first - period + 1, first)
    for i in range(first, n):
        total += x[i]
        value = total
        total -= x[i - period + 1]
        out[i] = x[i - shift] - value / period


@njit(cache=True)
def dx_into_nb(high, low, close, out, period):
    """Write TA-Lib DX, 100 |-DI - +DI| / (-DI + +DI) from Wilder's DMI sums.

    The first value is 0 when it cannot be formed; afterwards a bar whose TR sum is 0, or
    whose DIs sum to 0 (``TA_IS_ZERO``), repeats the previous DX.
    """
    n = high.shape[0]
    if n <= period:
        return
    inv = 1.0 / period
    sum_p, sum_m, sum_tr = dmi_seed_nb(high, low, close, period)
    prev = 0.0
    for i in range(period, n):
        sum_p, sum_m, sum_tr = dmi_step_nb(high, low, close, i, inv, sum_p, sum_m, sum_tr)
        has_dx, dx = _dx_nb(sum_p, sum_m, sum_tr)
        if has_dx:
            prev = dx
        out[i] = prev


@njit(cache=True)
def dm_into_nb(high, low, out, period, plus):
    """Write TA-Lib PLUS_DM (``plus``) or MINUS_DM: Wilder's running sum of the one-bar DM.

    The first value (bar ``period - 1``) is the plain sum of the first ``period - 1`` DMs;
    period 1 gives each bar's DM from bar 1.
    """
    inv = 1.0 / period
    total = 0.0
    for i in range(1, high.shape[0]):
        p, m = directional_move_nb(high[i], high[i - 1], low[i], low[i - 1])
        if i < period:
            total += p if plus else m
        else:  # at period 1, prev - prev * 1 + dm: the DM itself, exactly
            total = wilder_sum_step_nb(total, p if plus else m, inv)
        if i >= period - 1:
            out[i] = total


@njit(cache=True)
def er_into_nb(x, out, period):
    """Write TA-Lib ER (Kaufman's efficiency ratio): |x[t] - x[t-n]| / sum |one-bar changes|.

    1 where the path sum is at most |net change| (a flat window, or a straight run either way:
    unlike KAMA's ratio, which compares with the signed change, a straight fall is pinned to 1
    too, never 1 + 1 ulp); the path sum slides (subtract, then add) and is reset to exactly 0
    after ``period`` zero changes in a row.
    """
    n = x.shape[0]
    if n <= period:
        return
    path = 0.0
    still = 0
    for i in range(period):
        d = x[i] - x[i + 1]
        path += abs(d)
        still = still + 1 if d == 0.0 else 0
    net = x[period] - x[0]
    out[period] = 1.0 if path <= abs(net) else abs(net / path)
    for i in range(period + 1, n):
        old = x[i - period]
        net = x[i] - old
        path -= abs(x[i - period - 1] - old)
        d = x[i] - x[i - 1]
        path += abs(d)
        still = still + 1 if d == 0.0 else 0
        if still >= period:
            still = period
            path = 0.0
        out[i] = 1.0 if path <= abs(net) else abs(net / path)


@writes_all
@njit(cache=True)
def eri_into_nb(high, low, close, bull, bear, period):
    """Write TA-Lib ERI (Elder ray): high - EMA(close) and low - EMA(close).

    The EMA is stepped as ``ema_into_nb`` does, on a scalar: the former NaN-filled EMA
    array of the input's length faulted in 8 MB of fresh pages on every call at 1 M bars,
    the cause of the 3.3x gap to TA-Lib; the driver's NaN fill of the two outputs (now
    skipped: ``writes_all``) was the rest (1.25x, the kernel alone 1.0x).
    """
    k = 2.0 / (period + 1)
    ema = total = 0.0
    for i in range(high.shape[0]):
        if period == 1:  # the close itself (an EMA step with k = 1 may round)
            ema = close[i]
        else:
            ema, total = ema_stage_nb(i, period, k, close[i], ema, total)
        if i < period - 1:
            bull[i] = bear[i] = np.nan
            continue
        bull[i] = high[i] - ema
        bear[i] = low[i] - ema


@writes_all
@njit(cache=True)
def fosc_into_nb(x, out, period):
    """Write TA-Lib FOSC (forecast oscillator): 100 (x[t] - TSF[t - 1]) / x[t], the close
    against the regression forecast made one bar earlier; 0 where the close is 0.

    The forecasts are written into ``out`` shifted by one bar and replaced in place: the
    NaN-filled array of forecasts (input length) it used to allocate, plus the driver's NaN
    fill, made it 1.4-2.5x TA-Lib's time.
    """
    n = x.shape[0]
    if n > period:
        linreg_into_nb(x[: n - 1], out[1:], period, LINREG_TSF)  # out[t] = TSF[t - 1]
    for t in range(period, n):
        v = x[t]
        out[t] = 100.0 * (v - out[t]) / v if v != 0.0 else 0.0
    out[:period] = np.nan


@njit(cache=True)
def fractal_into_nb(high, low, swing_high, swing_low, left, right):
    """Write TA-Lib FRACTAL's integer flags: 100 at bar t when bar t - right has a high
    (low) strictly above (below) every other bar of the ``left + right + 1`` window.

    One loop over the window, the pivot skipped: reading the bars before and after the
    pivot through four slices a bar (each with numba's clamping of its bounds) took 1.2-1.4x
    TA-Lib's time, this loop 0.7x; per-bar branches on the extremes mispredicted (2.2x).
    """
    w = left + right
    for s in range(high.shape[0] - w):  # window s: bars s .. s + w, pivot s + left
        other_hi = -np.inf
        other_lo = np.inf
        for k in range(w + 1):
            if k != left:
                other_hi = max(other_hi, high[s + k])
                other_lo = min(other_lo, low[s + k])
        swing_high[s + w] = 100 if high[s + left] > other_hi else 0
        swing_low[s + w] = 100 if low[s + left] < other_lo else 0


@njit(cache=True)
def imi_into_nb(open_, close, out, period):
    """Write TA-Lib IMI, 100 up / (up + down) over the candle bodies of ``period`` bars; 50
    (neutral) where every body in the window is exactly empty."""
    n = open_.shape[0]
    for t in range(period - 1, n):
        up = down = 0.0
        for i in range(t - period + 1, t + 1):
            if close[i] > open_[i]:
                up += close[i] - open_[i]
            else:
                down += open_[i] - close[i]
        total = up + down
        out[t] = 100.0 * (up / total) if total > 0.0 else 50.0


@writes_all
@njit(cache=True)
def kdj_into_nb(high, low, close, k, d, j, fastk_p, slowk_p, slowk_t, slowd_p, slowd_t):
    """Write TA-Lib KDJ: STOCH's %K and %D (any MA type, Wilder's by default) and
    J = 3 K - 2 D."""
    slowk_t = own_default_nb(slowk_t, MA_WILDER)
    slowd_t = own_default_nb(slowd_t, MA_WILDER)
    start = stoch_into_nb(high, low, close, k, d, fastk_p, slowk_p, slowk_t, slowd_p, slowd_t)
    j[:start] = np.nan
    for i in range(start, high.shape[0]):
        j[i] = 3.0 * k[i] - 2.0 * d[i]


@writes_all
@njit(cache=True)
def macdext_into_nb(x, macd, signal, hist, fast, fast_t, slow, slow_t, signal_p, signal_t):
    """Write TA-Lib MACDEXT: MA(fast) - MA(slow) of any MA types, and MA(signal) of that.

    Periods (with their types) are swapped when slow < fast. Both MAs start at the larger
    of their lookbacks, as TA-Lib calls them with that start index: each one runs over the
    series from its start minus its own lookback, so a shorter MA is seeded later, not at
    bar 0 (an EMA fast leg is seeded like MACD's).

    The MAs are made in the outputs, which the kernel writes whole (``writes_all``): four
    NaN-filled temporaries of the input's length and the driver's NaN fill of the outputs
    were the whole gap (1.6x TA-Lib's time; the kernel alone on written outputs 0.9x).
    """
    fast_t = own_default_nb(fast_t, 0)
    slow_t = own_default_nb(slow_t, 0)
    signal_t = own_default_nb(signal_t, 0)
    if slow < fast:
        fast, slow = slow, fast
        fast_t, slow_t = slow_t, fast_t
    n = x.shape[0]
    lb_fast = ma_ext_lookback_nb(fast, fast_t)
    lb_slow = ma_ext_lookback_nb(slow, slow_t)
    lb_line = max(lb_fast, lb_slow)
    start = lb_line + ma_ext_lookback_nb(signal_p, signal_t)
    if start < n:
        # MA(fast) in ``hist`` and MA(slow) in ``signal`` until the results replace them
        ma_ext_into_nb(x[lb_line - lb_fast :], hist[lb_line - lb_fast :], fast, fast_t)
        ma_ext_into_nb(x[lb_line - lb_slow :], signal[lb_line - lb_slow :], slow, slow_t)
        for i in range(lb_line, n):
            macd[i] = hist[i] - signal[i]
        ma_ext_into_nb(macd[lb_line:], signal[lb_line:], signal_p, signal_t)
        for i in range(start, n):
            hist[i] = macd[i] - signal[i]
    macd[:start] = np.nan
    signal[:start] = np.nan
    hist[:start] = np.nan


@writes_all
@njit(cache=True)
def macdfix_into_nb(x, macd, signal, hist, signal_period):
    """Write TA-Lib MACDFIX: MACD 12/26 with the fixed EMA constants 0.15 and 0.075 (not
    2 / (n + 1): 0.1538... and 0.0741...), seeded as MACD; the signal EMA uses 2 / (n + 1)."""
    _macd_emas_into_nb(x, macd, signal, hist, 12, 26, signal_period, 0.15, 0.075)


@writes_all
@njit(cache=True)
def smi_into_nb(high, low, close, smi, smi_signal, period, fast, slow, signal_p):
    """Write TA-Lib SMI (Blau's stochastic momentum index) and its signal EMA.

    The momentum close - (highest + lowest) / 2 and the range highest - lowest of each
    ``period``-bar window are smoothed by EMA(slow) then EMA(fast), each seeded with the mean
    of its first inputs; SMI = 100 num / (den / 2), 0 where the smoothed range is not positive.

    The window extremes come from ``max_min_into_nb``'s branch-free blocks, written into the
    outputs and read back bar by bar: the keep-the-index-and-rescan scheme (``window_max_nb``)
    mispredicted a branch on most new extremes, 2.0x TA-Lib's time (1 M one-minute bars).
    """
    n = high.shape[0]
    start = (period - 1) + (slow - 1) + (fast - 1) + (signal_p - 1)
    max_min_into_nb(high, low, smi, smi_signal, period)  # (highest, lowest) until replaced
    k_slow = 2.0 / (slow + 1)
    k_fast = 2.0 / (fast + 1)
    k_sig = 2.0 / (signal_p + 1)
    s_num = s_den = f_num = f_den = sig = 0.0
    t_sn = t_sd = t_fn = t_fd = t_sig = 0.0  # the stages' seed sums
    for i in range(period - 1, n):
        hi = smi[i]
        lo = smi_signal[i]
        j = i - (period - 1)  # the input count of the slow stage
        s_num, t_sn = ema_stage_nb(j, slow, k_slow, close[i] - ((hi + lo) * 0.5), s_num, t_sn)
        s_den, t_sd = ema_stage_nb(j, slow, k_slow, hi - lo, s_den, t_sd)
        j -= slow - 1
        if j < 0:
            continue
        f_num, t_fn = ema_stage_nb(j, fast, k_fast, s_num, f_num, t_fn)
        f_den, t_fd = ema_stage_nb(j, fast, k_fast, s_den, f_den, t_fd)
        j -= fast - 1
        if j < 0:
            continue
        half = 0.5 * f_den
        value = (100.0 * f_num) / half if half > 0.0 else 0.0
        sig, t_sig = ema_stage_nb(j, signal_p, k_sig, value, sig, t_sig)
        smi[i] = value
        smi_signal[i] = sig
    smi[:start] = np.nan
    smi_signal[:start] = np.nan


@njit(cache=True)
def stochrsi_into_nb(x, fastk, fastd, period, fastk_p, fastd_p, fastd_t):
    """Write TA-Lib STOCHRSI: STOCHF run over the RSI line as its high, low and close.

    So %K is the raw (unsmoothed) stochastic of RSI, 0 where RSI's window has no range, and
    %D its MA; there is no slow %K, whatever the name suggests.
    """
    if x.shape[0] <= period:
        return
    rsi = nan_like_nb(x)
    rsi_into_nb(x, rsi, period)
    r = rsi[period:]
    fastd_t = own_default_nb(fastd_t, 0)
    stochf_into_nb(r, r, r, fastk[period:], fastd[period:], fastk_p, fastd_p, fastd_t)


@njit(cache=True)
def trix_into_nb(x, out, period):
    """Write TA-Lib TRIX: the one-bar rate of change, in percent, of EMA(EMA(EMA(x))).

    The three EMAs run in one pass on scalars. Measured cause of the old 9.7x gap: three
    NaN-filled intermediate arrays per call, whose fresh pages were faulted in each time
    (see ``dema_into_nb``), plus a fourth pass for the rate of change.
    """
    n = x.shape[0]
    lb = period - 1
    if n <= 3 * lb + 1:
        return
    k = 2.0 / (period + 1)
    e1, e2, e3 = ema_chain_seed_nb(x, period, 3)
    for i in range(3 * lb + 1, n):
        e1 = fma_nb(x[i] - e1, k, e1)
        e2 = fma_nb(e1 - e2, k, e2)
        prev = e3
        e3 = fma_nb(e2 - e3, k, e3)
        out[i] = ((e3 / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0


@njit(cache=True)
def tsi_into_nb(x, out, first_p, second_p):
    """Write TA-Lib TSI: 100 EMA(EMA(change)) / EMA(EMA(|change|)), 0 where the smoothed
    magnitude is not positive; each EMA is seeded with the mean of its first inputs."""
    k1 = 2.0 / (first_p + 1)
    k2 = 2.0 / (second_p + 1)
    e1_num = e1_den = e2_num = e2_den = 0.0
    t1_num = t1_den = t2_num = t2_den = 0.0  # the stages' seed sums
    for i in range(1, x.shape[0]):
        mom = x[i] - x[i - 1]
        j = i - 1  # the input count of the first stage
        e1_num, t1_num = ema_stage_nb(j, first_p, k1, mom, e1_num, t1_num)
        e1_den, t1_den = ema_stage_nb(j, first_p, k1, abs(mom), e1_den, t1_den)
        j -= first_p - 1
        if j < 0:
            continue
        e2_num, t2_num = ema_stage_nb(j, second_p, k2, e1_num, e2_num, t2_num)
        e2_den, t2_den = ema_stage_nb(j, second_p, k2, e1_den, e2_den, t2_den)
        if j >= second_p - 1:
            out[i] = (100.0 * e2_num) / e2_den if e2_den > 0.0 else 0.0


@njit(inline="always")
def _ultosc_terms_nb(high, low, close, i):
    """Bar ``i``'s close minus true low and true range (i >= 1)."""
    return close[i] - min(low[i], close[i - 1]), true_range_nb(high[i], low[i], close[i - 1])


@writes_all
@njit(cache=True, error_model="numpy")
def ultosc_into_nb(high, low, close, out, p1, p2, p3):
    """Write TA-Lib ULTOSC: 100 (4 A1/B1 + 2 A2/B2 + A3/B3) / 7 over the three periods sorted
    shortest first, A the sums of close - true low and B of true range.

    As TA-Lib 0.8: once a window holds only bars of zero true range (so zero A terms too),
    its two sums are reset to exactly 0, dropping their rounding residue; a ratio whose B sum
    is not positive is left out (its weight still counts in the 7). Caught on the flat
    stretches of ``synthetic_rough`` and confirmed on prices scaled by 1e-15.

    The last ``c`` bars' terms live in a ring of ``c`` slots: the old two arrays of the
    input's length made every call fault in 16 MB of fresh pages (measured with
    ``getrusage``: 3,875 minor faults a call at 1 M bars, none for TA-Lib), the cause of
    the 2.8x gap. What remains (1.2-1.3x) is the four divisions a bar, the three ratios and
    the ``/ 7`` (TA-Lib has the same four): measured with the kernel alone, 1.19x; without
    the ``/ 7``, 1.11x; without any division, 0.92x. The seed and main loops written apart
    (no selects on the sums) measured 1.29x.
    """
    a = min(p1, p2, p3)
    c = max(p1, p2, p3)
    b = p1 + p2 + p3 - a - c
    out[:c] = np.nan
    # the last c bars' terms, bar j at j % c (c is small: the ring stays in L1)
    ring_cm = np.zeros(c)
    ring_tr = np.zeros(c)
    a1 = b1 = a2 = b2 = a3 = b3 = 0.0
    still = 0  # bars of zero true range in a row
    # ring positions of bars i (pos), then (from bar c) i - a + 1, i - b + 1 and i - c + 1
    pos = 1 % c
    pa = (c - a + 1) % c
    pb = (c - b + 1) % c
    pc = 1 % c
    for i in range(1, high.shape[0]):
        cmtl, tr = _ultosc_terms_nb(high, low, close, i)
        ring_cm[pos] = cmtl
        ring_tr[pos] = tr
        pos = pos + 1 if pos + 1 < c else 0
        if i > c - a:  # the windows fill from their first bars on
            a1 += cmtl
            b1 += tr
        if i > c - b:
            a2 += cmtl
            b2 += tr
        a3 += cmtl
        b3 += tr
        still = still + 1 if tr == 0.0 else 0
        if i < c:
            continue
        if still >= a:
            a1 = b1 = 0.0
            if still >= b:
                a2 = b2 = 0.0
                if still >= c:
                    still = c
                    a3 = b3 = 0.0
        value = 0.0
        if b1 > 0.0:
            value += 4.0 * (a1 / b1)
        if b2 > 0.0:
            value += 2.0 * (a2 / b2)
        if b3 > 0.0:
            value += a3 / b3
        a1 -= ring_cm[pa]
        b1 -= ring_tr[pa]
        a2 -= ring_cm[pb]
        b2 -= ring_tr[pb]
        a3 -= ring_cm[pc]
        b3 -= ring_tr[pc]
        pa = pa + 1 if pa + 1 < c else 0
        pb = pb + 1 if pb + 1 < c else 0
        pc = pc + 1 if pc + 1 < c else 0
        out[i] = 100.0 * (value / 7.0)


@njit(cache=True)
def vhf_into_nb(x, out, period):
    """Write TA-Lib VHF: (highest - lowest of the last ``period`` closes) / the sum of the last
    ``period`` |changes|, summed afresh for each bar; 0 for an exactly flat window."""
    n = x.shape[0]
    for t in range(period, n):
        hi = x[t]
        lo = hi
        path = 0.0
        for i in range(t - period + 1, t + 1):
            v = x[i]
            path += abs(v - x[i - 1])
            if v > hi:
                hi = v
            if v < lo:
                lo = v
        out[t] = (hi - lo) / path if path > 0.0 else 0.0


@writes_all
@njit(cache=True, error_model="numpy")
def vortex_into_nb(high, low, close, plus_vi, minus_vi, period):
    """Write TA-Lib VORTEX: sums over ``period`` bars of |high - previous low| and
    |low - previous high|, each over the sum of true ranges; 0 where that sum is not positive.

    The TR sum (only it) is reset to exactly 0 after ``period`` zero true ranges in a row.
    ``error_model="numpy"``: numba's default model tests each divisor for zero (to raise
    ZeroDivisionError) with a branch per division; the divisions here are guarded and
    kernels never raise. The window's terms live in a ring of ``period`` rows: recomputing
    the departing bar's true range and moves (with numba's negative-index checks on
    ``close[t - 1]``) took 1.3-1.5x TA-Lib's time, the ring 0.7x.
    """
    ring = np.zeros(
        (period, 3)
    )  # bar j's (TR, |high - prev low|, |low - prev high|), row j % period
    s_tr = s_p = s_m = 0.0
    still = 0
    pos = 1 % period
    for i in range(1, high.shape[0]):
        tr = true_range_nb(high[i], low[i], close[i - 1])
        ring[pos, 0] = tr
        ring[pos, 1] = abs(high[i] - low[i - 1])
        ring[pos, 2] = abs(low[i] - high[i - 1])
        s_tr += tr
        s_p += ring[pos, 1]
        s_m += ring[pos, 2]
        pos = pos + 1 if pos + 1 < period else 0  # now the row of the departing bar
        still = still + 1 if tr == 0.0 else 0
        if i < period:
            continue
        if still >= period:
            still = period
            s_tr = 0.0
        plus_vi[i] = s_p / s_tr if s_tr > 0.0 else 0.0
        minus_vi[i] = s_m / s_tr if s_tr > 0.0 else 0.0
        s_tr -= ring[pos, 0]
        s_p -= ring[pos, 1]
        s_m -= ring[pos, 2]
    plus_vi[:period] = np.nan
    minus_vi[:period] = np.nan


@writes_all
@njit(cache=True)
def wad_into_nb(high, low, close, out):
    """Write TA-Lib WAD (Williams' accumulation/distribution, no volume): the running sum of
    close - min(low, previous close) on up closes and close - max(high, previous close) on
    down closes; the first bar adds 0."""
    n = high.shape[0]
    if n == 0:
        return
    total = 0.0
    prev = close[0]
    for i in range(n):
        c = close[i]
        if c > prev:
            total += c - min(low[i], prev)
        elif c < prev:
            total += c - max(high[i], prev)
        out[i] = total
        prev = c


ROC, ROCP, ROCR, ROCR100, MOM = 0, 1, 2, 3, 4  # the ``kind`` of ``roc_into_nb``


@writes_all
@njit(cache=True)
def roc_into_nb(close, out, period, kind):
    """numba equivalent of ``talib.ROC`` (``kind`` ROC: 100 (price / old - 1)), ``ROCP``
    ((price - old) / old), ``ROCR`` (price / old), ``ROCR100`` (100 price / old), each 0
    where the old price is 0, or ``talib.MOM`` (``MOM``: price - old).

    Over slices indexed from 0: written as ``close[i] - close[i - period]``, numba's
    negative-index wrap-around check made LLVM vectorize MOM's loads as gathers
    (``vgatherqpd`` in ``inspect_asm``), 2.2x TA-Lib's time. LLVM unswitches the loop on
    ``kind``, so each kind's loop vectorizes (``vsubpd``, ``vdivpd``). MOM's kernel takes
    TA-Lib's time; bench.kernels measured it 1.3-1.7x because the pandas contender runs
    just before it in each round and leaves the allocator to fault in fresh pages for the
    next output (without pandas in the round: 0.97x).
    """
    out[:period] = np.nan
    m = close.shape[0] - period
    new = close[period:]
    old = close[: max(m, 0)]
    dst = out[period:]
    for j in range(m):
        if kind == MOM:
            dst[j] = new[j] - old[j]
        elif old[j] == 0.0:
            dst[j] = 0.0
        elif kind == ROC:
            dst[j] = ((new[j] / old[j]) - 1.0) * 100.0
        elif kind == ROCP:
            dst[j] = (new[j] - old[j]) / old[j]
        elif kind == ROCR:
            dst[j] = new[j] / old[j]
        else:
            dst[j] = (new[j] / old[j]) * 100.0


@njit(cache=True)
def aroonosc_into_nb(high, low, out, period):
    """numba equivalent of ``talib.AROONOSC``: Aroon up - Aroon down."""
    aroon_into_nb(high, low, out, out, period, True)


@writes_all
@njit(cache=True)
def bop_into_nb(open_, high, low, close, out):
    """numba equivalent of ``talib.BOP``: (close - open) / (high - low), 0 where the range is
    not positive (tested exactly, as TA-Lib 0.8: prices scaled by 1e-15 keep their values)."""
    for i in range(close.shape[0]):
        rng = high[i] - low[i]
        out[i] = (close[i] - open_[i]) / rng if rng > 0.0 else 0.0


@writes_all
@njit(cache=True)
def qstick_into_nb(open_, close, out, period):
    """numba equivalent of ``talib.QSTICK``: SMA(close - open), in ``sma_into_nb``'s order.

    One pass over the prices: the array ``close - open`` it used to average (8 MB at 1 M
    bars) faulted in ~3,500 fresh pages a call (``ru_minflt``), 5x TA-Lib's time.
    """
    out[: period - 1] = np.nan
    n = close.shape[0]
    if n < period:
        return
    total = 0.0
    for i in range(period - 1):
        total += close[i] - open_[i]
    for i in range(period - 1, n):
        total += close[i] - open_[i]
        out[i] = total / period
        j = i - period + 1
        total -= close[j] - open_[j]
