"""Volume Indicators (TA-Lib group "Volume Indicators")."""

from compute.indicators._registry import Indicator, matype, period, register
from compute.kernels import volume as k
from compute.kernels.ma import ma_lookback
from compute.kernels.momentum import apo_into_nb

GROUP = "Volume Indicators"

register(
    Indicator(
        name="obv",
        group=GROUP,
        inputs=("close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.obv_into_nb,
        kernel_args=(False,),
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
        kernel=k.ad_into_nb,
        lookback=lambda: 0,
        doc="Chaikin accumulation/distribution line",
    )
)

HLCV = ("high", "low", "close", "volume")

register(
    Indicator(
        name="adosc",
        group=GROUP,
        inputs=HLCV,
        params=(period("fastperiod", default=3), period("slowperiod", default=10)),
        outputs=("real",),
        kernel=k.adosc_into_nb,
        lookback=lambda fastperiod, slowperiod: max(fastperiod, slowperiod) - 1,
        examples=(
            {"fastperiod": 2, "slowperiod": 2},
            {"fastperiod": 5, "slowperiod": 30},
            {"fastperiod": 10, "slowperiod": 3},
        ),
        doc=(
            "Chaikin A/D oscillator: EMA(fastperiod) - EMA(slowperiod) of the A/D line, both "
            "started at the first A/D value; not reordered, so (10, 3) gives EMA10 - EMA3"
        ),
    )
)

register(
    Indicator(
        name="cmf",
        group=GROUP,
        inputs=HLCV,
        params=(period(default=20),),
        outputs=("real",),
        kernel=k.cmf_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 60}),
        doc="Chaikin money flow: sum of money flow volume / sum of volume over timeperiod bars",
    )
)

register(
    Indicator(
        name="efi",
        group=GROUP,
        inputs=("close", "volume"),
        params=(period(default=13, low=1, doc="period 1 gives the raw force"),),
        outputs=("real",),
        kernel=k.efi_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 30}),
        doc="Elder's force index: EMA of (close - previous close) * volume",
    )
)

register(
    Indicator(
        name="marketfi",
        group=GROUP,
        inputs=("high", "low", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.marketfi_into_nb,
        lookback=lambda: 0,
        doc="Market facilitation index (Bill Williams): (high - low) / volume, 0 at zero volume",
    )
)

register(
    Indicator(
        name="nvi",
        group=GROUP,
        inputs=("close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.volume_index_into_nb,
        kernel_args=(False,),
        lookback=lambda: 0,
        doc="Negative volume index: starts at 1000, follows the close on bars of falling volume",
    )
)

register(
    Indicator(
        name="pvi",
        group=GROUP,
        inputs=("close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.volume_index_into_nb,
        kernel_args=(True,),
        lookback=lambda: 0,
        doc="Positive volume index: starts at 1000, follows the close on bars of rising volume",
    )
)

register(
    Indicator(
        name="pvo",
        group=GROUP,
        inputs=("volume",),
        params=(
            period("fastperiod", default=12),
            period("slowperiod", default=26),
            matype(default=1),
        ),
        outputs=("real",),
        kernel=apo_into_nb,  # PPO over volume
        kernel_args=(True,),
        lookback=lambda fastperiod, slowperiod, matype: ma_lookback(
            max(fastperiod, slowperiod), matype
        ),
        examples=(
            {"fastperiod": 5, "slowperiod": 20, "matype": 0},
            {"fastperiod": 26, "slowperiod": 12, "matype": 1},
            {"fastperiod": 3, "slowperiod": 10, "matype": 8},
        ),
        doc=(
            "Percentage volume oscillator: 100 * (MA(fast) - MA(slow)) / MA(slow) of volume; "
            "the periods are swapped if slowperiod < fastperiod"
        ),
    )
)

register(
    Indicator(
        name="pvt",
        group=GROUP,
        inputs=("close", "volume"),
        params=(),
        outputs=("real",),
        kernel=k.obv_into_nb,
        kernel_args=(True,),
        lookback=lambda: 0,
        doc="Price-volume trend: running sum of volume times the close's percent change",
    )
)

register(
    Indicator(
        name="rvol",
        group=GROUP,
        inputs=("volume",),
        params=(period(default=20, low=1),),
        outputs=("real",),
        kernel=k.rvol_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 50}),
        doc=(
            "Relative volume: volume / mean volume of the timeperiod bars before (inf or NaN "
            "after a window of zero volumes, as TA-Lib)"
        ),
    )
)

register(
    Indicator(
        name="vwap",
        group=GROUP,
        inputs=HLCV,
        params=(),
        outputs=("real",),
        kernel=k.vwap_into_nb,
        lookback=lambda: 0,
        doc=(
            "Volume-weighted average typical price, cumulative from each series' first bar "
            "(TA-Lib has no session reset: pass one session per segment for a session VWAP)"
        ),
    )
)
