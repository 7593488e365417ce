"""Price transforms (TA-Lib group "Price Transform"): per-bar combinations of a bar's prices,
the mean absolute deviation, and Heikin-Ashi candles.

Sums are taken in TA-Lib's order (AVGPRICE adds ((high + low) + close) + open, HA adds
((open + high) + low) + close): a different order is a different double on some bars.
"""

from numba import njit

from compute.kernels.driver import writes_all


@writes_all
@njit(cache=True)
def avgprice_into_nb(open_, high, low, close, out):
    """numba equivalent of ``talib.AVGPRICE``: (open + high + low + close) / 4 per bar."""
    for i in range(close.shape[0]):
        out[i] = (high[i] + low[i] + close[i] + open_[i]) / 4.0


@writes_all
@njit(cache=True)
def medprice_into_nb(high, low, out):
    """numba equivalent of ``talib.MEDPRICE``: (high + low) / 2 per bar."""
    for i in range(high.shape[0]):
        out[i] = (high[i] + low[i]) / 2.0


@writes_all
@njit(cache=True)
def typprice_into_nb(high, low, close, out):
    """numba equivalent of ``talib.TYPPRICE``: (high + low + close) / 3 per bar."""
    for i in range(close.shape[0]):
        out[i] = (high[i] + low[i] + close[i]) / 3.0


@writes_all
@njit(cache=True)
def wclprice_into_nb(high, low, close, out):
    """numba equivalent of ``talib.WCLPRICE``: (high + low + 2 close) / 4 per bar."""
    for i in range(close.shape[0]):
        out[i] = (high[i] + low[i] + close[i] * 2.0) / 4.0


@njit(cache=True)
def avgdev_into_nb(x, out, period):
    """Write TA-Lib AVGDEV, the mean absolute deviation from the window's mean, into ``out``.

    Two passes over each window, as TA-Lib does: the sum from the newest bar back, then the
    deviations from ``sum / period``; a running sum would differ in the last bits.

    Each window is read through a reversed view: indexed as ``x[j]`` with ``j`` counting
    down, every read carried numba's negative-index wrap-around fix (three integer
    instructions per element in ``inspect_asm``), which kept fewer windows in flight in the
    out-of-order core (the two serial sums of each window are latency-bound): 1.6x TA-Lib's
    time, 1.1x through the view.
    """
    for i in range(period - 1, x.shape[0]):
        window = x[i - period + 1 : i + 1][::-1]  # newest first
        total = 0.0
        for v in window:
            total += v
        mean = total / period
        dev = 0.0
        for v in window:
            dev += abs(v - mean)
        out[i] = dev / period


@writes_all
@njit(cache=True)
def ha_into_nb(open_, high, low, close, ha_open, ha_high, ha_low, ha_close):
    """Write TA-Lib HA (Heikin-Ashi) candles.

    The first candle opens at (open + close) / 2 of its bar; each later one opens at the
    midpoint of the previous candle's open and close. The close is the bar's mean price, and
    the high (low) is the largest (smallest) of the bar's high (low) and the candle's open
    and close.

    Halving and quartering multiply by 0.5 and 0.25, which equals dividing to the bit (a
    power-of-two scale is exact), and keeps a 13-cycle division off the open's
    loop-carried chain ``o = (o + c) / 2``: the cause of most of the 2.2x gap (the four
    outputs' fresh pages are the rest).
    """
    n = close.shape[0]
    if n == 0:
        return
    o = (open_[0] + close[0]) * 0.5
    c = (open_[0] + high[0] + low[0] + close[0]) * 0.25
    for i in range(n):
        if i > 0:
            o = (o + c) * 0.5
            c = (open_[i] + high[i] + low[i] + close[i]) * 0.25
        hi = high[i]
        if o > hi:
            hi = o
        if c > hi:
            hi = c
        lo = low[i]
        if o < lo:
            lo = o
        if c < lo:
            lo = c
        ha_open[i] = o
        ha_high[i] = hi
        ha_low[i] = lo
        ha_close[i] = c
