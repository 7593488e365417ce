"""Cycle Indicators (TA-Lib group "Cycle Indicators") and the two Hilbert-transform overlap
studies, HT_TRENDLINE and MAMA, which TA-Lib files under "Overlap Studies".

All seven share ``compute.kernels.cycle``'s Hilbert pass. They are TA-Lib's "unstable
period" functions: the values follow TA-Lib with its default unstable period of 0, so the
first outputs still carry the start-up state (MAMA and FAMA start from 0 at bar 12, the
period from 0 at bar 12 or 37) and depend on where the series begins.
"""

from compute.indicators._registry import Indicator, Param, register
from compute.kernels import cycle as k

GROUP = "Cycle Indicators"
OVERLAP = "Overlap Studies"


def _no_params() -> int:
    return k.SHORT_LOOKBACK


def _long() -> int:
    return k.LONG_LOOKBACK


register(
    Indicator(
        name="ht_dcperiod",
        group=GROUP,
        inputs=("close",),
        params=(),
        outputs=("real",),
        kernel=k.ht_phasor_into_nb,
        scratch=1,
        kernel_args=(False,),
        lookback=_no_params,
        doc="Hilbert Transform - Dominant Cycle Period (bars)",
    )
)

register(
    Indicator(
        name="ht_dcphase",
        group=GROUP,
        inputs=("close",),
        params=(),
        outputs=("real",),
        kernel=k.ht_phase_or_trend_into_nb,
        scratch=2,
        kernel_args=(False,),
        lookback=_long,
        doc="Hilbert Transform - Dominant Cycle Phase (degrees, in (-45, 315])",
    )
)

register(
    Indicator(
        name="ht_phasor",
        group=GROUP,
        inputs=("close",),
        params=(),
        outputs=("inphase", "quadrature"),
        kernel=k.ht_phasor_into_nb,
        kernel_args=(True,),
        lookback=_no_params,
        doc="Hilbert Transform - Phasor Components (in-phase I1 and quadrature Q1)",
    )
)

register(
    Indicator(
        name="ht_sine",
        group=GROUP,
        inputs=("close",),
        params=(),
        outputs=("sine", "leadsine"),
        kernel=k.ht_sine_into_nb,
        scratch=2,
        lookback=_long,
        doc="Hilbert Transform - SineWave: sin(phase) and sin(phase + 45 degrees)",
    )
)

register(
    Indicator(
        name="ht_trendmode",
        group=GROUP,
        inputs=("close",),
        params=(),
        outputs=("integer",),
        kernel=k.ht_trendmode_into_nb,
        scratch=4,
        lookback=_long,
        integer=True,
        doc="Hilbert Transform - Trend vs Cycle Mode: 1 trend, 0 cycle (int32, 0 in warm-up)",
    )
)

register(
    Indicator(
        name="ht_trendline",
        group=OVERLAP,
        inputs=("close",),
        params=(),
        outputs=("real",),
        kernel=k.ht_phase_or_trend_into_nb,
        scratch=2,
        kernel_args=(True,),
        lookback=_long,
        doc="Hilbert Transform - Instantaneous Trendline",
    )
)

register(
    Indicator(
        name="mama",
        group=OVERLAP,
        inputs=("close",),
        params=(
            Param("fastlimit", 0.5, 0.01, 0.99, "upper limit of the adaptive alpha"),
            Param("slowlimit", 0.05, 0.01, 0.99, "lower limit of the adaptive alpha"),
        ),
        outputs=("mama", "fama"),
        kernel=k.mama_into_nb,
        lookback=lambda fastlimit, slowlimit: k.mama_lookback(),
        examples=(
            {"fastlimit": 0.3, "slowlimit": 0.1},
            {"fastlimit": 0.99, "slowlimit": 0.01},
            {"fastlimit": 0.05, "slowlimit": 0.5},
        ),
        doc="MESA Adaptive Moving Average (MAMA) and its following average (FAMA)",
    )
)
