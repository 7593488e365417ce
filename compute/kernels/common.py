"""Building blocks shared by every family: NaN-filled allocation, rolling sums, EMA seeding.

Each block writes into a caller-provided output slice so that ``_seg_nb`` kernels can run
it segment by segment without allocating per symbol.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def nan_like_nb(x):
    """``np.full_like(x, np.nan)`` for float64 arrays."""
    out = np.empty(x.shape[0], dtype=np.float64)
    out[:] = np.nan
    return out


@njit(cache=True)
def sma_into_nb(x, out, period):
    """Write TA-Lib SMA of ``x`` into ``out`` (same length); leading ``period - 1`` stay NaN."""
    n = x.shape[0]
    if n < period:
        return
    inv = 1.0 / period
    total = 0.0
    for i in range(period - 1):
        total += x[i]
    for i in range(period - 1, n):
        total += x[i]
        out[i] = total * inv
        total -= x[i - period + 1]


@njit(cache=True)
def ema_into_nb(x, out, period, start):
    """Write TA-Lib EMA into ``out``, seeded with mean(x[start:start+period]) at start+period-1.

    ``start`` lets callers seed later than index 0 (MACD seeds its fast EMA at the slow
    EMA's start; DEMA/TEMA chain EMAs over earlier EMAs' valid region).
    """
    n = x.shape[0]
    first = start + period - 1
    if first >= n:
        return
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(start, first + 1):
        total += x[i]
    prev = total / period
    out[first] = prev
    for i in range(first + 1, n):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
