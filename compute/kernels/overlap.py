"""Overlap studies: moving averages and bands (TA-Lib group "Overlap Studies")."""

from numba import njit

from compute.kernels.common import ema_into_nb, nan_like_nb, sma_into_nb


@njit(cache=True)
def sma_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.SMA`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        sma_into_nb(close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def ema_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.EMA`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        ema_into_nb(close[a:b], out[a:b], timeperiod, 0)
    return (out,)
