"""Momentum Indicators (TA-Lib group "Momentum Indicators")."""

from collections.abc import Callable, Mapping

from compute.indicators._registry import Indicator, Param, matype, period, register
from compute.indicators.overlap import supported_matypes
from compute.kernels import momentum as k
from compute.kernels.ma import MATYPE_NAMES, ma_lookback, ma_lookback_nb

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
        kernel=k.macd_into_nb,
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
        kernel=k.rsi_into_nb,
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
        kernel=k.roc_into_nb,
        kernel_args=(k.ROC,),
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
        kernel=k.roc_into_nb,
        kernel_args=(k.MOM,),
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
        kernel=k.willr_into_nb,
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
        kernel=k.stoch_into_nb,
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
        kernel=k.stochf_into_nb,
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
        kernel=k.cci_into_nb,
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
        kernel=k.adx_into_nb,
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
        kernel=k.di_into_nb,
        kernel_args=(True,),
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
        kernel=k.di_into_nb,
        kernel_args=(False,),
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
        kernel=k.mfi_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Money flow index: 100 positive money flow / total money flow",
    )
)


# --- The rest of TA-Lib's momentum group. -----------------------------------------------------
# MA-typed parameters here take TA-Lib 0.8's full range 0-13: 10 is the identity, 11 the
# function's own default type, 13 Wilder's smoothed MA (KDJ's default); 9 (HMA) and 12 (ZLEMA)
# have no kernel yet and are refused by name.

MATYPE_EXT_NAMES = {
    **MATYPE_NAMES,
    9: "HMA",
    10: "identity",
    11: "the function's default",
    12: "ZLEMA",
    13: "Wilder",
}
_UNSUPPORTED_EXT = frozenset({9, 12})


def matype_ext(name: str, default: int) -> Param:
    """An MA type over TA-Lib 0.8's range 0-13."""
    return Param(
        name,
        default,
        0,
        13,
        "0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3, 10 identity, "
        f"11 this function's default ({default}), 13 Wilder; 9 HMA and 12 ZLEMA not yet",
    )


def supported_ext_matypes(*names: str) -> Callable[[Mapping[str, int | float]], str | None]:
    """A registry check refusing the MA types of 0-13 that have no kernel (9 HMA, 12 ZLEMA)."""

    def check(values: Mapping[str, int | float]) -> str | None:
        for name in names:
            value = int(values[name])
            if value in _UNSUPPORTED_EXT:
                valid = ", ".join(
                    f"{t} {MATYPE_EXT_NAMES[t]}"
                    for t in sorted(MATYPE_EXT_NAMES)
                    if t not in _UNSUPPORTED_EXT
                )
                return (
                    f"parameter {name!r} = {value} ({MATYPE_EXT_NAMES[value]}) is not supported "
                    f"yet; supported MA types: {valid}"
                )
        return None

    return check


def ma_ext_lookback(period: int, matype: int, default: int) -> int:
    """TA-Lib's MA lookback for types 0-13, type 11 meaning ``default``."""
    matype = default if matype == 11 else matype
    if matype == k.MA_IDENTITY or period <= 1:  # ``k.ma_ext_lookback_nb`` without numba
        return 0
    if matype == k.MA_WILDER:
        return period - 1
    return int(ma_lookback_nb.py_func(period, matype))


HL = ("high", "low")
OC = ("open", "close")


register(
    Indicator(
        name="ac",
        group=GROUP,
        inputs=HL,
        params=(period("fastperiod", 5), period("slowperiod", 34), period("signalperiod", 5)),
        outputs=("real",),
        kernel=k.ac_into_nb,
        lookback=lambda fastperiod, slowperiod, signalperiod: (
            max(fastperiod, slowperiod) - 1 + signalperiod - 1
        ),
        examples=(
            {"fastperiod": 3, "slowperiod": 10, "signalperiod": 3},
            {"fastperiod": 34, "slowperiod": 5, "signalperiod": 40},
        ),
        doc="Accelerator oscillator (Bill Williams): AO - SMA(AO, signalperiod)",
    )
)

register(
    Indicator(
        name="adxr",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.adxr_into_nb,
        lookback=lambda timeperiod: 3 * timeperiod - 2,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Average directional movement rating: (ADX + ADX timeperiod - 1 bars ago) / 2",
    )
)

