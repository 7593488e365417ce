"""Overlap studies (TA-Lib group "Overlap Studies")."""

from compute.indicators._registry import Indicator, period, register
from compute.kernels import overlap as k

GROUP = "Overlap Studies"

register(
    Indicator(
        name="sma",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30),),
        outputs=("real",),
        kernel=k.sma_seg_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 20}, {"timeperiod": 200}),
        doc="Simple moving average",
    )
)

register(
    Indicator(
        name="ema",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30),),
        outputs=("real",),
        kernel=k.ema_seg_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 12}, {"timeperiod": 100}),
        doc="Exponential moving average seeded with the SMA of the first timeperiod values",
    )
)
