"""Ehlers' Hilbert-transform family as TA-Lib computes it: HT_* and MAMA.

One pass, ``hilbert_nb``, runs the machinery every function shares, in TA-Lib's arithmetic
order: the 4-bar WMA price smoother (running-sum form), the four 4-bar weighted filters
(detrender, Q1, jI, jQ) with separate histories for odd and even bars, the homodyne
discriminator (I2/Q2, Re/Im) and the period clamped to [0.67x, 1.5x] of the previous one and
to [6, 50], then smoothed 0.2/0.8 and 0.33/0.67. It writes per-bar arrays (I1, Q1, smoothed
price, smoothed period); each function then derives its outputs from them:

- HT_DCPERIOD, HT_PHASOR, MAMA: state starts at bar 12, first output at 32;
- HT_DCPHASE, HT_SINE, HT_TRENDLINE, HT_TRENDMODE: state starts at bar 37, first output at
  63, so their internal period differs from HT_DCPERIOD's on the same bar (TA-Lib's warm-up
  loops differ: 9 versus 34 smoother bars before the Hilbert state starts);
- the DC phase is a DFT of the smoothed price over the last int(period + 0.5) bars (a
  50-bar ring that holds zeros before the state starts); the trendline averages the raw
  price over the same window.

TA-Lib's default unstable period is 0, which is what these reproduce. Like TA-Lib's Python
wrapper, leading NaNs are skipped: a series starts at its first non-NaN value (``hilbert_nb``
finds it and returns the bars the others start from). Every kernel writes the warm-up's NaNs
itself (``writes_all``).

TA-Lib 0.8 computes several of the smoothing steps with C's ``fma`` (one rounding for
``a*b + c``), in both its generic and its FMA-instruction builds; ``fma_nb`` reproduces each
of them, which makes every output here equal to TA-Lib's to the bit (tests/unit/test_cycle.py).
Where an expression has two products, which one is fused follows TA-Lib's binary.
"""

import math

import numpy as np
from numba import njit

from compute.kernels.common import first_valid_nb, fma_nb
from compute.kernels.driver import writes_all

A = 0.0962
B = 0.5769
_ATAN1 = math.atan(1.0)
# TA-Lib writes 180/(4*atan(1)) in some functions and 45/atan(1) in others: equal to the bit,
# since multiplying by 4 is exact.
RAD2DEG = 45.0 / _ATAN1
DEG2RAD = 1.0 / RAD2DEG
TWO_PI = _ATAN1 * 8.0

SHORT_WARM = 9  # smoother bars before the Hilbert state starts, lookback 32 functions
LONG_WARM = 34  # same, lookback 63 functions
SHORT_LOOKBACK = 32
LONG_LOOKBACK = 63

DETRENDER, Q1, JI, JQ = 0, 1, 2, 3


def mama_lookback() -> int:
    """TA-Lib's MAMA lookback (unstable period 0), whatever the limits."""
    return SHORT_LOOKBACK


@njit(cache=True)
def hilbert_filter_nb(state, f, parity, k, value, adjust):
    """TA-Lib's 4-bar Hilbert filter ``f`` on a bar of ``parity``, in its operation order.

    Equals ``(A*v[t] + B*v[t-2] - B*v[t-4] - A*v[t-6]) * adjust``: each parity keeps its own
    3-slot ring of ``A*v`` (slot ``k``), the previous ``B*v`` and the previous input.
    """
    scaled = A * value
    out = 0.0 - state[f, parity, k]
    state[f, parity, k] = scaled
    out += scaled
    out -= state[f, parity, 3]
    state[f, parity, 3] = B * state[f, parity, 4]
    out += state[f, parity, 3]
    state[f, parity, 4] = value
    return out * adjust


