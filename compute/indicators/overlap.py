"""Overlap studies (TA-Lib group "Overlap Studies")."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from compute.indicators._registry import Indicator, Param, matype, period, register
from compute.kernels import overlap as k
from compute.kernels.ma import MATYPE_NAMES, SUPPORTED_MATYPES, ma_lookback

GROUP = "Overlap Studies"
DEVIATION_DOC = (
    "multiplier of the standard deviation; TA-Lib accepts [-3e37, 3e37], barpipe refuses a "
    "negative deviation (it would swap the bands)"
)


def supported_matypes(*names: str) -> Callable[[Mapping[str, int | float]], str | None]:
    """A registry check refusing MA types whose kernel is not wired in (7 MAMA for now)."""

    def check(values: Mapping[str, int | float]) -> str | None:
        for name in names:
            value = int(values[name])
            if value not in SUPPORTED_MATYPES:
                valid = ", ".join(f"{t} {MATYPE_NAMES[t]}" for t in sorted(SUPPORTED_MATYPES))
                return (
                    f"parameter {name!r} = {value} ({MATYPE_NAMES[value]}) is not supported "
                    f"yet; supported MA types: {valid}"
                )
        return None

    return check


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

register(
    Indicator(
        name="wma",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.wma_seg_nb,
        lookback=lambda timeperiod: ma_lookback(timeperiod, 2),
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 20}),
        doc="Weighted moving average, weights 1..timeperiod (newest heaviest)",
    )
)

register(
    Indicator(
        name="dema",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.dema_seg_nb,
        lookback=lambda timeperiod: ma_lookback(timeperiod, 3),
        examples=({"timeperiod": 2}, {"timeperiod": 12}, {"timeperiod": 50}),
        doc="Double exponential moving average: 2 EMA - EMA(EMA)",
    )
)

register(
    Indicator(
        name="tema",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.tema_seg_nb,
        lookback=lambda timeperiod: ma_lookback(timeperiod, 4),
        examples=({"timeperiod": 2}, {"timeperiod": 9}, {"timeperiod": 40}),
        doc="Triple exponential moving average: 3 EMA - 3 EMA(EMA) + EMA(EMA(EMA))",
    )
)

register(
    Indicator(
        name="bbands",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=20),
            Param("nbdevup", 2.0, 0.0, 3e37, "upper band's " + DEVIATION_DOC),
            Param("nbdevdn", 2.0, 0.0, 3e37, "lower band's " + DEVIATION_DOC),
            matype(),
        ),
        outputs=("upperband", "middleband", "lowerband"),
        kernel=k.bbands_seg_nb,
        lookback=lambda timeperiod, nbdevup, nbdevdn, matype: max(
            ma_lookback(timeperiod, matype), timeperiod - 1
        ),
        examples=(
            {"timeperiod": 5, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0},
            {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": 1},
            {"timeperiod": 14, "nbdevup": 1.0, "nbdevdn": 1.0, "matype": 2},
        ),
        checks=(supported_matypes("matype"),),
        doc="Bollinger Bands: an MA of matype +/- nbdev population standard deviations",
    )
)