register(
    Indicator(
        name="ao",
        group=GROUP,
        inputs=HL,
        params=(
            period("fastperiod", 5),
            period("slowperiod", 34, doc="not swapped with fastperiod: a smaller one gives -AO"),
        ),
        outputs=("real",),
        kernel=k.ao_into_nb,
        lookback=lambda fastperiod, slowperiod: max(fastperiod, slowperiod) - 1,
        examples=({"fastperiod": 2, "slowperiod": 3}, {"fastperiod": 34, "slowperiod": 5}),
        doc="Awesome oscillator (Bill Williams): SMA(median, fast) - SMA(median, slow)",
    )
)

for _name, _percent, _types, _doc in (
    (
        "apo",
        False,
        (3, 13),
        "Absolute price oscillator: MA(fast) - MA(slow), each MA over the whole series",
    ),
    ("ppo", True, (5, 6), "Percentage price oscillator: 100 (MA(fast) - MA(slow)) / MA(slow)"),
):
    register(
        Indicator(
            name=_name,
            group=GROUP,
            inputs=("close",),
            params=(
                period("fastperiod", 12),
                period(
                    "slowperiod", 26, doc="swapped with fastperiod when smaller, as TA-Lib does"
                ),
                matype_ext("matype", 1),
            ),
            outputs=("real",),
            kernel=k.apo_into_nb,
            kernel_args=(_percent,),
            lookback=lambda fastperiod, slowperiod, matype: ma_ext_lookback(
                max(fastperiod, slowperiod), matype, 1
            ),
            examples=(
                {"fastperiod": 12, "slowperiod": 26, "matype": 0},
                {"fastperiod": 20, "slowperiod": 5, "matype": _types[0]},
                {"fastperiod": 5, "slowperiod": 15, "matype": _types[1]},
            ),
            checks=(supported_ext_matypes("matype"),),
            doc=_doc,
        )
    )

register(
    Indicator(
        name="aroon",
        group=GROUP,
        inputs=HL,
        params=(period(default=14),),
        outputs=("aroondown", "aroonup"),
        kernel=k.aroon_into_nb,
        kernel_args=(False,),
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 25}),
        doc="Aroon down/up: 100 (n - bars since the lowest low / highest high) / n, n+1 bars",
    )
)

register(
    Indicator(
        name="aroonosc",
        group=GROUP,
        inputs=HL,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.aroonosc_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 25}),
        doc="Aroon oscillator: Aroon up - Aroon down",
    )
)

register(
    Indicator(
        name="bop",
        group=GROUP,
        inputs=("open", "high", "low", "close"),
        params=(),
        outputs=("real",),
        kernel=k.bop_into_nb,
        lookback=lambda: 0,
        doc="Balance of power: (close - open) / (high - low), 0 on a bar without range",
    )
)

register(
    Indicator(
        name="cmo",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.cmo_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc=(
            "Chande momentum oscillator with Wilder-smoothed gains and losses, as TA-Lib "
            "(an unstable-period function: its early values depend on where the series starts; "
            "TA-Lib's default unstable period 0 is matched)"
        ),
    )
)

register(
    Indicator(
        name="cmou",
        group=GROUP,
        inputs=("close",),
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.cmou_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Chande momentum oscillator, unsmoothed: 100 (up - down) / (up + down) over a window",
    )
)

register(
    Indicator(
        name="coppock",
        group=GROUP,
        inputs=("close",),
        params=(
            period("wmaperiod", 10, low=1),
            period("roc1period", 11, low=1),
            period("roc2period", 14, low=1),
        ),
        outputs=("real",),
        kernel=k.coppock_into_nb,
        scratch=1,
        lookback=lambda wmaperiod, roc1period, roc2period: (
            max(roc1period, roc2period) + wmaperiod - 1
        ),
        examples=(
            {"wmaperiod": 1, "roc1period": 11, "roc2period": 14},
            {"wmaperiod": 4, "roc1period": 9, "roc2period": 3},
            {"wmaperiod": 30, "roc1period": 1, "roc2period": 20},
        ),
        doc="Coppock curve: WMA of the sum of two rates of change",
    )
)

