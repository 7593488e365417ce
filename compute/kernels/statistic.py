"""Statistic functions (TA-Lib group "Statistic Functions")."""

import numpy as np
from numba import njit

from compute.kernels.common import nan_like_nb, var_into_nb


@njit(cache=True)
def var_seg_nb(close, offsets, timeperiod, nbdev):
    """numba equivalent of ``talib.VAR`` applied to each segment (TA-Lib ignores ``nbdev``)."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        var_into_nb(close[a:b], out[a:b], timeperiod)
    return (out,)


@njit(cache=True)
def stddev_seg_nb(close, offsets, timeperiod, nbdev):
    """numba equivalent of ``talib.STDDEV`` applied to each segment."""
    out = nan_like_nb(close)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        var_into_nb(close[a:b], out[a:b], timeperiod)
        for i in range(a + timeperiod - 1, b):
            out[i] = np.sqrt(out[i]) * nbdev
    return (out,)
