"""Volume indicators (TA-Lib group "Volume Indicators")."""

from numba import njit

from compute.kernels.common import nan_like_nb


@njit(cache=True)
def obv_seg_nb(close, volume, offsets):
    """numba equivalent of ``talib.OBV`` applied to each segment: starts at the first volume."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        if a == b:
            continue
        obv = volume[a]
        prev = close[a]
        for i in range(a, b):
            c = close[i]
            if c > prev:
                obv += volume[i]
            elif c < prev:
                obv -= volume[i]
            out[i] = obv
            prev = c
    return (out,)


@njit(cache=True)
def ad_seg_nb(high, low, close, volume, offsets):
    """numba equivalent of ``talib.AD`` applied to each segment (Chaikin A/D line)."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        ad = 0.0
        for i in range(a, b):
            h, lo, c = high[i], low[i], close[i]
            rng = h - lo
            if rng > 0.0:
                ad += (((c - lo) - (h - c)) / rng) * volume[i]
            out[i] = ad
    return (out,)