register(
    Indicator(
        name="dpo",
        group=GROUP,
        inputs=("close",),
        params=(period(default=20),),
        outputs=("real",),
        kernel=k.dpo_into_nb,
        lookback=lambda timeperiod: max(timeperiod - 1, timeperiod // 2 + 1),
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 21}),
        doc="Detrended price oscillator: price timeperiod/2 + 1 bars ago - SMA(timeperiod)",
    )
)

register(
    Indicator(
        name="dx",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.dx_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc=(
            "Directional movement index, 100 |+DI - -DI| / (+DI + -DI); a bar without DIs "
            "repeats the previous value (unstable period 0, as TA-Lib's default)"
        ),
    )
)

register(
    Indicator(
        name="er",
        group=GROUP,
        inputs=("close",),
        params=(period(default=10),),
        outputs=("real",),
        kernel=k.er_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Kaufman efficiency ratio: |net change| / path length (KAMA's ratio; 1 when flat)",
    )
)

register(
    Indicator(
        name="eri",
        group=GROUP,
        inputs=HLC,
        params=(period(default=13, low=1, doc="period 1 measures against the close itself"),),
        outputs=("bullpower", "bearpower"),
        kernel=k.eri_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Elder ray index: high - EMA(close) and low - EMA(close)",
    )
)

register(
    Indicator(
        name="fosc",
        group=GROUP,
        inputs=("close",),
        params=(period(default=5),),
        outputs=("real",),
        kernel=k.fosc_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 14}, {"timeperiod": 40}),
        doc="Forecast oscillator: 100 (close - TSF one bar earlier) / close",
    )
)

register(
    Indicator(
        name="fractal",
        group=GROUP,
        inputs=HL,
        params=(period("leftbars", 2, low=1), period("rightbars", 2, low=1)),
        outputs=("swinghigh", "swinglow"),
        kernel=k.fractal_into_nb,
        lookback=lambda leftbars, rightbars: leftbars + rightbars,
        examples=({"leftbars": 1, "rightbars": 1}, {"leftbars": 5, "rightbars": 2}),
        integer=True,
        doc=(
            "Williams fractal: 100 at bar t when bar t - rightbars has the window's strictly "
            "highest high (swinghigh) or lowest low (swinglow), else 0"
        ),
    )
)

register(
    Indicator(
        name="imi",
        group=GROUP,
        inputs=OC,
        params=(period(default=14),),
        outputs=("real",),
        kernel=k.imi_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Intraday momentum index: 100 up-body sum / body sum over timeperiod candles",
    )
)


def _kdj_lookback(
    fastk_period: int, slowk_period: int, slowk_matype: int, slowd_period: int, slowd_matype: int
) -> int:
    return (
        fastk_period
        - 1
        + ma_ext_lookback(slowk_period, slowk_matype, 13)
        + ma_ext_lookback(slowd_period, slowd_matype, 13)
    )


register(
    Indicator(
        name="kdj",
        group=GROUP,
        inputs=HLC,
        params=(
            period("fastk_period", 9, low=1),
            period("slowk_period", 3, low=1),
            matype_ext("slowk_matype", 13),
            period("slowd_period", 3, low=1),
            matype_ext("slowd_matype", 13),
        ),
        outputs=("k", "d", "j"),
        kernel=k.kdj_into_nb,
        lookback=_kdj_lookback,
        examples=(
            {
                "fastk_period": 9,
                "slowk_period": 3,
                "slowk_matype": 0,
                "slowd_period": 3,
                "slowd_matype": 1,
            },
            {
                "fastk_period": 14,
                "slowk_period": 5,
                "slowk_matype": 11,
                "slowd_period": 1,
                "slowd_matype": 10,
            },
        ),
        checks=(supported_ext_matypes("slowk_matype", "slowd_matype"),),
        doc="KDJ: STOCH's %K and %D, smoothed by Wilder's MA by default, and J = 3K - 2D",
    )
)


def _macdext_lookback(
    fastperiod: int,
    fastmatype: int,
    slowperiod: int,
    slowmatype: int,
    signalperiod: int,
    signalmatype: int,
) -> int:
    return max(
        ma_ext_lookback(fastperiod, fastmatype, 0), ma_ext_lookback(slowperiod, slowmatype, 0)
    ) + ma_ext_lookback(signalperiod, signalmatype, 0)


