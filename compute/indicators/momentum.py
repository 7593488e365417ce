"""Momentum Indicators (TA-Lib group "Momentum Indicators")."""

from compute.indicators._registry import Indicator, matype, period, register
from compute.indicators.overlap import supported_matypes
from compute.kernels import momentum as k
from compute.kernels.ma import ma_lookback

GROUP = "Momentum Indicators"
HLC = ("high", "low", "close")


def _macd_lookback(fastperiod: int, slowperiod: int, signalperiod: int) -> int:
    return max(fastperiod, slowperiod) - 1 + signalperiod - 1


register(
    Indicator(
        name="macd",
        group=GROUP,
        inputs=("close",),
        params=(
            period("fastperiod", 12),
            period("slowperiod", 26, doc="swapped with fastperiod when smaller, as TA-Lib does"),
            period("signalperiod", 9, low=1, doc="1 makes the signal the MACD line itself"),
        ),
        outputs=("macd", "macdsignal", "macdhist"),
        kernel=k.macd_seg_nb,
        lookback=_macd_lookback,
        examples=(
            {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5},
            {"fastperiod": 26, "slowperiod": 12, "signalperiod": 9},
            {"fastperiod": 12, "slowperiod": 26, "signalperiod": 1},
        ),
        doc="Moving average convergence/divergence: EMA(fast) - EMA(slow), its EMA and the gap",
    )
)

register(
    Indicator(
        name="rsi",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.rsi_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 6}, {"timeperiod": 30}),
        doc="Relative strength index with Wilder smoothing (0 where nothing moved)",
    )
)

register(
    Indicator(
        name="roc",
        group=GROUP,
        inputs=("close",),
        params=(period(default=10, low=1),),
        outputs=("real",),
        kernel=k.roc_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 20}),
        doc="Rate of change in percent: 100 (price / price timeperiod bars ago - 1)",
    )
)

register(
    Indicator(
        name="mom",
        group=GROUP,
        inputs=("close",),
        params=(period(default=10, low=1),),
        outputs=("real",),
        kernel=k.mom_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 20}),
        doc="Momentum: price - price timeperiod bars ago",
    )
)

register(
    Indicator(
        name="willr",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.willr_seg_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Williams' %R in [-100, 0] (0 where the window has no range)",
    )
)

register(
    Indicator(
        name="stoch",
        group=GROUP,
        inputs=HLC,
        params=(
            period("fastk_period", 5, low=1),
            period("slowk_period", 3, low=1, doc="period 1 leaves %K unsmoothed"),
            matype("slowk_matype"),
            period("slowd_period", 3, low=1, doc="period 1 makes %D equal to slow %K"),
            matype("slowd_matype"),
        ),
        outputs=("slowk", "slowd"),
        kernel=k.stoch_seg_nb,
        lookback=lambda fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype: (
            fastk_period
            - 1
            + ma_lookback(slowk_period, slowk_matype)
            + ma_lookback(slowd_period, slowd_matype)
        ),
        examples=(
            {
                "fastk_period": 14,
                "slowk_period": 3,
                "slowk_matype": 0,
                "slowd_period": 3,
                "slowd_matype": 0,
            },
            {
                "fastk_period": 5,
                "slowk_period": 3,
                "slowk_matype": 1,
                "slowd_period": 3,
                "slowd_matype": 0,
            },
            {
                "fastk_period": 9,
                "slowk_period": 5,
                "slowk_matype": 4,
                "slowd_period": 1,
                "slowd_matype": 2,
            },
        ),
        checks=(supported_matypes("slowk_matype", "slowd_matype"),),
        doc="Slow stochastic: %K smoothed by an MA, and %D, an MA of slow %K",
    )
)

register(
    Indicator(
        name="stochf",
        group=GROUP,
        inputs=HLC,
        params=(
            period("fastk_period", 5, low=1),
            period("fastd_period", 3, low=1, doc="period 1 makes %D equal to %K"),
            matype("fastd_matype"),
        ),
        outputs=("fastk", "fastd"),
        kernel=k.stochf_seg_nb,
        lookback=lambda fastk_period, fastd_period, fastd_matype: (
            fastk_period - 1 + ma_lookback(fastd_period, fastd_matype)
        ),
        examples=(
            {"fastk_period": 14, "fastd_period": 3, "fastd_matype": 0},
            {"fastk_period": 5, "fastd_period": 5, "fastd_matype": 1},
            {"fastk_period": 9, "fastd_period": 4, "fastd_matype": 3},
        ),
        checks=(supported_matypes("fastd_matype"),),
        doc="Fast stochastic: raw %K (0 where the window has no range) and its MA %D",
    )
)

register(
    Indicator(
        name="cci",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.cci_seg_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 20}),
        doc="Commodity channel index over typical prices, with Lambert's 0.015",
    )
)

register(
    Indicator(
        name="adx",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.adx_seg_nb,
        lookback=lambda timeperiod: 2 * timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Average directional movement index (Wilder)",
    )
)

register(
    Indicator(
        name="plus_di",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14, low=1, doc="period 1 gives +DM / TR as a fraction"),),
        outputs=("real",),
        kernel=k.plus_di_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Plus directional indicator: 100 Wilder-smoothed +DM / smoothed true range",
    )
)

register(
    Indicator(
        name="minus_di",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14, low=1, doc="period 1 gives -DM / TR as a fraction"),),
        outputs=("real",),
        kernel=k.minus_di_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Minus directional indicator: 100 Wilder-smoothed -DM / smoothed true range",
    )
)

register(
    Indicator(
        name="mfi",
        group=GROUP,
        inputs=("high", "low", "close", "volume"),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.mfi_seg_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Money flow index: 100 positive money flow / total money flow",
    )
)