@njit(cache=True)
def hilbert_nb(x, long_warm, i1_out, q1_out, smooth_out, period_out):
    """TA-Lib's shared Hilbert pass over ``x`` from its first non-NaN bar ``b``.

    Returns ``(t0, first)``: after ``3 + warm`` bars of the price smoother (``LONG_WARM`` with
    ``long_warm``, else ``SHORT_WARM``) the Hilbert state starts at bar ``t0``, and every bar
    ``t >= t0`` gets I1 (the detrender 3 bars earlier), Q1, the smoothed price and the
    smoothed period; ``first = b + lookback`` is the first bar with an output. An output
    passed as an empty array is not written. Which bars count as odd does not matter: the
    two histories start at zero, so swapping them changes nothing.
    """
    n = x.shape[0]
    b = first_valid_nb((x,), 0, n)
    t0 = b + 3 + (LONG_WARM if long_warm else SHORT_WARM)
    first = b + (LONG_LOOKBACK if long_warm else SHORT_LOOKBACK)
    if n <= t0:
        return t0, first
    keep_i1 = i1_out.shape[0] > 0
    keep_q1 = q1_out.shape[0] > 0
    keep_smooth = smooth_out.shape[0] > 0
    keep_period = period_out.shape[0] > 0

    wsub = wsum = x[b]
    for j in (1, 2):
        wsub += x[b + j]
        wsum += x[b + j] * (j + 1.0)
    trailing = 0.0
    trail_idx = b
    state = np.zeros((4, 2, 5))
    i1_prev2 = np.zeros(2)  # by parity of the bar that will read it
    i1_prev3 = np.zeros(2)
    k = 0
    period = smooth_period = prev_q2 = prev_i2 = re = im = 0.0
    for t in range(b + 3, n):
        v = x[t]
        wsub += v
        wsub -= trailing
        wsum += v * 4.0
        trailing = x[trail_idx]
        trail_idx += 1
        smoothed = wsum * 0.1
        wsum -= wsub
        if t < t0:  # the smoother's warm-up
            continue

        adjust = fma_nb(0.075, period, 0.54)

        p = t % 2
        i1 = i1_prev3[p]
        detrender = hilbert_filter_nb(state, DETRENDER, p, k, smoothed, adjust)
        q1 = hilbert_filter_nb(state, Q1, p, k, detrender, adjust)
        ji = hilbert_filter_nb(state, JI, p, k, i1, adjust)
        jq = hilbert_filter_nb(state, JQ, p, k, q1, adjust)
        if p == 0:
            k += 1
            if k == 3:
                k = 0
        q2 = fma_nb(0.2, q1 + ji, 0.8 * prev_q2)
        i2 = fma_nb(0.2, i1 - jq, 0.8 * prev_i2)
        # this bar's detrender is I1 three bars later, i.e. on a bar of the other parity
        i1_prev3[1 - p] = i1_prev2[1 - p]
        i1_prev2[1 - p] = detrender

        re = fma_nb(0.8, re, 0.2 * fma_nb(i2, prev_i2, q2 * prev_q2))
        im = fma_nb(0.8, im, 0.2 * (i2 * prev_q2 - q2 * prev_i2))
        prev_q2 = q2
        prev_i2 = i2
        prev_period = period
        if im != 0.0 and re != 0.0:
            period = 360.0 / (math.atan(im / re) * RAD2DEG)
        limit = 1.5 * prev_period
        if period > limit:
            period = limit
        limit = 0.67 * prev_period
        if period < limit:
            period = limit
        if period < 6.0:
            period = 6.0
        elif period > 50.0:
            period = 50.0
        period = fma_nb(0.2, period, 0.8 * prev_period)
        smooth_period = fma_nb(0.67, smooth_period, 0.33 * period)

        if keep_i1:
            i1_out[t] = i1
        if keep_q1:
            q1_out[t] = q1
        if keep_smooth:
            smooth_out[t] = smoothed
        if keep_period:
            period_out[t] = smooth_period
    return t0, first


