"""Statistic Functions (TA-Lib group "Statistic Functions")."""

from compute.indicators._registry import Indicator, Param, period, register
from compute.kernels import statistic as k

GROUP = "Statistic Functions"


def nbdev(doc: str) -> Param:
    """TA-Lib's ``nbdev``: a float in [-3e37, 3e37], default 1."""
    return Param("nbdev", 1.0, -3e37, 3e37, doc)


register(
    Indicator(
        name="stddev",
        group=GROUP,
        inputs=("close",),
        params=(period(default=5), nbdev("multiplier of the population standard deviation")),
        outputs=("real",),
        kernel=k.stddev_into_nb,
        kernel_args=(True,),
        lookback=lambda timeperiod, nbdev: timeperiod - 1,
        examples=(
            {"timeperiod": 2, "nbdev": 1.0},
            {"timeperiod": 20, "nbdev": 2.5},
            {"timeperiod": 10, "nbdev": -1.0},
        ),
        doc="Rolling population standard deviation times nbdev (0 where the variance < 1e-8)",
    )
)

register(
    Indicator(
        name="var",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=5, low=1, doc="period 1 gives 0"),
            nbdev("accepted for TA-Lib compatibility and ignored, as TA-Lib does"),
        ),
        outputs=("real",),
        kernel=k.stddev_into_nb,
        kernel_args=(False,),
        lookback=lambda timeperiod, nbdev: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 30, "nbdev": 3.0}),
        doc="Rolling population variance, E[x^2] - E[x]^2 as TA-Lib computes it",
    )
)

# BETA and CORREL take two series, TA-Lib's price0 and price1; talib.abstract feeds them
# high and low by default, and so does barpipe (pass other series under those names).
register(
    Indicator(
        name="beta",
        group=GROUP,
        inputs=("high", "low"),
        params=(period(default=5, low=1),),
        outputs=("real",),
        kernel=k.beta_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 20}),
        doc=(
            "Beta: slope of the regression of price1's (low's) one-bar returns on price0's "
            "(high's) over timeperiod returns; 0 where price0's returns do not vary"
        ),
    )
)

register(
    Indicator(
        name="correl",
        group=GROUP,
        inputs=("high", "low"),
        params=(period(default=30, low=1, doc="period 1 gives 0"),),
        outputs=("real",),
        kernel=k.correl_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 10}),
        doc=(
            "Pearson's correlation of price0 (high) and price1 (low) over timeperiod bars; "
            "0 where either series is flat"
        ),
    )
)

_LINREG_EXAMPLES = ({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 50})

register(
    Indicator(
        name="linearreg",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.linreg_into_nb,
        kernel_args=(k.LINREG_VALUE,),
        lookback=lambda timeperiod: timeperiod - 1,
        examples=_LINREG_EXAMPLES,
        doc="Least-squares line over timeperiod bars, evaluated at the newest bar",
    )
)

register(
    Indicator(
        name="linearreg_angle",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.linreg_into_nb,
        kernel_args=(k.LINREG_ANGLE,),
        lookback=lambda timeperiod: timeperiod - 1,
        examples=_LINREG_EXAMPLES,
        doc="Slope of the least-squares line in degrees: atan(slope) * 180 / pi, price per bar",
    )
)

register(
    Indicator(
        name="linearreg_intercept",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.linreg_into_nb,
        kernel_args=(k.LINREG_INTERCEPT,),
        lookback=lambda timeperiod: timeperiod - 1,
        examples=_LINREG_EXAMPLES,
        doc="Least-squares line over timeperiod bars, evaluated at the oldest bar of the window",
    )
)

register(
    Indicator(
        name="linearreg_slope",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.linreg_into_nb,
        kernel_args=(k.LINREG_SLOPE,),
        lookback=lambda timeperiod: timeperiod - 1,
        examples=_LINREG_EXAMPLES,
        doc="Slope of the least-squares line over timeperiod bars, price per bar",
    )
)

register(
    Indicator(
        name="tsf",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.linreg_into_nb,
        kernel_args=(k.LINREG_TSF,),
        lookback=lambda timeperiod: timeperiod - 1,
        examples=_LINREG_EXAMPLES,
        doc="Time series forecast: the least-squares line extended one bar past the window",
    )
)

register(
    Indicator(
        name="percentile",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=30),
            Param("percentile", 50.0, 0.0, 100.0, "percent, nearest rank (no interpolation)"),
        ),
        outputs=("real",),
        kernel=k.percentile_into_nb,
        lookback=lambda timeperiod, percentile: timeperiod - 1,
        examples=(
            {"timeperiod": 2, "percentile": 0.0},
            {"timeperiod": 10, "percentile": 90.0},
            {"timeperiod": 120, "percentile": 33.3},
        ),
        doc=(
            "Rolling nearest-rank percentile: the ceil(percentile * timeperiod / 100)-th "
            "smallest of the window (at least the smallest), always one of its values"
        ),
    )
)

register(
    Indicator(
        name="percentrank",
        group=GROUP,
        inputs=("close",),
        params=(period(default=100),),
        outputs=("real",),
        kernel=k.percentrank_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 20}),
        doc=(
            "Percent rank: the share (0-100) of the timeperiod bars before each bar, the bar "
            "itself excluded, strictly below it"
        ),
    )
)
