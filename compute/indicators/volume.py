"""Volume Indicators (TA-Lib group "Volume Indicators")."""

from compute.indicators._registry import Indicator, register
from compute.kernels import volume as k

GROUP = "Volume Indicators"

register(
    Indicator(
        name="obv",
        group=GROUP,
        inputs=("close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.obv_seg_nb,
        lookback=lambda: 0,
        doc="On-balance volume, starting at the first bar's volume",
    )
)

register(
    Indicator(
        name="ad",
        group=GROUP,
        inputs=("high", "low", "close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.ad_seg_nb,
        lookback=lambda: 0,
        doc="Chaikin accumulation/distribution line",
    )
)