@njit(cache=True)
def dc_phase_nb(smooth, smooth_period, t0, out):
    """TA-Lib's dominant-cycle phase (degrees) for bars ``t >= t0`` of ``hilbert_nb``'s pass.

    A DFT of the smoothed price over the last int(period + 0.5) bars; when its imaginary
    part is zero TA-Lib keeps the previous phase, moved by +-90 degrees.

    The sines and cosines of the DFT's angles depend only on the window (0 to 50 bars): each
    window's are computed once, on first use, by the same calls on the same angles, so the
    values are the same to the bit. Computed per term (two libm calls a term, ~40 a bar),
    they were ~90% of the time: 1.0-1.3x TA-Lib's, which does the same; 0.25x from the table.
    """
    sines = np.empty((51, 50))
    cosines = np.empty((51, 50))
    known = np.zeros(51, dtype=np.bool_)
    phase = 0.0
    for t in range(t0, smooth.shape[0]):
        sp = smooth_period[t]
        dc_int = int(sp + 0.5) if sp < 50.5 else 0  # the period is clamped to [6, 50]; NaN
        if not known[dc_int]:
            known[dc_int] = True
            for i in range(dc_int):
                angle = i * TWO_PI / dc_int
                sines[dc_int, i] = math.sin(angle)
                cosines[dc_int, i] = math.cos(angle)
        real_part = imag_part = 0.0
        for i in range(dc_int):
            j = t - i
            # TA-Lib's 50-slot ring of smoothed prices holds zeros before the state starts
            value = smooth[j] if j >= t0 else 0.0
            real_part += sines[dc_int, i] * value
            imag_part += cosines[dc_int, i] * value
        magnitude = abs(imag_part)
        if magnitude > 0.0:
            phase = math.atan(real_part / imag_part) * RAD2DEG
        elif magnitude <= 0.01:
            if real_part < 0.0:
                phase -= 90.0
            elif real_part > 0.0:
                phase += 90.0
        phase += 90.0
        phase += 360.0 / sp  # compensates the one-bar lag of the WMA smoother
        if imag_part < 0.0:
            phase += 180.0
        if phase > 315.0:
            phase -= 360.0
        out[t] = phase


@njit(cache=True)
def trendline_nb(x, smooth_period, t0, out):
    """TA-Lib's instantaneous trendline for bars ``t >= t0``: a 4-3-2-1 WMA of the raw
    price averaged over the last int(period + 0.5) bars."""
    it1 = it2 = it3 = 0.0
    for t in range(t0, x.shape[0]):
        dc_int = int(smooth_period[t] + 0.5)
        total = 0.0
        # the window never reaches before bar 0 (the period starts at 1.2 on bar 37 and
        # grows at most 10% a bar); min() only keeps the read in bounds
        for i in range(min(dc_int, t + 1)):
            total += x[t - i]
        if dc_int > 0:
            total = total / dc_int
        out[t] = (4.0 * total + 3.0 * it1 + 2.0 * it2 + it3) / 10.0
        it3 = it2
        it2 = it1
        it1 = total


@writes_all
@njit(cache=True)
def ht_dcperiod_into_nb(x, out):
    """Write ``talib.HT_DCPERIOD(x)`` into ``out``."""
    empty = np.empty(0)
    first = hilbert_nb(x, False, empty, empty, empty, out)[1]
    out[:first] = np.nan


@writes_all
@njit(cache=True)
def ht_phasor_into_nb(x, inphase, quadrature):
    """Write ``talib.HT_PHASOR(x)`` into the outputs."""
    empty = np.empty(0)
    first = hilbert_nb(x, False, inphase, quadrature, empty, empty)[1]
    inphase[:first] = np.nan
    quadrature[:first] = np.nan


