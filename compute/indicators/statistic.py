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
        kernel=k.stddev_seg_nb,
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
        kernel=k.var_seg_nb,
        lookback=lambda timeperiod, nbdev: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 30, "nbdev": 3.0}),
        doc="Rolling population variance, E[x^2] - E[x]^2 as TA-Lib computes it",
    )
)
