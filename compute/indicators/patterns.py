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

# name, default penetration (None: no such parameter), TA-Lib's description; the kernel and
# its constant arguments are ``compute.kernels.patterns.KERNELS[<name>]``, its lookback
# ``LOOKBACKS[<name>]``
_PATTERNS = (
    ("cdl2crows", None, "Two Crows"),
    ("cdl3blackcrows", None, "Three Black Crows"),
    ("cdl3inside", None, "Three Inside Up/Down"),
    ("cdl3linestrike", None, "Three-Line Strike"),
    ("cdl3outside", None, "Three Outside Up/Down"),
    ("cdl3starsinsouth", None, "Three Stars In The South"),
    ("cdl3whitesoldiers", None, "Three Advancing White Soldiers"),
    ("cdlabandonedbaby", 0.3, "Abandoned Baby"),
    ("cdladvanceblock", None, "Advance Block"),
    ("cdlbelthold", None, "Belt-hold"),
    ("cdlbreakaway", None, "Breakaway"),
    ("cdlclosingmarubozu", None, "Closing Marubozu"),
    ("cdlconcealbabyswall", None, "Concealing Baby Swallow"),
    ("cdlcounterattack", None, "Counterattack"),
    ("cdldarkcloudcover", 0.5, "Dark Cloud Cover"),
    ("cdldoji", None, "Doji"),
    ("cdldojistar", None, "Doji Star"),
    ("cdldragonflydoji", None, "Dragonfly Doji"),
    ("cdlengulfing", None, "Engulfing Pattern"),
    ("cdleveningdojistar", 0.3, "Evening Doji Star"),
    ("cdleveningstar", 0.3, "Evening Star"),
    ("cdlgapsidesidewhite", None, "Up/Down-gap side-by-side white lines"),
    ("cdlgravestonedoji", None, "Gravestone Doji"),
    ("cdlhammer", None, "Hammer"),
    ("cdlhangingman", None, "Hanging Man"),
    ("cdlharami", None, "Harami Pattern"),
    ("cdlharamicross", None, "Harami Cross Pattern"),
    ("cdlhighwave", None, "High-Wave Candle"),
    ("cdlhikkake", None, "Hikkake Pattern"),
    ("cdlhikkakemod", None, "Modified Hikkake Pattern"),
    ("cdlhomingpigeon", None, "Homing Pigeon"),
    ("cdlidentical3crows", None, "Identical Three Crows"),
    ("cdlinneck", None, "In-Neck Pattern"),
    ("cdlinvertedhammer", None, "Inverted Hammer"),
    ("cdlkicking", None, "Kicking"),
    ("cdlkickingbylength", None, "Kicking - bull/bear determined by the longer marubozu"),
    ("cdlladderbottom", None, "Ladder Bottom"),
    ("cdllongleggeddoji", None, "Long Legged Doji"),
    ("cdllongline", None, "Long Line Candle"),
    ("cdlmarubozu", None, "Marubozu"),
    ("cdlmatchinglow", None, "Matching Low"),
    ("cdlmathold", 0.5, "Mat Hold"),
    ("cdlmorningdojistar", 0.3, "Morning Doji Star"),
    ("cdlmorningstar", 0.3, "Morning Star"),
    ("cdlonneck", None, "On-Neck Pattern"),
    ("cdlpiercing", None, "Piercing Pattern"),
    ("cdlrickshawman", None, "Rickshaw Man"),
    ("cdlrisefall3methods", None, "Rising/Falling Three Methods"),
    ("cdlseparatinglines", None, "Separating Lines"),
    ("cdlshootingstar", None, "Shooting Star"),
    ("cdlshortline", None, "Short Line Candle"),
    ("cdlspinningtop", None, "Spinning Top"),
    ("cdlstalledpattern", None, "Stalled Pattern"),
    ("cdlsticksandwich", None, "Stick Sandwich"),
    ("cdltakuri", None, "Takuri (Dragonfly Doji with very long lower shadow)"),
    ("cdltasukigap", None, "Tasuki Gap"),
    ("cdlthrusting", None, "Thrusting Pattern"),
    ("cdltristar", None, "Tristar Pattern"),
    ("cdlunique3river", None, "Unique 3 River"),
    ("cdlupsidegap2crows", None, "Upside Gap Two Crows"),
    ("cdlxsidegap3methods", None, "Upside/Downside Gap Three Methods"),
)


def _fixed(value):
    """A lookback that does not depend on the parameters."""
    return lambda **_: value


for _name, _penetration, _doc in _PATTERNS:
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
            kernel=k.KERNELS[_name][0],
            kernel_args=k.KERNELS[_name][1],
            lookback=_fixed(k.LOOKBACKS[_name]),
            examples=_examples,
            integer=True,
            doc=_doc,
        )
    )
