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
        kernel=k.trange_into_nb,
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
        kernel=k.atr_into_nb,
        kernel_args=(False,),
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
        kernel=k.atr_into_nb,
        kernel_args=(True,),
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 7}, {"timeperiod": 30}),
        doc="Normalised average true range: 100 * ATR / close",
    )
)

register(
    Indicator(
        name="adr",
        group=GROUP,
        inputs=("high", "low"),
        params=(period(default=14, low=1, doc="period 1 gives high - low"),),
        outputs=("real",),
        kernel=k.adr_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Average daily range: the simple moving average of high - low",
    )
)

register(
    Indicator(
        name="cvi",
        group=GROUP,
        inputs=("high", "low"),
        params=(
            period(default=10, doc="EMA period of the high - low range"),
            period("rocperiod", default=10, low=1, doc="bars between the compared EMA values"),
        ),
        outputs=("real",),
        kernel=k.cvi_into_nb,
        lookback=lambda timeperiod, rocperiod: timeperiod - 1 + rocperiod,
        examples=(
            {"timeperiod": 2, "rocperiod": 1},
            {"timeperiod": 5, "rocperiod": 20},
            {"timeperiod": 30, "rocperiod": 40},
        ),
        doc=(
            "Chaikin volatility: percent change over rocperiod bars of an EMA of high - low "
            "(0 where the earlier EMA is exactly 0)"
        ),
    )
)

register(
    Indicator(
        name="massi",
        group=GROUP,
        inputs=("high", "low"),
        params=(
            period("fastperiod", default=9, doc="period of both EMAs of the range"),
            period("slowperiod", default=25, doc="bars summed"),
        ),
        outputs=("real",),
        kernel=k.massi_into_nb,
        lookback=lambda fastperiod, slowperiod: 2 * (fastperiod - 1) + slowperiod - 1,
        examples=(
            {"fastperiod": 2, "slowperiod": 2},
            {"fastperiod": 5, "slowperiod": 40},
            {"fastperiod": 20, "slowperiod": 10},
        ),
        doc=(
            "Mass index: sum over slowperiod bars of EMA(high - low) / EMA(EMA(high - low)); "
            "a flat range (denominator exactly 0) counts as a ratio of 1"
        ),
    )
)

register(
    Indicator(
        name="rvi",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=14, low=1, doc="Wilder smoothing period of the up/down legs"),
            period("stddevperiod", default=10, doc="window of the standard deviation"),
        ),
        outputs=("real",),
        kernel=k.rvi_into_nb,
        lookback=lambda timeperiod, stddevperiod: stddevperiod - 1 + timeperiod - 1,
        examples=(
            {"timeperiod": 1, "stddevperiod": 2},
            {"timeperiod": 5, "stddevperiod": 20},
            {"timeperiod": 30, "stddevperiod": 5},
        ),
        doc=(
            "Relative volatility index (Dorsey): 100 * up / (up + down), Wilder averages of "
            "the rolling standard deviation on up and down closes; 50 when both are 0. Like "
            "every Wilder average its value depends on where the series starts (TA-Lib's "
            "unstable period for RVI is 0 and is not adjustable here)"
        ),
    )
)