register(
    Indicator(
        name="macdext",
        group=GROUP,
        inputs=("close",),
        params=(
            period("fastperiod", 12),
            matype_ext("fastmatype", 0),
            period("slowperiod", 26, doc="swapped (with its MA type) with fastperiod when smaller"),
            matype_ext("slowmatype", 0),
            period("signalperiod", 9, low=1),
            matype_ext("signalmatype", 0),
        ),
        outputs=("macd", "macdsignal", "macdhist"),
        kernel=k.macdext_into_nb,
        lookback=_macdext_lookback,
        examples=(
            {
                "fastperiod": 12,
                "fastmatype": 1,
                "slowperiod": 26,
                "slowmatype": 1,
                "signalperiod": 9,
                "signalmatype": 1,
            },
            {
                "fastperiod": 30,
                "fastmatype": 3,
                "slowperiod": 10,
                "slowmatype": 2,
                "signalperiod": 5,
                "signalmatype": 8,
            },
            {
                "fastperiod": 5,
                "fastmatype": 6,
                "slowperiod": 20,
                "slowmatype": 13,
                "signalperiod": 1,
                "signalmatype": 0,
            },
        ),
        checks=(supported_ext_matypes("fastmatype", "slowmatype", "signalmatype"),),
        doc="MACD with a chosen MA type for each of the fast, slow and signal averages",
    )
)

register(
    Indicator(
        name="macdfix",
        group=GROUP,
        inputs=("close",),
        params=(period("signalperiod", 9, low=1),),
        outputs=("macd", "macdsignal", "macdhist"),
        kernel=k.macdfix_into_nb,
        lookback=lambda signalperiod: 25 + signalperiod - 1,
        examples=({"signalperiod": 1}, {"signalperiod": 5}, {"signalperiod": 30}),
        doc="MACD 12/26 with TA-Lib's fixed EMA constants 0.15 and 0.075",
    )
)

register(
    Indicator(
        name="minus_dm",
        group=GROUP,
        inputs=HL,
        params=(period(default=14, low=1, doc="period 1 gives each bar's -DM"),),
        outputs=("real",),
        kernel=k.dm_into_nb,
        kernel_args=(False,),
        lookback=lambda timeperiod: timeperiod - 1 if timeperiod > 1 else 1,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Minus directional movement, Wilder's running sum (unstable period 0)",
    )
)

register(
    Indicator(
        name="plus_dm",
        group=GROUP,
        inputs=HL,
        params=(period(default=14, low=1, doc="period 1 gives each bar's +DM"),),
        outputs=("real",),
        kernel=k.dm_into_nb,
        kernel_args=(True,),
        lookback=lambda timeperiod: timeperiod - 1 if timeperiod > 1 else 1,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Plus directional movement, Wilder's running sum (unstable period 0)",
    )
)


register(
    Indicator(
        name="qstick",
        group=GROUP,
        inputs=OC,
        params=(period(default=10, low=1),),
        outputs=("real",),
        kernel=k.qstick_into_nb,
        lookback=lambda timeperiod: timeperiod - 1,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Qstick: SMA of close - open",
    )
)

for _name, _kind, _doc in (
    ("rocp", k.ROCP, "Rate of change as a fraction: (price - old) / old"),
    ("rocr", k.ROCR, "Rate of change ratio: price / old"),
    ("rocr100", k.ROCR100, "Rate of change ratio in percent: 100 price / old"),
):
    register(
        Indicator(
            name=_name,
            group=GROUP,
            inputs=("close",),
            params=(period(default=10, low=1),),
            outputs=("real",),
            kernel=k.roc_into_nb,
            kernel_args=(_kind,),
            lookback=lambda timeperiod: timeperiod,
            examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 20}),
            doc=f"{_doc} (0 where the old price is 0)",
        )
    )

register(
    Indicator(
        name="smi",
        group=GROUP,
        inputs=HLC,
        params=(
            period(default=13),
            period("fastperiod", 2),
            period("slowperiod", 25),
            period("signalperiod", 9),
        ),
        outputs=("smi", "smisignal"),
        kernel=k.smi_into_nb,
        lookback=lambda timeperiod, fastperiod, slowperiod, signalperiod: (
            timeperiod - 1 + slowperiod - 1 + fastperiod - 1 + signalperiod - 1
        ),
        examples=(
            {"timeperiod": 5, "fastperiod": 3, "slowperiod": 3, "signalperiod": 3},
            {"timeperiod": 20, "fastperiod": 10, "slowperiod": 5, "signalperiod": 2},
        ),
        doc="Stochastic momentum index (Blau), double-EMA smoothed, and its signal EMA",
    )
)

