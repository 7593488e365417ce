"""Statistic functions (TA-Lib group "Statistic Functions")."""

import numpy as np
from numba import njit

from compute.kernels.common import fma_nb, nan_head_nb, var_into_nb, writes_all


@writes_all
@njit(cache=True)
def stddev_into_nb(x, out, period, nbdev, root):
    """numba equivalent of ``talib.STDDEV`` (``root``: sqrt(VAR) * nbdev) or ``talib.VAR``
    (TA-Lib ignores ``nbdev`` there).

    The square roots run over a 0-indexed slice, so the pass vectorizes (``out[i]`` from
    ``period - 1`` carried numba's negative-index check and stayed scalar). It writes its
    warm-up: the driver's NaN fill of the output was VAR's gap to TA-Lib (1.23x).
    """
    nan_head_nb(out, period - 1)
    var_into_nb(x, out, period)
    if root and x.shape[0] >= period:
        dst = out[period - 1 :]
        for j in range(dst.shape[0]):
            dst[j] = np.sqrt(dst[j]) * nbdev


@njit(cache=True)
def _return_nb(price, prev, shift):
    """One-bar return of ``price`` over ``prev`` less ``shift``; a zero ``prev`` counts as 0."""
    if prev == 0.0:
        return -shift
    return (price - prev) / prev - shift


@njit(cache=True)
def _pair_sums_nb(x0, x1, lo, hi, shift_x, shift_y, returns):
    """(Sx, Sy, Sxx, Syy, Sxy) over bars ``lo..hi-1`` of the two series' values (with
    ``returns``, of their one-bar returns, ``_return_nb``) less the shifts."""
    s_x = s_y = s_xx = s_yy = s_xy = 0.0
    for j in range(lo, hi):
        if returns:
            x = _return_nb(x0[j], x0[j - 1], shift_x)
            y = _return_nb(x1[j], x1[j - 1], shift_y)
        else:
            x = x0[j] - shift_x
            y = x1[j] - shift_y
        s_x += x
        s_y += y
        s_xx += x * x
        s_yy += y * y
        s_xy += x * y
    return s_x, s_y, s_xx, s_yy, s_xy


@njit(cache=True)
def _recentred_sums_nb(x0, x1, lo, hi, returns, period):
    """The reseed of BETA (``returns``) and CORREL: the shifts become the window's mean
    values, then (shift_x, shift_y, ``_pair_sums_nb`` less them)."""
    s_x, s_y, _, _, _ = _pair_sums_nb(x0, x1, lo, hi, 0.0, 0.0, returns)
    if returns:  # BETA divides by the period, CORREL multiplies by its inverse
        shift_x = s_x / period
        shift_y = s_y / period
    else:
        shift_x = s_x * (1.0 / period)
        shift_y = s_y * (1.0 / period)
    return (shift_x, shift_y, *_pair_sums_nb(x0, x1, lo, hi, shift_x, shift_y, returns))


@njit(cache=True)
def beta_into_nb(x0, x1, out, period):
    """Write TA-Lib BETA into ``out``: the regression slope of x1's one-bar returns on x0's
    over ``period`` returns; 0 where the denominator is below 1e-14 of its scale.

    As TA-Lib 0.8 does, the running sums hold returns less a shift (first the window's first
    return, after a reseed the window's mean return) and are rebuilt when the denominator
    n*Sxx - Sx^2 falls below 1e-6 of n*Sxx, when the departing squared return of either series
    exceeds 1000 times the remaining sum of squares, or every 32 * period bars.
    """
    n = x0.shape[0]
    if n <= period:
        return
    fn = float(period)
    shift_x = _return_nb(x0[1], x0[0], 0.0)
    shift_y = _return_nb(x1[1], x1[0], 0.0)
    s_x, s_y, s_xx, s_yy, s_xy = _pair_sums_nb(x0, x1, 1, period, shift_x, shift_y, True)
    leaving_xx = 0.0
    leaving_yy = 0.0
    budget = 32 * period
    for i in range(period, n):
        x = _return_nb(x0[i], x0[i - 1], shift_x)
        y = _return_nb(x1[i], x1[i - 1], shift_y)
        s_x += x
        s_xx += x * x
        s_yy += y * y
        s_xy += x * y
        s_y += y
        scale = fn * s_xx
        den = scale - s_x * s_x
        budget -= 1
        if (
            den < 1e-6 * scale
            or leaving_xx > 1000.0 * s_xx
            or leaving_yy > 1000.0 * s_yy
            or budget <= 0
        ):
            budget = 32 * period
            shift_x, shift_y, s_x, s_y, s_xx, s_yy, s_xy = _recentred_sums_nb(
                x0, x1, i - period + 1, i + 1, True, period
            )
            scale = fn * s_xx
            den = max(scale - s_x * s_x, 0.0)
        t = i - period + 1  # the departing return: bar t over bar t - 1
        x = _return_nb(x0[t], x0[t - 1], shift_x)
        y = _return_nb(x1[t], x1[t - 1], shift_y)
        out[i] = (fn * s_xy - s_x * s_y) / den if den > 1e-14 * scale else 0.0
        leaving_xx = x * x
        leaving_yy = y * y
        s_x -= x
        s_y -= y
        s_xy -= x * y
        s_xx -= leaving_xx
        s_yy -= leaving_yy


