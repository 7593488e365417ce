"""Volume indicators (TA-Lib group "Volume Indicators")."""

import numpy as np
from numba import njit

from compute.kernels.common import fma_nb
from compute.kernels.driver import writes_all
from compute.kernels.momentum import apo_into_nb, ema_stage_nb


@writes_all
@njit(cache=True)
def obv_into_nb(close, volume, out):
    """numba equivalent of ``talib.OBV``: starts at the first volume."""
    n = close.shape[0]
    if n == 0:
        return
    obv = volume[0]
    prev = close[0]
    for i in range(n):
        c = close[i]
        if c > prev:
            obv += volume[i]
        elif c < prev:
            obv -= volume[i]
        out[i] = obv
        prev = c


@writes_all
@njit(cache=True)
def ad_into_nb(high, low, close, volume, out):
    """numba equivalent of ``talib.AD`` (Chaikin A/D line).

    The kernel alone takes TA-Lib's time (0.98x); the driver's NaN fill of the output
    before it (now skipped: ``writes_all``) made it 1.25x.
    """
    ad = 0.0
    for i in range(high.shape[0]):
        ad += _money_flow_volume_nb(high[i], low[i], close[i], volume[i])
        out[i] = ad


@njit(cache=True)
def _money_flow_volume_nb(h, lo, c, v):
    """Chaikin's money flow volume of one bar, as TA-Lib AD/ADOSC/CMF: 0 when high <= low."""
    rng = h - lo
    if rng > 0.0:
        return ((c - lo) - (h - c)) / rng * v
    return 0.0


@njit(cache=True)
def adosc_into_nb(high, low, close, volume, out, fast, slow):
    """Write TA-Lib ADOSC into ``out``: EMA(fast) - EMA(slow) of the A/D line.

    Both EMAs start at the first A/D value (no SMA seed) and step as TA-Lib 0.8's binary does,
    ``fma(1 - k, ema, k * ad)``; the first value comes after the slower period's warm-up.
    ``fast`` is not required to be the shorter period: ADOSC(10, 3) = EMA10 - EMA3.
    """
    n = high.shape[0]
    lb = max(fast, slow) - 1
    if n <= lb:
        return
    fast_k = 2.0 / (fast + 1.0)
    slow_k = 2.0 / (slow + 1.0)
    fast_1k = 1.0 - fast_k
    slow_1k = 1.0 - slow_k
    ad = _money_flow_volume_nb(high[0], low[0], close[0], volume[0])
    fast_ema = ad
    slow_ema = ad
    for i in range(1, n):
        ad += _money_flow_volume_nb(high[i], low[i], close[i], volume[i])
        fast_ema = fma_nb(fast_1k, fast_ema, fast_k * ad)
        slow_ema = fma_nb(slow_1k, slow_ema, slow_k * ad)
        if i >= lb:
            out[i] = fast_ema - slow_ema


@njit(cache=True, error_model="numpy")
def cmf_into_nb(high, low, close, volume, out, timeperiod):
    """numba equivalent of ``talib.CMF``: Chaikin money flow, the sum
    of money flow volume over the sum of volume in each window (0 when the volume sum <= 0).

    Running sums in TA-Lib's order: remove the departing bar, add the new one, divide.
    The departing bar's money flow volume comes from a ring of the window's values rather
    than being computed again (a second division per bar: 2x TA-Lib's time).
    """
    ring = np.empty(timeperiod)  # bar j's money flow volume at j % timeperiod
    sum_mfv = sum_vol = 0.0
    pos = 0  # the slot of bar i, and of bar i - timeperiod, the departing one
    for i in range(high.shape[0]):
        if i >= timeperiod:
            sum_mfv -= ring[pos]
            sum_vol -= volume[i - timeperiod]
        mfv = _money_flow_volume_nb(high[i], low[i], close[i], volume[i])
        ring[pos] = mfv
        pos = pos + 1 if pos + 1 < timeperiod else 0
        sum_mfv += mfv
        sum_vol += volume[i]
        if i >= timeperiod - 1:
            out[i] = sum_mfv / sum_vol if sum_vol > 0.0 else 0.0


