"""Overlap studies: moving averages and bands (TA-Lib group "Overlap Studies")."""

import numpy as np
from numba import njit

from compute.kernels.common import ema_into_nb, nan_like_nb, sma_into_nb, var_into_nb
from compute.kernels.ma import ma_into_nb


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


@njit(cache=True)
def wma_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.WMA`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        ma_into_nb(close[a:b], out[a:b], timeperiod, 2)
    return (out,)


@njit(cache=True)
def dema_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.DEMA`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        ma_into_nb(close[a:b], out[a:b], timeperiod, 3)
    return (out,)


@njit(cache=True)
def tema_seg_nb(close, offsets, timeperiod):
    """numba equivalent of ``talib.TEMA`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        ma_into_nb(close[a:b], out[a:b], timeperiod, 4)
    return (out,)


@njit(cache=True)
def bbands_into_nb(x, upper, middle, lower, period, nbdevup, nbdevdn, matype):
    """Write TA-Lib BBANDS: an MA of ``matype`` +/- nbdev population standard deviations.

    The deviation is always STDDEV(x, period) (TA-Lib >= 0.7 dropped the SMA-specific
    formula), and the bands start where both the MA and the deviation have a value.
    """
    n = x.shape[0]
    ma_into_nb(x, middle, period, matype)
    var = np.empty(n)
    var_into_nb(x, var, period)
    for i in range(n):
        if i < period - 1 or np.isnan(middle[i]):
            middle[i] = np.nan
            continue
        std = np.sqrt(var[i])
        upper[i] = middle[i] + std * nbdevup
        lower[i] = middle[i] - std * nbdevdn


@njit(cache=True)
def bbands_seg_nb(close, offsets, timeperiod, nbdevup, nbdevdn, matype):
    """numba equivalent of ``talib.BBANDS`` applied to each segment."""
    upper = nan_like_nb(close)
    middle = nan_like_nb(close)
    lower = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        bbands_into_nb(
            close[a:b], upper[a:b], middle[a:b], lower[a:b], timeperiod, nbdevup, nbdevdn, matype
        )
    return upper, middle, lower


@njit(cache=True)
def bb_position_seg_nb(close, offsets, timeperiod, nbdevup, nbdevdn, matype):
    """(close - lowerband) / (upperband - lowerband) of ``talib.BBANDS``, per segment; NaN in
    the warm-up and where the band width is 0."""
    upper, _, lower = bbands_seg_nb(close, offsets, timeperiod, nbdevup, nbdevdn, matype)
    out = nan_like_nb(close)
    for i in range(close.shape[0]):
        width = upper[i] - lower[i]
        if width != 0.0:  # a NaN width (warm-up) passes and gives NaN
            out[i] = (close[i] - lower[i]) / width
    return (out,)