@njit(cache=True)
def correl_into_nb(x0, x1, out, period):
    """Write TA-Lib CORREL into ``out``: Pearson's r over each ``period``-bar window, clamped
    to [-1, 1]; 0 where either sum of squared deviations is below 1e-14 of its scale.

    As TA-Lib 0.8 does, the running sums hold values less a shift (first the window's first
    values, after a reseed the window means) and are rebuilt when either extracted sum of
    squares falls below 1e-6 of the raw one, when a departing squared deviation exceeds 1e6
    times the remaining sum, or every 32 * period bars.
    """
    n = x0.shape[0]
    if n < period:
        return
    inv = 1.0 / float(period)
    shift_x = x0[0]
    shift_y = x1[0]
    s_x, s_y, s_x2, s_y2, s_xy = _pair_sums_nb(x0, x1, 0, period - 1, shift_x, shift_y, False)
    leaving_x = 0.0
    leaving_y = 0.0
    budget = 32 * period
    for t in range(period - 1, n):
        x = x0[t] - shift_x
        y = x1[t] - shift_y
        s_x += x
        s_x2 += x * x
        s_xy += x * y
        s_y += y
        s_y2 += y * y
        ss_x = s_x2 - (s_x * s_x) * inv
        ss_y = s_y2 - (s_y * s_y) * inv
        sp_xy = s_xy - (s_x * s_y) * inv
        budget -= 1
        if (
            ss_x < 1e-6 * s_x2
            or ss_y < 1e-6 * s_y2
            or leaving_x > 1e6 * s_x2
            or leaving_y > 1e6 * s_y2
            or budget <= 0
        ):
            budget = 32 * period
            shift_x, shift_y, s_x, s_y, s_x2, s_y2, s_xy = _recentred_sums_nb(
                x0, x1, t - period + 1, t + 1, False, period
            )
            ss_x = max(s_x2 - (s_x * s_x) * inv, 0.0)
            ss_y = max(s_y2 - (s_y * s_y) * inv, 0.0)
            sp_xy = s_xy - (s_x * s_y) * inv
        tx = x0[t - period + 1] - shift_x
        ty = x1[t - period + 1] - shift_y
        if ss_x > 1e-14 * s_x2 and ss_y > 1e-14 * s_y2:
            out[t] = min(max(sp_xy / np.sqrt(ss_x * ss_y), -1.0), 1.0)
        else:
            out[t] = 0.0
        leaving_x = tx * tx
        leaving_y = ty * ty
        s_x -= tx
        s_x2 -= leaving_x
        s_xy -= tx * ty
        s_y -= ty
        s_y2 -= leaving_y


LINREG_VALUE = 0  # LINEARREG: the fitted value at the newest bar
LINREG_SLOPE = 1
LINREG_INTERCEPT = 2
LINREG_ANGLE = 3  # the slope in degrees
LINREG_TSF = 4  # TSF: the fit extrapolated one bar ahead
RAD_TO_DEG = 57.29577951308232  # 180 / pi as TA-Lib rounds it


@njit(cache=True)
def _linreg_sums_nb(x, lo, hi, period):
    """Fresh (sum_y, sum_xy, sum_|y|) over ``x[lo:hi]``, the oldest bar weighted period - 1."""
    sum_y = 0.0
    sum_xy = 0.0
    sum_abs = 0.0
    w = float(period - 1)
    for j in range(lo, hi):
        v = x[j]
        prod = v * w
        sum_y += v
        sum_abs += abs(v)
        w -= 1.0
        sum_xy += prod
    return sum_y, sum_xy, sum_abs


