"""Overlap studies (TA-Lib group "Overlap Studies")."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from compute.indicators._registry import Indicator, Param, matype, period, register
from compute.kernels import common as common_k
from compute.kernels import ma as ma_k
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
        kernel=common_k.sma_into_nb,
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
        kernel=common_k.ema_into_nb,
        kernel_args=(0,),
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
        kernel=ma_k.ma_into_nb,
        kernel_args=(2,),
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
        kernel=ma_k.ma_into_nb,
        kernel_args=(3,),
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
        kernel=ma_k.ma_into_nb,
        kernel_args=(4,),
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
        kernel=k.bbands_into_nb,
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

# --- the remaining overlap studies ----------------------------------------------------------

HLC = ("high", "low", "close")
ACCELERATION_DOC = "acceleration factor: its start and its step after each new extreme point"


def min_not_above_max(values: Mapping[str, int | float]) -> str | None:
    """MAVP's check: TA-Lib refuses minperiod > maxperiod."""
    if values["minperiod"] > values["maxperiod"]:
        return (
            f"minperiod = {values['minperiod']} is above maxperiod = {values['maxperiod']}; "
            "minperiod must be <= maxperiod"
        )
    return None


def _hma_lookback(timeperiod: int) -> int:
    if timeperiod == 1:
        return 0
    return timeperiod - 1 + math.isqrt(timeperiod) - 1


register(
    Indicator(
        name="ma",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"), matype()),
        outputs=("real",),
        kernel=ma_k.ma_into_nb,
        lookback=lambda timeperiod, matype: ma_lookback(timeperiod, matype),
        examples=(
            {"timeperiod": 10, "matype": 1},
            {"timeperiod": 9, "matype": 6},
            {"timeperiod": 5, "matype": 8},
        ),
        checks=(supported_matypes("matype"),),
        doc="Moving average of any TA-Lib MA type",
    )
)

register(
    Indicator(
        name="trima",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=ma_k.ma_into_nb,
        kernel_args=(5,),
        lookback=lambda timeperiod: ma_lookback(timeperiod, 5),
        examples=({"timeperiod": 2}, {"timeperiod": 7}, {"timeperiod": 20}),
        doc="Triangular moving average: an SMA of an SMA, weights 1, 2, .., 2, 1",
    )
)

register(
    Indicator(
        name="kama",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=ma_k.ma_into_nb,
        kernel_args=(6,),
        lookback=lambda timeperiod: ma_lookback(timeperiod, 6),
        examples=({"timeperiod": 2}, {"timeperiod": 10}, {"timeperiod": 50}),
        doc=(
            "Kaufman adaptive moving average (fast 2, slow 30 smoothing constants); seeded "
            "with the value at bar timeperiod - 1, so the first outputs depend on where the "
            "series starts"
        ),
    )
)

register(
    Indicator(
        name="t3",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=5, low=1, doc="period 1 copies the input"),
            Param("vfactor", 0.7, 0.0, 1.0, "volume factor: 0 is a triple EMA, 1 a DEMA"),
        ),
        outputs=("real",),
        kernel=ma_k.t3_into_nb,
        lookback=lambda timeperiod, vfactor: ma_lookback(timeperiod, 8),
        examples=(
            {"timeperiod": 2, "vfactor": 0.7},
            {"timeperiod": 10, "vfactor": 0.0},
            {"timeperiod": 7, "vfactor": 1.0},
        ),
        doc="Tillson T3: six chained EMAs combined with the volume factor's coefficients",
    )
)

register(
    Indicator(
        name="mavp",
        group=GROUP,
        inputs=("close", "periods"),
        params=(
            period("minperiod", default=2, low=1, doc="smallest period a bar may use"),
            period("maxperiod", default=30, low=1, doc="largest period a bar may use"),
            matype(),
        ),
        outputs=("real",),
        kernel=k.mavp_into_nb,
        scratch=1,
        lookback=lambda minperiod, maxperiod, matype: ma_lookback(maxperiod, matype),
        examples=(
            {"minperiod": 5, "maxperiod": 20, "matype": 1},
            {"minperiod": 2, "maxperiod": 40, "matype": 2},
            {"minperiod": 3, "maxperiod": 12, "matype": 6},
        ),
        checks=(supported_matypes("matype"), min_not_above_max),
        doc=(
            "Moving average with a period per bar, read from the `periods` input: truncated to "
            "an integer and clamped to [minperiod, maxperiod] (a NaN period takes minperiod). "
            "Every bar starts at maxperiod's lookback, and a recursive MA of a shorter period "
            "is seeded just its own lookback before that bar, as TA-Lib does, so it differs "
            "from the plain MA of that period"
        ),
    )
)