register(
    Indicator(
        name="stochrsi",
        group=GROUP,
        inputs=("close",),
        params=(
            period(default=14),
            period("fastk_period", 5, low=1),
            period("fastd_period", 3, low=1, doc="period 1 makes %D equal to %K"),
            matype_ext("fastd_matype", 0),
        ),
        outputs=("fastk", "fastd"),
        kernel=k.stochrsi_into_nb,
        lookback=lambda timeperiod, fastk_period, fastd_period, fastd_matype: (
            timeperiod + fastk_period - 1 + ma_ext_lookback(fastd_period, fastd_matype, 0)
        ),
        examples=(
            {"timeperiod": 14, "fastk_period": 14, "fastd_period": 3, "fastd_matype": 0},
            {"timeperiod": 5, "fastk_period": 3, "fastd_period": 4, "fastd_matype": 1},
            {"timeperiod": 9, "fastk_period": 1, "fastd_period": 5, "fastd_matype": 13},
        ),
        checks=(supported_ext_matypes("fastd_matype"),),
        doc=(
            "Stochastic RSI as TA-Lib computes it: STOCHF over the RSI line, so fastk is the "
            "raw stochastic of RSI (0 where RSI's window is flat) and fastd its MA"
        ),
    )
)

register(
    Indicator(
        name="trix",
        group=GROUP,
        inputs=("close",),
        params=(period(default=30, low=1),),
        outputs=("real",),
        kernel=k.trix_into_nb,
        lookback=lambda timeperiod: 3 * (timeperiod - 1) + 1,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 15}),
        doc="TRIX: one-bar rate of change, in percent, of a triple EMA",
    )
)

register(
    Indicator(
        name="tsi",
        group=GROUP,
        inputs=("close",),
        params=(period("firstperiod", 25), period("secondperiod", 13)),
        outputs=("real",),
        kernel=k.tsi_into_nb,
        lookback=lambda firstperiod, secondperiod: firstperiod + secondperiod - 1,
        examples=(
            {"firstperiod": 2, "secondperiod": 2},
            {"firstperiod": 5, "secondperiod": 20},
        ),
        doc="True strength index (Blau): 100 EMA(EMA(change)) / EMA(EMA(|change|))",
    )
)

register(
    Indicator(
        name="ultosc",
        group=GROUP,
        inputs=HLC,
        params=(
            period("timeperiod1", 7, low=1),
            period("timeperiod2", 14, low=1),
            period("timeperiod3", 28, low=1),
        ),
        outputs=("real",),
        kernel=k.ultosc_into_nb,
        lookback=lambda timeperiod1, timeperiod2, timeperiod3: max(
            timeperiod1, timeperiod2, timeperiod3
        ),
        examples=(
            {"timeperiod1": 1, "timeperiod2": 2, "timeperiod3": 3},
            {"timeperiod1": 20, "timeperiod2": 5, "timeperiod3": 10},
        ),
        doc="Ultimate oscillator: weighted buying pressure over true range, periods sorted",
    )
)

register(
    Indicator(
        name="vhf",
        group=GROUP,
        inputs=("close",),
        params=(period(default=28),),
        outputs=("real",),
        kernel=k.vhf_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 50}),
        doc="Vertical horizontal filter: close range / sum of |changes| over timeperiod bars",
    )
)

register(
    Indicator(
        name="vortex",
        group=GROUP,
        inputs=HLC,
        params=(period(default=14, low=1),),
        outputs=("plusvi", "minusvi"),
        kernel=k.vortex_into_nb,
        lookback=lambda timeperiod: timeperiod,
        examples=({"timeperiod": 1}, {"timeperiod": 5}, {"timeperiod": 30}),
        doc="Vortex indicator: sums of |high - previous low| and |low - previous high| over TR",
    )
)

register(
    Indicator(
        name="wad",
        group=GROUP,
        inputs=HLC,
        params=(),
        outputs=("real",),
        kernel=k.wad_into_nb,
        lookback=lambda: 0,
        doc="Williams accumulation/distribution (Achelis' form, no volume), from 0 at bar 0",
    )
)