@writes_all
@njit(cache=True)
def linreg_into_nb(x, out, period, kind):
    """Write TA-Lib's least-squares line over each ``period``-bar window into ``out``: the
    value at the newest bar, slope, intercept, angle or one-bar forecast (``kind``).

    TA-Lib 0.8 keeps running sums (x counts bars back from the newest, so the intercept is the
    line's value at the oldest bar) and recomputes them from scratch every 32 * period bars or
    when the departing term dwarfs the window (|period * old| > 100 * sum |y|); LINEARREG and
    TSF finish with one fused multiply-add, m * (period - 1) + b and m * period + b.
    It writes its warm-up (``writes_all``): the driver's NaN fill of the output was most of
    LINEARREG_SLOPE's gap to TA-Lib (1.23x; the loop alone 1.10x).
    """
    n = x.shape[0]
    nan_head_nb(out, period - 1)
    if n < period:
        return
    fn = float(period)
    sum_x = fn * (fn - 1.0) * 0.5
    sum_x_sqr = (2.0 * fn - 1.0) * (fn * (fn - 1.0)) / 6.0
    divisor = sum_x * sum_x - sum_x_sqr * fn
    sum_y, sum_xy, sum_abs = _linreg_sums_nb(x, 0, period, period)
    budget = 32 * period
    for t in range(period - 1, n):
        if t >= period:
            budget -= 1
            new = x[t]
            old = x[t - period]
            n_old = fn * old
            sum_abs = abs(new) + (sum_abs - abs(old))
            if budget == 0 or abs(n_old) > 100.0 * sum_abs:
                sum_y, sum_xy, sum_abs = _linreg_sums_nb(x, t - period + 1, t + 1, period)
                budget = 32 * period
            else:
                sum_xy = (sum_xy + sum_y) - n_old
                sum_y = (sum_y - old) + new
        m = (fn * sum_xy - sum_x * sum_y) / divisor
        if kind == LINREG_SLOPE:
            out[t] = m
        elif kind == LINREG_ANGLE:
            out[t] = np.arctan(m) * RAD_TO_DEG
        else:
            b = (sum_y - sum_x * m) / fn
            if kind == LINREG_VALUE:
                out[t] = fma_nb(m, fn - 1.0, b)
            elif kind == LINREG_TSF:
                out[t] = fma_nb(m, fn, b)
            else:
                out[t] = b


@writes_all
@njit(cache=True)
def percentile_into_nb(x, out, period, percentile):
    """Write TA-Lib PERCENTILE into ``out``: the nearest-rank percentile of each window, the
    ceil(percentile * period / 100)-th smallest value (at least the 1st), no interpolation.

    The window is kept sorted: each bar finds the departing value's slot and its own by
    counting, in one pass, the values below the one and up to the other, then moves only
    the values between the two slots by one. Measured cause of the former 1.6x TA-Lib's
    time (period 30, 44 ns/bar): two binary searches a bar, ten data-dependent branches
    that a random walk leaves unpredictable; the counts are branch-free and vectorize
    (29 ns/bar, TA-Lib's time).
    """
    n = x.shape[0]
    nan_head_nb(out, period - 1)
    rank = int(np.ceil(percentile * float(period) / 100.0))
    rank = min(max(rank, 1), period)
    window = np.empty(period, dtype=np.float64)
    for t in range(n):
        v = x[t]
        size = min(t, period)
        old = x[t - period] if t >= period else v
        below_old = 0
        slot = 0  # after v's equals
        for j in range(size):
            below_old += window[j] < old
            slot += window[j] <= v
        gone = below_old if t >= period else size  # the departing value's first equal
        if gone < slot:  # the departing value is among those before v
            slot -= 1
            for j in range(gone, slot):
                window[j] = window[j + 1]
        else:
            for j in range(gone, slot, -1):
                window[j] = window[j - 1]
        window[slot] = v
        if t >= period - 1:
            out[t] = window[rank - 1]


@njit(cache=True)
def percentrank_into_nb(x, out, period):
    """numba equivalent of ``talib.PERCENTRANK``: the share (in %) of the ``period`` bars
    before each bar, excluding the bar itself, strictly below it.

    The window is a slice indexed from 0 and the count adds comparisons: indexed as
    ``x[j]`` with ``j`` from ``t - period``, numba's negative-index wrap-around check and
    the branch kept the inner loop scalar (3.2x TA-Lib's time); now it vectorizes.
    """
    for t in range(period, x.shape[0]):
        current = x[t]
        window = x[t - period : t]
        count = 0
        for j in range(period):
            count += window[j] < current
        out[t] = float(count) / float(period) * 100.0