register(
    Indicator(
        name="midpoint",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.midpoint_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 50}),
        doc="Midpoint over the period: (highest value + lowest value) / 2",
    )
)

register(
    Indicator(
        name="midprice",
        group=GROUP,
        inputs=("high", "low"),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.midprice_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 50}),
        doc="Midpoint price over the period: (highest high + lowest low) / 2",
    )
)

register(
    Indicator(
        name="donchian",
        group=GROUP,
        inputs=("high", "low"),
        params=(period(default=20),),
        outputs=("upperband", "middleband", "lowerband"),
        kernel=k.donchian_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 10}, {"timeperiod": 55}),
        doc=(
            "Donchian channels: highest high, midpoint, lowest low of the last timeperiod "
            "bars, the current bar included (compare a bar with the previous bar's band for "
            "a breakout)"
        ),
    )
)

register(
    Indicator(
        name="accbands",
        group=GROUP,
        inputs=HLC,
        params=(period(default=20),),
        outputs=("upperband", "middleband", "lowerband"),
        kernel=k.accbands_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 10}, {"timeperiod": 50}),
        doc=(
            "Acceleration bands (Headley): SMAs of high * (1 + 4 (high - low) / (high + low)), "
            "of close, and of low * (1 - 4 (high - low) / (high + low))"
        ),
    )
)

register(
    Indicator(
        name="kc",
        group=GROUP,
        inputs=HLC,
        params=(
            period(default=20, doc="EMA period of the typical price"),
            period("atrperiod", default=10, low=1, doc="ATR period; 1 is the true range"),
            Param(
                "nbdev",
                2.0,
                0.0,
                3e37,
                "multiplier of the ATR; TA-Lib accepts [-3e37, 3e37], barpipe refuses a "
                "negative one (it would swap the bands)",
            ),
        ),
        outputs=("upperband", "middleband", "lowerband"),
        kernel=k.kc_into_nb,
        lookback=lambda timeperiod, atrperiod, nbdev: max(timeperiod - 1, atrperiod),
        examples=(
            {"timeperiod": 5, "atrperiod": 20, "nbdev": 1.5},
            {"timeperiod": 30, "atrperiod": 1, "nbdev": 2.0},
            {"timeperiod": 10, "atrperiod": 10, "nbdev": 0.0},
        ),
        doc=(
            "Keltner channels: EMA of the typical price +/- nbdev ATR. When atrperiod >= "
            "timeperiod the EMA is seeded with the typical prices just before the first band, "
            "as TA-Lib enters each leg at its own lookback, so the centre line is not the EMA "
            "of the whole series"
        ),
    )
)

register(
    Indicator(
        name="hma",
        group=GROUP,
        inputs=("close",),
        params=(period(default=20, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.hma_into_nb,
        scratch=1,
        lookback=_hma_lookback,
        examples=({"timeperiod": 2}, {"timeperiod": 4}, {"timeperiod": 49}),
        doc=(
            "Hull moving average: WMA(2 WMA(x, n // 2) - WMA(x, n), int(sqrt(n))), periods "
            "truncated as Hull defined them"
        ),
    )
)

register(
    Indicator(
        name="rma",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=common_k.smma_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 14}),
        doc="Wilder's moving average (alpha 1 / timeperiod), seeded with the SMA of the first values",
    )
)

register(
    Indicator(
        name="vwma",
        group=GROUP,
        inputs=("close", "volume"),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.vwma_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 20}),
        doc="Volume-weighted moving average: sum(close * volume) / sum(volume); NaN without volume",
    )
)

