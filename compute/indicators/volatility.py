"""Volatility Indicators (TA-Lib group "Volatility Indicators")."""

from compute.indicators._registry import Indicator, period, register
from compute.kernels import volatility as k

GROUP = "Volatility Indicators"
HLC = ("high", "low", "close")

register(
    Indicator(
        name="trange",
        group=GROUP,
        inputs=HLC,
        params=(),
        outputs=("real",),
        kernel=k.trange_seg_nb,
        lookback=lambda: 1,
        doc="True range: max(high - low, |high - previous close|, |low - previous close|)",
    )
)

register(
    Indicator(
        name="atr",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14, low=1, doc="period 1 gives the true range"),),
        outputs=("real",),
        kernel=k.atr_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Average true range, Wilder-smoothed, seeded with the mean of the first true ranges",
    )
)

register(
    Indicator(
        name="natr",
        group=GROUP,
        inputs=HLC,
        params=(
            period(
                default=14,
                low=1,
                doc="period 1 gives the true range, not normalised (as TA-Lib does)",
            ),
        ),
        outputs=("real",),
        kernel=k.natr_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 7}, {"timeperiod": 30}),
        doc="Normalised average true range: 100 * ATR / close",
    )
)