@njit(cache=True)
def efi_into_nb(close, volume, out, timeperiod):
    """numba equivalent of ``talib.EFI``: Elder's force index, an EMA
    of (close - previous close) * volume seeded with the mean of the first ``timeperiod``
    forces; period 1 is the raw force. Steps are TA-Lib 0.8's ``fma(x - prev, k, prev)``."""
    k = 2.0 / (timeperiod + 1)
    ema = total = 0.0
    for i in range(1, close.shape[0]):
        force = (close[i] - close[i - 1]) * volume[i]
        if timeperiod == 1:
            out[i] = force
            continue
        ema, total = ema_stage_nb(i - 1, timeperiod, k, force, ema, total)
        if i >= timeperiod:
            out[i] = ema


@writes_all
@njit(cache=True)
def marketfi_into_nb(high, low, volume, out):
    """numba equivalent of ``talib.MARKETFI``: (high - low) / volume, 0 on a zero-volume bar."""
    for i in range(high.shape[0]):
        v = volume[i]
        out[i] = (high[i] - low[i]) / v if v != 0.0 else 0.0


@writes_all
@njit(cache=True)
def volume_index_into_nb(close, volume, out, positive):
    """TA-Lib NVI (``positive`` False) or PVI: an index starting at 1000 that compounds the
    close's percent change on bars whose volume fell (NVI) or rose (PVI) from the bar before;
    a zero previous close, or a step that would overflow to +-inf, leaves it unchanged."""
    n = close.shape[0]
    if n == 0:
        return
    index = 1000.0
    prev_close = close[0]
    prev_vol = volume[0]
    for i in range(n):
        c = close[i]
        v = volume[i]
        moved = v > prev_vol if positive else v < prev_vol
        if moved and prev_close != 0.0:
            step = index + (c - prev_close) / prev_close * index
            if np.isfinite(step):
                index = step
        out[i] = index
        prev_close = c
        prev_vol = v


@njit(cache=True)
def pvo_into_nb(volume, out, fastperiod, slowperiod, matype):
    """numba equivalent of ``talib.PVO``: 100 * (MA(fast) - MA(slow)) / MA(slow) of volume, 0
    where MA(slow) is TA_IS_ZERO, the periods swapped when slow < fast (PVO(26, 12) =
    PVO(12, 26)): TA-Lib's PPO over volume, which ``apo_into_nb`` computes."""
    apo_into_nb(volume, out, fastperiod, slowperiod, matype, True)


@writes_all
@njit(cache=True)
def pvt_into_nb(close, volume, out):
    """numba equivalent of ``talib.PVT``: price-volume trend, the
    running sum of volume * percent change of close (0 at the first bar and after a zero
    close)."""
    n = close.shape[0]
    if n == 0:
        return
    pvt = 0.0
    prev_close = close[0]
    for i in range(n):
        c = close[i]
        if prev_close != 0.0:
            pvt += (c - prev_close) / prev_close * volume[i]
        out[i] = pvt
        prev_close = c


@njit(cache=True, error_model="numpy")
def rvol_into_nb(volume, out, timeperiod):
    """numba equivalent of ``talib.RVOL``: relative volume, each bar's
    volume over the mean volume of the ``timeperiod`` bars before it.

    A running sum (remove the departing bar, then add the new one) that is reset to exactly 0
    once ``timeperiod`` consecutive zero volumes fill the window. As in TA-Lib, a zero baseline
    divides by zero: +inf, or NaN when the bar's volume is 0 too (hence numpy's error model).
    """
    n = volume.shape[0]
    total = baseline = 0.0
    zero_run = 0
    for i in range(n):
        if i >= timeperiod:
            baseline = total / timeperiod
            total -= volume[i - timeperiod]
        v = volume[i]
        total += v
        zero_run = zero_run + 1 if v == 0.0 else 0
        if i < timeperiod:
            continue
        if zero_run >= timeperiod:
            zero_run = timeperiod
            total = 0.0
        out[i] = v / baseline


@writes_all
@njit(cache=True)
def vwap_into_nb(high, low, close, volume, out):
    """numba equivalent of ``talib.VWAP``: cumulative typical price
    (h + l + c) / 3 weighted by volume from the segment's first bar (no session reset).

    Bars with a non-finite typical price or volume are skipped; before any volume has traded
    the value is 0, and a zero-volume bar repeats the previous value.
    """
    n = high.shape[0]
    sum_pv = sum_v = vwap = 0.0
    for i in range(n):
        typ = (high[i] + low[i] + close[i]) / 3.0
        v = volume[i]
        pv = typ * v
        if np.isfinite(typ) and np.isfinite(v):
            sum_pv += pv
            sum_v += v
        if sum_v > 0.0:
            vwap = sum_pv / sum_v
        out[i] = vwap
