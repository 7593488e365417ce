"""Price Transform (TA-Lib group "Price Transform")."""

from compute.indicators._registry import Indicator, period, register
from compute.kernels import price as k

GROUP = "Price Transform"
OHLC = ("open", "high", "low", "close")
HLC = ("high", "low", "close")

register(
    Indicator(
        name="avgprice",
        group=GROUP,
        inputs=OHLC,
        params=(),
        outputs=("real",),
        kernel=k.avgprice_into_nb,
        lookback=lambda: 0,
        doc="Average price: (open + high + low + close) / 4",
    )
)

register(
    Indicator(
        name="medprice",
        group=GROUP,
        inputs=("high", "low"),
        params=(),
        outputs=("real",),
        kernel=k.medprice_into_nb,
        lookback=lambda: 0,
        doc="Median price: (high + low) / 2",
    )
)

register(
    Indicator(
        name="typprice",
        group=GROUP,
        inputs=HLC,
        params=(),
        outputs=("real",),
        kernel=k.typprice_into_nb,
        lookback=lambda: 0,
        doc="Typical price: (high + low + close) / 3",
    )
)

register(
    Indicator(
        name="wclprice",
        group=GROUP,
        inputs=HLC,
        params=(),
        outputs=("real",),
        kernel=k.wclprice_into_nb,
        lookback=lambda: 0,
        doc="Weighted close price: (high + low + 2 close) / 4",
    )
)

register(
    Indicator(
        name="avgdev",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.avgdev_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 50}),
        doc="Average deviation: mean |x - mean(x)| over the last timeperiod values",
    )
)

register(
    Indicator(
        name="ha",
        group=GROUP,
        inputs=OHLC,
        params=(),
        outputs=("haopen", "hahigh", "halow", "haclose"),
        kernel=k.ha_into_nb,
        lookback=lambda: 0,
        doc=(
            "Heikin-Ashi candles. The first candle opens at (open + close) / 2 of the first "
            "bar, so every later open depends on where the series starts (TA-Lib's default "
            "unstable period of 0 emits it from the first bar)"
        ),
    )
)
