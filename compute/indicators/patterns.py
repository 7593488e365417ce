"""Candlestick patterns (TA-Lib group "Pattern Recognition").

Each pattern reads open, high, low and close and returns TA-Lib's integer code in the
output ``integer``: +100 bullish, -100 bearish (+-80 or +-200 for some), 0 otherwise and
during warm-up. The lookback is fixed by TA-Lib's default candle settings
(``compute.kernels.candles``); a few patterns take a ``penetration`` fraction of the first
candle's real body.
"""

from compute.indicators._registry import Indicator, Param, register
from compute.kernels import patterns as k

GROUP = "Pattern Recognition"
INPUTS = ("open", "high", "low", "close")

# TA-Lib's range for penetration: [0, TA_REAL_MAX]
_PENETRATION_MAX = 3e37
_PENETRATION_EXAMPLES = ({"penetration": 0.0}, {"penetration": 0.1}, {"penetration": 1.0})

# name, kernel, lookback, default penetration (None: no parameter), TA-Lib's description
_PATTERNS = (
    ("cdl2crows", k.cdl2crows_seg_nb, k.CDL2CROWS_LOOKBACK, None, "Two Crows"),
    ("cdl3blackcrows", k.cdl3blackcrows_seg_nb, k.CDL3BLACKCROWS_LOOKBACK, None, "Three Black Crows"),
    ("cdl3inside", k.cdl3inside_seg_nb, k.CDL3INSIDE_LOOKBACK, None, "Three Inside Up/Down"),
    ("cdl3linestrike", k.cdl3linestrike_seg_nb, k.CDL3LINESTRIKE_LOOKBACK, None, "Three-Line Strike"),
    ("cdl3outside", k.cdl3outside_seg_nb, k.CDL3OUTSIDE_LOOKBACK, None, "Three Outside Up/Down"),
    ("cdl3starsinsouth", k.cdl3starsinsouth_seg_nb, k.CDL3STARSINSOUTH_LOOKBACK, None, "Three Stars In The South"),
    ("cdl3whitesoldiers", k.cdl3whitesoldiers_seg_nb, k.CDL3WHITESOLDIERS_LOOKBACK, None, "Three Advancing White Soldiers"),
    ("cdlabandonedbaby", k.cdlabandonedbaby_seg_nb, k.CDLABANDONEDBABY_LOOKBACK, 0.3, "Abandoned Baby"),
    ("cdladvanceblock", k.cdladvanceblock_seg_nb, k.CDLADVANCEBLOCK_LOOKBACK, None, "Advance Block"),
    ("cdlbelthold", k.cdlbelthold_seg_nb, k.CDLBELTHOLD_LOOKBACK, None, "Belt-hold"),
    ("cdlbreakaway", k.cdlbreakaway_seg_nb, k.CDLBREAKAWAY_LOOKBACK, None, "Breakaway"),
    ("cdlclosingmarubozu", k.cdlclosingmarubozu_seg_nb, k.CDLCLOSINGMARUBOZU_LOOKBACK, None, "Closing Marubozu"),
    ("cdlconcealbabyswall", k.cdlconcealbabyswall_seg_nb, k.CDLCONCEALBABYSWALL_LOOKBACK, None, "Concealing Baby Swallow"),
    ("cdlcounterattack", k.cdlcounterattack_seg_nb, k.CDLCOUNTERATTACK_LOOKBACK, None, "Counterattack"),
    ("cdldarkcloudcover", k.cdldarkcloudcover_seg_nb, k.CDLDARKCLOUDCOVER_LOOKBACK, 0.5, "Dark Cloud Cover"),
    ("cdldoji", k.cdldoji_seg_nb, k.CDLDOJI_LOOKBACK, None, "Doji"),
    ("cdldojistar", k.cdldojistar_seg_nb, k.CDLDOJISTAR_LOOKBACK, None, "Doji Star"),
    ("cdldragonflydoji", k.cdldragonflydoji_seg_nb, k.CDLDRAGONFLYDOJI_LOOKBACK, None, "Dragonfly Doji"),
    ("cdlengulfing", k.cdlengulfing_seg_nb, k.CDLENGULFING_LOOKBACK, None, "Engulfing Pattern"),
    ("cdleveningdojistar", k.cdleveningdojistar_seg_nb, k.CDLEVENINGDOJISTAR_LOOKBACK, 0.3, "Evening Doji Star"),
    ("cdleveningstar", k.cdleveningstar_seg_nb, k.CDLEVENINGSTAR_LOOKBACK, 0.3, "Evening Star"),
    ("cdlgapsidesidewhite", k.cdlgapsidesidewhite_seg_nb, k.CDLGAPSIDESIDEWHITE_LOOKBACK, None, "Up/Down-gap side-by-side white lines"),
    ("cdlgravestonedoji", k.cdlgravestonedoji_seg_nb, k.CDLGRAVESTONEDOJI_LOOKBACK, None, "Gravestone Doji"),
    ("cdlhammer", k.cdlhammer_seg_nb, k.CDLHAMMER_LOOKBACK, None, "Hammer"),
    ("cdlhangingman", k.cdlhangingman_seg_nb, k.CDLHANGINGMAN_LOOKBACK, None, "Hanging Man"),
    ("cdlharami", k.cdlharami_seg_nb, k.CDLHARAMI_LOOKBACK, None, "Harami Pattern"),
    ("cdlharamicross", k.cdlharamicross_seg_nb, k.CDLHARAMICROSS_LOOKBACK, None, "Harami Cross Pattern"),
    ("cdlhighwave", k.cdlhighwave_seg_nb, k.CDLHIGHWAVE_LOOKBACK, None, "High-Wave Candle"),
    ("cdlhikkake", k.cdlhikkake_seg_nb, k.CDLHIKKAKE_LOOKBACK, None, "Hikkake Pattern"),
    ("cdlhikkakemod", k.cdlhikkakemod_seg_nb, k.CDLHIKKAKEMOD_LOOKBACK, None, "Modified Hikkake Pattern"),
    ("cdlhomingpigeon", k.cdlhomingpigeon_seg_nb, k.CDLHOMINGPIGEON_LOOKBACK, None, "Homing Pigeon"),
    ("cdlidentical3crows", k.cdlidentical3crows_seg_nb, k.CDLIDENTICAL3CROWS_LOOKBACK, None, "Identical Three Crows"),
    ("cdlinneck", k.cdlinneck_seg_nb, k.CDLINNECK_LOOKBACK, None, "In-Neck Pattern"),
    ("cdlinvertedhammer", k.cdlinvertedhammer_seg_nb, k.CDLINVERTEDHAMMER_LOOKBACK, None, "Inverted Hammer"),
    ("cdlkicking", k.cdlkicking_seg_nb, k.CDLKICKING_LOOKBACK, None, "Kicking"),
    ("cdlkickingbylength", k.cdlkickingbylength_seg_nb, k.CDLKICKINGBYLENGTH_LOOKBACK, None, "Kicking - bull/bear determined by the longer marubozu"),
    ("cdlladderbottom", k.cdlladderbottom_seg_nb, k.CDLLADDERBOTTOM_LOOKBACK, None, "Ladder Bottom"),
    ("cdllongleggeddoji", k.cdllongleggeddoji_seg_nb, k.CDLLONGLEGGEDDOJI_LOOKBACK, None, "Long Legged Doji"),
    ("cdllongline", k.cdllongline_seg_nb, k.CDLLONGLINE_LOOKBACK, None, "Long Line Candle"),
    ("cdlmarubozu", k.cdlmarubozu_seg_nb, k.CDLMARUBOZU_LOOKBACK, None, "Marubozu"),
    ("cdlmatchinglow", k.cdlmatchinglow_seg_nb, k.CDLMATCHINGLOW_LOOKBACK, None, "Matching Low"),
)


def _fixed(value):
    """A lookback that does not depend on the parameters."""
    return lambda **_: value


for _name, _kernel, _lookback, _penetration, _doc in _PATTERNS:
    _params = ()
    _examples = ()
    if _penetration is not None:
        _params = (
            Param(
                "penetration",
                _penetration,
                0.0,
                _PENETRATION_MAX,
                "fraction of the first candle's real body the last one must reach into",
            ),
        )
        _examples = _PENETRATION_EXAMPLES
    register(
        Indicator(
            name=_name,
            group=GROUP,
            inputs=INPUTS,
            params=_params,
            outputs=("integer",),
            kernel=_kernel,
            lookback=_fixed(_lookback),
            examples=_examples,
            integer=True,
            doc=_doc,
        )
    )