@writes_all
@njit(cache=True)
def mama_into_nb(x, mama_out, fama_out, fastlimit, slowlimit):
    """Write ``talib.MAMA(x, fastlimit, slowlimit)`` into the outputs.

    For a moving-average dispatcher: TA-Lib's ``TA_MA`` with MAMA calls ``TA_MAMA`` over the
    bars it is given; a caller that starts MAMA later passes the slice from that bar.
    """
    n = x.shape[0]
    empty = np.empty(0)
    # I1 and Q1 go through the outputs, each read before it is overwritten
    t0, first = hilbert_nb(x, False, mama_out, fama_out, empty, empty)
    prev_phase = mama = fama = 0.0
    for t in range(t0, n):
        i1 = mama_out[t]
        q1 = fama_out[t]
        phase = math.atan(q1 / i1) * RAD2DEG if i1 != 0.0 else 0.0
        delta = prev_phase - phase
        prev_phase = phase
        if delta < 1.0:
            delta = 1.0
        if delta > 1.0:
            alpha = fastlimit / delta
            if alpha < slowlimit:
                alpha = slowlimit
        else:
            alpha = fastlimit
        mama = fma_nb(1.0 - alpha, mama, alpha * x[t])
        alpha *= 0.5
        fama = fma_nb(1.0 - alpha, fama, alpha * mama)
        mama_out[t] = mama
        fama_out[t] = fama
    mama_out[:first] = np.nan
    fama_out[:first] = np.nan


@writes_all
@njit(cache=True)
def ht_dcphase_into_nb(x, out, smooth, smooth_period):
    """Write ``talib.HT_DCPHASE(x)`` into ``out``; the rest is scratch."""
    empty = np.empty(0)
    t0, first = hilbert_nb(x, True, empty, empty, smooth, smooth_period)
    dc_phase_nb(smooth, smooth_period, t0, out)
    out[:first] = np.nan


@writes_all
@njit(cache=True)
def ht_sine_into_nb(x, sine, leadsine, smooth, smooth_period):
    """Write ``talib.HT_SINE(x)`` into the outputs; the rest is scratch."""
    empty = np.empty(0)
    t0, first = hilbert_nb(x, True, empty, empty, smooth, smooth_period)
    dc_phase_nb(smooth, smooth_period, t0, sine)
    for t in range(first, x.shape[0]):
        phase = sine[t]
        sine[t] = math.sin(phase * DEG2RAD)
        leadsine[t] = math.sin((phase + 45.0) * DEG2RAD)
    sine[:first] = np.nan
    leadsine[:first] = np.nan


@writes_all
@njit(cache=True)
def ht_trendline_into_nb(x, out, smooth_period):
    """Write ``talib.HT_TRENDLINE(x)`` into ``out``; the rest is scratch."""
    empty = np.empty(0)
    t0, first = hilbert_nb(x, True, empty, empty, empty, smooth_period)
    trendline_nb(x, smooth_period, t0, out)
    out[:first] = np.nan


@njit(cache=True)
def ht_trendmode_into_nb(x, out, smooth, smooth_period, phase, trendline):
    """Write ``talib.HT_TRENDMODE(x)`` (1 trend, 0 cycle) into the zero-filled int ``out``;
    the rest is scratch."""
    empty = np.empty(0)
    t0, first = hilbert_nb(x, True, empty, empty, smooth, smooth_period)
    dc_phase_nb(smooth, smooth_period, t0, phase)
    trendline_nb(x, smooth_period, t0, trendline)
    days_in_trend = 0
    prev_phase = sine = lead = 0.0
    for t in range(t0, x.shape[0]):
        prev_sine = sine
        prev_lead = lead
        sine = math.sin(phase[t] * DEG2RAD)
        lead = math.sin((phase[t] + 45.0) * DEG2RAD)
        trend = 1
        # a crossing of the sine and lead sine restarts the count of bars in trend
        if (sine > lead and prev_sine <= prev_lead) or (sine < lead and prev_sine >= prev_lead):
            days_in_trend = 0
            trend = 0
        days_in_trend += 1
        sp = smooth_period[t]
        if days_in_trend < 0.5 * sp:
            trend = 0
        change = phase[t] - prev_phase
        prev_phase = phase[t]
        if sp != 0.0 and (change > 0.67 * 360.0 / sp and change < 1.5 * 360.0 / sp):
            trend = 0
        line = trendline[t]
        if line != 0.0 and abs((smooth[t] - line) / line) >= 0.015:
            trend = 1
        if t >= first:
            out[t] = trend