register(
    Indicator(
        name="zlema",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1, doc="period 1 copies the input"),),
        outputs=("real",),
        kernel=k.zlema_into_nb,
        lookback=lambda timeperiod: (timeperiod - 1) // 2 + timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 3}, {"timeperiod": 20}),
        doc=(
            "Zero-lag EMA: the EMA of 2 close - close lag bars ago, lag = (timeperiod - 1) // 2, "
            "seeded with the SMA of its first timeperiod values"
        ),
    )
)

register(
    Indicator(
        name="sar",
        group=GROUP,
        inputs=("high", "low"),
        params=(
            Param("acceleration", 0.02, 0.0, math.inf, ACCELERATION_DOC),
            Param("maximum", 0.2, 0.0, math.inf, "largest acceleration factor"),
        ),
        outputs=("real",),
        kernel=k.sar_into_nb,
        lookback=lambda acceleration, maximum: 1,
        examples=(
            {"acceleration": 0.01, "maximum": 0.1},
            {"acceleration": 0.05, "maximum": 0.5},
            {"acceleration": 0.3, "maximum": 0.2},
        ),
        doc=(
            "Parabolic SAR. TA-Lib's bootstrap: the first position is short if the second "
            "bar's -DM is positive and long otherwise (ties go long), with the first bar's "
            "low (long) or high (short) as the first SAR; an acceleration above the maximum "
            "is lowered to it"
        ),
    )
)

register(
    Indicator(
        name="sarext",
        group=GROUP,
        inputs=("high", "low"),
        params=(
            Param(
                "startvalue",
                0.0,
                -math.inf,
                math.inf,
                "0: SAR's bootstrap; > 0: start long at this SAR; < 0: start short at its "
                "absolute value",
            ),
            Param("offsetonreverse", 0.0, 0.0, math.inf, "fraction the SAR moves on a reversal"),
            Param("accelerationinitlong", 0.02, 0.0, math.inf, "long acceleration at entry"),
            Param("accelerationlong", 0.02, 0.0, math.inf, "long acceleration step"),
            Param("accelerationmaxlong", 0.2, 0.0, math.inf, "largest long acceleration"),
            Param("accelerationinitshort", 0.02, 0.0, math.inf, "short acceleration at entry"),
            Param("accelerationshort", 0.02, 0.0, math.inf, "short acceleration step"),
            Param("accelerationmaxshort", 0.2, 0.0, math.inf, "largest short acceleration"),
        ),
        outputs=("real",),
        kernel=k.sarext_into_nb,
        kernel_args=(True,),
        lookback=lambda **params: 1,
        examples=(
            {"offsetonreverse": 0.01, "accelerationlong": 0.03, "accelerationshort": 0.01},
            {"startvalue": 1.0, "accelerationinitlong": 0.05, "accelerationmaxshort": 0.1},
            {"startvalue": -1e9, "accelerationinitshort": 0.5, "accelerationmaxlong": 0.3},
        ),
        doc=(
            "Parabolic SAR with separate long and short accelerations, a forced start and an "
            "offset on reversal. Short positions are returned NEGATED (TA-Lib's convention: "
            "the sign tells the side, abs() is the stop level)"
        ),
    )
)

register(
    Indicator(
        name="supertrend",
        group=GROUP,
        inputs=HLC,
        params=(
            period(default=10, doc="ATR period"),
            Param("multiplier", 3.0, 0.0, math.inf, "band width in ATRs"),
        ),
        outputs=("supertrend", "trend"),
        kernel=k.supertrend_into_nb,
        lookback=lambda timeperiod, multiplier: timeperiod,
        examples=(
            {"timeperiod": 2, "multiplier": 1.0},
            {"timeperiod": 7, "multiplier": 0.0},
            {"timeperiod": 20, "multiplier": 4.5},
        ),
        integer_outputs=("trend",),
        doc=(
            "Supertrend: the ratcheting ATR band price trails, and the trend (+1 up, -1 down; "
            "0 in the warm-up, like TA-Lib's integer output). TA-Lib starts every series in an "
            "uptrend on the lower band at bar timeperiod, whatever the prices do"
        ),
    )
)
