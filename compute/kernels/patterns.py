"""Candlestick patterns (TA-Lib group "Pattern Recognition"), one rule per bar each.

A rule tells whether its pattern fires at bar ``i``, from the prices and the candle averages
its parameters name (``long2``: the ``long`` average for candle ``i - 2``);
``@pattern(candles, code=...)`` (``compute.kernels.candles``) declares the code stored then
(+-100, or that times the color of a candle) and registers the pattern's 1-D kernel,
generated around the rule, in ``KERNELS``. Patterns that differ in a constant or an average
share one rule, one ``@pattern`` line each (the stars, HAMMER and HANGINGMAN, ...). Rules
whose code depends on more than one candle (ENGULFING, HARAMI, TRISTAR, ...) return it
themselves. CDLHIKKAKE and CDLHIKKAKEMOD carry a pending setup from bar to bar and share a
1-D kernel written by hand.

Conditions are TA-Lib's, the candle colors first (``colors_nb``); the comments name the
candles. Patterns that come in a white and a black form test both with one rule, ``d`` (1
or -1) flipping the comparisons: multiplying by -1 is exact, so ``x * d > y * d`` is
``x < y`` for ``d`` = -1 to the bit. Where TA-Lib's ``min``/``max`` take (close, open)
rather than (open, close), ``c_min_nb``/``c_max_nb`` keep that order so NaN prices give
TA-Lib's answer. Every bar stores its code (``select_nb(hit, code, 0)``, which stays a
cmov) rather than storing only on a hit: a conditional store is a branch that mispredicts
on noisy prices. The tests are combined with ``&``, evaluated whole and branch-free: with
the short-circuit ``and`` (a branch per test, the results are the same) 3BLACKCROWS,
3LINESTRIKE, CONCEALBABYSWALL, LADDERBOTTOM and STICKSANDWICH measured 1.0-1.1x TA-Lib,
with ``&`` and ``select_nb`` 0.3-0.6x.
"""

from numba import njit

from compute.kernels.candles import (
    KERNELS,
    LOOKBACKS,
    SETTINGS,
    at_least_nb,
    average_nb,
    body_bottom_nb,
    body_gap_nb,
    body_top_nb,
    c_max_nb,
    c_min_nb,
    color_nb,
    colors_nb,
    first_valid_nb,
    gap_nb,
    high_low_nb,
    lower_shadow_nb,
    next_total_nb,
    pattern,
    real_body_nb,
    select_nb,
    total_nb,
    upper_shadow_nb,
    within_nb,
)


@pattern(3, code=-100)
def cdl2crows(bars, o, c, i, long2):
    return (
        colors_nb(bars, i, (1, -1, -1))
        & (real_body_nb(bars, i - 2) > long2)  # 1st: long white
        & body_gap_nb(bars, i - 1, i - 2, 1)  # 2nd: black, body gapping up
        & (o[i] < o[i - 1])  # 3rd: black, opening within the 2nd body
        & (o[i] > c[i - 1])
        & (c[i] > o[i - 2])  # closing within the 1st body
        & (c[i] < c[i - 2])
    )


@pattern(4, code=-100)
def cdl3blackcrows(bars, o, h, c, i, shadow_vshort2, shadow_vshort1, shadow_vshort0):
    return (
        colors_nb(bars, i, (1, -1, -1, -1))
        & (lower_shadow_nb(bars, i - 2) < shadow_vshort2)  # with very short lower shadows
        & (lower_shadow_nb(bars, i - 1) < shadow_vshort1)
        & (lower_shadow_nb(bars, i) < shadow_vshort0)
        & (o[i - 1] < o[i - 2])  # each opening within the prior black body
        & (o[i - 1] > c[i - 2])
        & (o[i] < o[i - 1])
        & (o[i] > c[i - 1])
        & (h[i - 3] > c[i - 2])  # 1st black closes under the white's high
        & (c[i - 2] > c[i - 1])  # three declining closes
        & (c[i - 1] > c[i])
    )


@pattern(3, code=-100, color_of=2)
def cdl3inside(bars, o, c, i, long2, short1):
    d = color_nb(bars, i - 2)
    return (
        (real_body_nb(bars, i - 2) > long2)  # 1st long
        & (real_body_nb(bars, i - 1) <= short1)
        # 2nd short, inside the 1st body
        & (c_max_nb(c[i - 1], o[i - 1]) < c_max_nb(c[i - 2], o[i - 2]))
        & (c_min_nb(c[i - 1], o[i - 1]) > c_min_nb(c[i - 2], o[i - 2]))
        # 3rd opposite to the 1st, closing beyond the 1st open (d flips the comparison)
        & (color_nb(bars, i) == -d)
        & (c[i] * d < o[i - 2] * d)
    )


@pattern(4, code=100, color_of=1)
def cdl3linestrike(bars, o, c, i, near3, near2):
    d = color_nb(bars, i - 1)  # 1 white, -1 black: flips the comparisons of the closes
    return (
        colors_nb(bars, i, (d, d, d, -d))  # three of one color, the 4th of the other
        # 2nd opens within or near the 1st body, 3rd within or near the 2nd
        & (o[i - 2] >= body_bottom_nb(bars, i - 3) - near3)
        & (o[i - 2] <= body_top_nb(bars, i - 3) + near3)
        & (o[i - 1] >= body_bottom_nb(bars, i - 2) - near2)
        & (o[i - 1] <= body_top_nb(bars, i - 2) + near2)
        & (c[i - 1] * d > c[i - 2] * d)  # higher closes (white), lower (black)
        & (c[i - 2] * d > c[i - 3] * d)
        & (o[i] * d > c[i - 1] * d)  # 4th opens beyond the 3rd close
        & (c[i] * d < o[i - 3] * d)  # and closes beyond the 1st open
    )


# TA-Lib declares a lookback of 3 although it reads only 3 candles
@pattern(3, code=100, color_of=1, lookback_bars=3)
def cdl3outside(bars, o, c, i):
    d = color_nb(bars, i - 1)  # 1: white engulfs black, 3rd closes higher; -1: the reverse
    return (
        (color_nb(bars, i - 2) == -d)
        & (c[i - 1] * d > o[i - 2] * d)
        & (o[i - 1] * d < c[i - 2] * d)
        & (c[i] * d > c[i - 1] * d)
    )


@pattern(3, code=100)
def cdl3starsinsouth(
    bars, o, h, lo_, c, i, long2, shadow_long2, shadow_vshort1, shadow_vshort0, short0
):
    return (
        colors_nb(bars, i, (-1, -1, -1))  # three black candles
        # 1st: long, with a long lower shadow
        & (real_body_nb(bars, i - 2) > long2)
        & (lower_shadow_nb(bars, i - 2) > shadow_long2)
        # 2nd: smaller, opening higher but within the 1st range, trading lower than
        # the 1st close but not under its low, with a lower shadow
        & (real_body_nb(bars, i - 1) < real_body_nb(bars, i - 2))
        & (o[i - 1] > c[i - 2])
        & (o[i - 1] <= h[i - 2])
        & (lo_[i - 1] < c[i - 2])
        & (lo_[i - 1] >= lo_[i - 2])
        & (lower_shadow_nb(bars, i - 1) > shadow_vshort1)
        # 3rd: small marubozu inside the 2nd range
        & (real_body_nb(bars, i) < short0)
        & (lower_shadow_nb(bars, i) < shadow_vshort0)
        & (upper_shadow_nb(bars, i) < shadow_vshort0)
        & (lo_[i] > lo_[i - 1])
        & (h[i] < h[i - 1])
    )


@pattern(3, code=100)
def cdl3whitesoldiers(
    bars, o, c, i, shadow_vshort2, shadow_vshort1, shadow_vshort0, near2, near1, far2, far1, short0
):
    return (
        colors_nb(bars, i, (1, 1, 1))  # three white candles with very short upper shadows
        & (upper_shadow_nb(bars, i - 2) < shadow_vshort2)
        & (upper_shadow_nb(bars, i - 1) < shadow_vshort1)
        & (upper_shadow_nb(bars, i) < shadow_vshort0)
        & (c[i] > c[i - 1])  # consecutive higher closes
        & (c[i - 1] > c[i - 2])
        # each opens within or near the prior body
        & (o[i - 1] > o[i - 2])
        & (o[i - 1] <= c[i - 2] + near2)
        & (o[i] > o[i - 1])
        & (o[i] <= c[i - 1] + near1)
        # none far shorter than the one before; the 3rd not short
        & (real_body_nb(bars, i - 1) > real_body_nb(bars, i - 2) - far2)
        & (real_body_nb(bars, i) > real_body_nb(bars, i - 1) - far1)
        & (real_body_nb(bars, i) > short0)
    )


@pattern(3, code=100, color_of=0)
def cdlabandonedbaby(bars, c, i, long2, doji1, short0, penetration):
    d = color_nb(bars, i)  # -1: white, doji, black; 1: black, doji, white
    deep = d * real_body_nb(bars, i - 2) * penetration  # exact: d only flips the sign
    return (
        (real_body_nb(bars, i - 2) > long2)  # 1st long
        & (real_body_nb(bars, i - 1) <= doji1)  # doji
        & (real_body_nb(bars, i) > short0)  # 3rd not short
        & (color_nb(bars, i - 2) == -d)
        & gap_nb(bars, i - 1, i - 2, -d)  # the doji gaps away from the 1st
        & gap_nb(bars, i, i - 1, d)  # the 3rd gaps back, deep into the 1st body
        & (c[i] * d > (c[i - 2] + deep) * d)
    )


@pattern(3, code=-100)
def cdladvanceblock(
    bars,
    o,
    c,
    i,
    shadow_short2,
    shadow_short1,
    shadow_short0,
    shadow_long0,
    near2,
    near1,
    far2,
    far1,
    long2,
):
    body2 = real_body_nb(bars, i - 2)
    body1 = real_body_nb(bars, i - 1)
    body0 = real_body_nb(bars, i)
    return (
        colors_nb(bars, i, (1, 1, 1))
        & (c[i] > c[i - 1])  # three white candles with higher closes
        & (c[i - 1] > c[i - 2])
        # each opens within or near the prior body
        & (o[i - 1] > o[i - 2])
        & (o[i - 1] <= c[i - 2] + near2)
        & (o[i] > o[i - 1])
        & (o[i] <= c[i - 1] + near1)
        # 1st: long body, short upper shadow
        & (body2 > long2)
        & (upper_shadow_nb(bars, i - 2) < shadow_short2)
        & (
            # 2nd far smaller than the 1st and 3rd not longer than the 2nd
            ((body1 < body2 - far2) & (body0 < body1 + near1))
            # or 3rd far smaller than the 2nd
            | (body0 < body1 - far1)
            # or shrinking bodies with a not-short upper shadow on the 2nd or 3rd
            | (
                (body0 < body1)
                & (body1 < body2)
                & (
                    (upper_shadow_nb(bars, i) > shadow_short0)
                    | (upper_shadow_nb(bars, i - 1) > shadow_short1)
                )
            )
            # or a smaller 3rd with a long upper shadow
            | ((body0 < body1) & (upper_shadow_nb(bars, i) > shadow_long0))
        )
    )


@pattern(1, code=100, color_of=0, name="cdlbelthold", at_close=False)
@pattern(1, code=100, color_of=0, name="cdlclosingmarubozu", at_close=True)
@njit(cache=True)
def belt_nb(bars, i, long0, shadow_vshort0, at_close):
    """Candle ``i`` is long with a very short shadow at its open (belt hold) or, with
    ``at_close``, at its close (closing marubozu)."""
    white, black = lower_shadow_nb(bars, i), upper_shadow_nb(bars, i)  # the shadows at the open
    if at_close:
        white, black = black, white
    return (real_body_nb(bars, i) > long0) & (
        ((color_nb(bars, i) == 1) & (white < shadow_vshort0))
        | ((color_nb(bars, i) == -1) & (black < shadow_vshort0))
    )


@pattern(5, code=100, color_of=0)
def cdlbreakaway(bars, o, h, lo_, c, i, long4):
    d = color_nb(bars, i - 4)  # 1 white, -1 black: flips the comparisons below
    return (
        (real_body_nb(bars, i - 4) > long4)  # 1st long
        & colors_nb(bars, i, (d, d, 0, d, -d))  # 1st, 2nd and 4th of one color, 5th not
        & body_gap_nb(bars, i - 3, i - 4, d)  # 2nd gaps away from the 1st
        & (h[i - 2] * d > h[i - 3] * d)  # higher (lower) highs and lows
        & (lo_[i - 2] * d > lo_[i - 3] * d)
        & (h[i - 1] * d > h[i - 2] * d)
        & (lo_[i - 1] * d > lo_[i - 2] * d)
        & (c[i] * d < o[i - 3] * d)  # 5th closes in the gap
        & (c[i] * d > c[i - 4] * d)
    )


@pattern(4, code=100)
def cdlconcealbabyswall(bars, h, lo_, c, i, shadow_vshort3, shadow_vshort2, shadow_vshort1):
    return (
        colors_nb(bars, i, (-1, -1, -1, -1))  # four black candles
        # 1st and 2nd: marubozu
        & (lower_shadow_nb(bars, i - 3) < shadow_vshort3)
        & (upper_shadow_nb(bars, i - 3) < shadow_vshort3)
        & (lower_shadow_nb(bars, i - 2) < shadow_vshort2)
        & (upper_shadow_nb(bars, i - 2) < shadow_vshort2)
        # 3rd: gaps down, with an upper shadow reaching into the 2nd body
        & body_gap_nb(bars, i - 1, i - 2, -1)
        & (upper_shadow_nb(bars, i - 1) > shadow_vshort1)
        & (h[i - 1] > c[i - 2])
        # 4th: engulfs the 3rd, shadows included
        & (h[i] > h[i - 1])
        & (lo_[i] < lo_[i - 1])
    )


@pattern(2, code=100, color_of=0)
def cdlcounterattack(bars, c, i, equal1, long1, long0):
    return (
        (color_nb(bars, i - 1) == -color_nb(bars, i))  # opposite colors, both long
        & (real_body_nb(bars, i - 1) > long1)
        & (real_body_nb(bars, i) > long0)
        & within_nb(c[i], c[i - 1], equal1)  # equal closes
    )


@pattern(2, code=-100)
def cdldarkcloudcover(bars, o, h, c, i, long1, penetration):
    return (
        colors_nb(bars, i, (1, -1))
        & (real_body_nb(bars, i - 1) > long1)  # 1st: long white
        & (o[i] > h[i - 1])  # 2nd: black, opening above the prior high
        & (c[i] > o[i - 1])  # closing within the prior body, deep enough
        & (c[i] < c[i - 1] - real_body_nb(bars, i - 1) * penetration)
    )


@pattern(1, code=100)
def cdldoji(bars, i, doji0):
    return real_body_nb(bars, i) <= doji0


@pattern(2, code=-100, color_of=1)
def cdldojistar(bars, i, long1, doji0):
    return (
        (real_body_nb(bars, i - 1) > long1)  # 1st long
        & (real_body_nb(bars, i) <= doji0)  # 2nd doji
        & body_gap_nb(bars, i, i - 1, color_nb(bars, i - 1))  # away in the 1st's direction
    )


@pattern(1, code=100, name="cdldragonflydoji", up=False, longer0="shadow_vshort0")
@pattern(1, code=100, name="cdlgravestonedoji", up=True, longer0="shadow_vshort0")
@pattern(1, code=100, name="cdltakuri", up=False, longer0="shadow_vlong0")
def one_shadow_doji(bars, i, doji0, shadow_vshort0, longer0, up):
    """A doji with a very short shadow on one side and a longer one (``longer0``) on the
    other: above for a gravestone (``up``), below for a dragonfly or takuri."""
    short, long = upper_shadow_nb(bars, i), lower_shadow_nb(bars, i)
    if up:
        short, long = long, short
    return (real_body_nb(bars, i) <= doji0) & (short < shadow_vshort0) & (long > longer0)


@pattern(2, lookback_bars=2)  # TA-Lib declares 2 although it reads only 2 candles
def cdlengulfing(bars, o, c, i):
    d = color_nb(bars, i)  # 1: white engulfs black; -1: black engulfs white
    hit = (color_nb(bars, i - 1) == -d) & (
        ((c[i] * d >= o[i - 1] * d) & (o[i] * d < c[i - 1] * d))
        | ((c[i] * d > o[i - 1] * d) & (o[i] * d <= c[i - 1] * d))
    )
    # 80 when one end of the bodies matches (engulfing on one side only)
    size = 100 if (o[i] != c[i - 1]) & (c[i] != o[i - 1]) else 80
    return select_nb(hit, d * size, 0)


@pattern(3, code=-100, name="cdleveningdojistar", d=-1, small1="doji1")
@pattern(3, code=-100, name="cdleveningstar", d=-1, small1="short1")
@pattern(3, code=100, name="cdlmorningdojistar", d=1, small1="doji1")
@pattern(3, code=100, name="cdlmorningstar", d=1, small1="short1")
def star(bars, c, i, long2, small1, short0, penetration, d):
    """A morning (``d`` = 1) or evening (``d`` = -1) star: a long candle against ``d``, a
    small body (``small1``: a short or doji average) gapping away from it, then a candle of
    color ``d``, not short, closing well into the 1st body."""
    deep = real_body_nb(bars, i - 2) * penetration
    closes_in = c[i] > c[i - 2] + deep if d == 1 else c[i] < c[i - 2] - deep
    return (
        colors_nb(bars, i, (-d, 0, d))
        & (real_body_nb(bars, i - 2) > long2)
        & (real_body_nb(bars, i - 1) <= small1)
        & body_gap_nb(bars, i - 1, i - 2, -d)
        & (real_body_nb(bars, i) > short0)
        & closes_in
    )


@pattern(3)
def cdlgapsidesidewhite(bars, o, i, near1, equal1):
    d = select_nb(body_gap_nb(bars, i - 1, i - 2, 1), 1, -1)  # 1: the gap is up
    hit = (
        body_gap_nb(bars, i - 1, i - 2, d)  # 2nd and 3rd both gap away from the 1st
        & body_gap_nb(bars, i, i - 2, d)
        & (color_nb(bars, i - 1) == 1)  # two white candles of about the same size
        & (color_nb(bars, i) == 1)
        & within_nb(real_body_nb(bars, i), real_body_nb(bars, i - 1), near1)
        & within_nb(o[i], o[i - 1], equal1)  # and the same open
    )
    return select_nb(hit, 100 * d, 0)


@pattern(2, code=100, name="cdlhammer", d=1)
@pattern(2, code=-100, name="cdlhangingman", d=-1)
def hammer(bars, o, h, lo_, c, i, short0, shadow_long0, shadow_vshort0, near1, d):
    """A small body with a long lower shadow and almost no upper one, near the prior
    candle's low (hammer, ``d`` = 1) or high (hanging man, ``d`` = -1)."""
    bottom = c_min_nb(c[i], o[i])
    near = bottom <= lo_[i - 1] + near1 if d == 1 else bottom >= h[i - 1] - near1
    return (
        (real_body_nb(bars, i) < short0)
        & (lower_shadow_nb(bars, i) > shadow_long0)
        & (upper_shadow_nb(bars, i) < shadow_vshort0)
        & near
    )


@pattern(2, name="cdlharami", small0="short0")
@pattern(2, name="cdlharamicross", small0="doji0")
def harami(bars, o, c, i, long1, small0):
    """A long candle, then a short body (``small0``: a short or doji average) inside its
    body: +-100 against the 1st candle's color, +-80 where one end of the bodies matches."""
    hit = (real_body_nb(bars, i - 1) > long1) & (real_body_nb(bars, i) <= small0)
    top, bottom = c_max_nb(c[i], o[i]), c_min_nb(c[i], o[i])
    prev_top, prev_bottom = c_max_nb(c[i - 1], o[i - 1]), c_min_nb(c[i - 1], o[i - 1])
    size = 0
    if (top <= prev_top) & (bottom >= prev_bottom):
        size = 100 if (top < prev_top) & (bottom > prev_bottom) else 80
    return select_nb(hit, -color_nb(bars, i - 1) * size, 0)


@pattern(1, code=100, color_of=0)
def cdlhighwave(bars, i, short0, shadow_vlong0):
    return (
        (real_body_nb(bars, i) < short0)
        & (upper_shadow_nb(bars, i) > shadow_vlong0)
        & (lower_shadow_nb(bars, i) > shadow_vlong0)
    )


NEAR = SETTINGS["near"]
# TA-Lib declares 5: the 3-candle setup plus 3 bars replayed to know a pending confirmation
CDLHIKKAKE_LOOKBACK = LOOKBACKS["cdlhikkake"] = 5
CDLHIKKAKEMOD_LOOKBACK = LOOKBACKS["cdlhikkakemod"] = max(1, NEAR[1]) + 5


@njit(cache=True)
def hikkake_nb(open_, high, low, close, out, modified):
    """numba equivalent of ``talib.CDLHIKKAKE``, or with ``modified`` of ``CDLHIKKAKEMOD``.

    +-100 on the setup (an inside bar, then a bar breaking it one way), +-200 when a later
    close within 3 bars confirms it by breaking the inside bar the other way; the setup
    stays pending for 3 bars. CDLHIKKAKEMOD wants two inside bars, the first one closing
    near its low (bullish) or high (bearish). The inside and breakout tests are combined
    with ``&``, and ``at_least_nb`` drops the negative-index wrap of ``x[i - k]``: with
    ``and`` (a branch per test on random highs and lows) and the wrap, 1.24x and 1.56x
    TA-Lib; now 1.06x and 0.96x.
    """
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    n = close.shape[0]
    a = first_valid_nb(bars, 0, n)
    start = a + (CDLHIKKAKEMOD_LOOKBACK if modified else CDLHIKKAKE_LOOKBACK)
    if start >= n:
        return
    t_near = total_nb(bars, NEAR, start - 5) if modified else 0.0
    setup = a  # index of the last setup bar; ``a`` (TA-Lib's 0) when none is pending
    result = 0
    for i in range(start - 3, n):
        i = at_least_nb(i, 3 if modified else 2)
        inside = (h[i - 1] < h[i - 2]) & (lo_[i - 1] > lo_[i - 2])
        bullish = (h[i] < h[i - 1]) & (lo_[i] < lo_[i - 1])  # breaks down
        bearish = (h[i] > h[i - 1]) & (lo_[i] > lo_[i - 1])  # breaks up
        if modified:  # two inside bars, the 1st closing near its low (high)
            inside &= (h[i - 2] < h[i - 3]) & (lo_[i - 2] > lo_[i - 3])
            near = average_nb(bars, NEAR, t_near, i - 2)
            bullish &= c[i - 2] <= lo_[i - 2] + near
            bearish &= c[i - 2] >= h[i - 2] - near
            t_near = next_total_nb(bars, NEAR, t_near, i - 2)
        if inside & (bullish | bearish):
            result = 100 * (1 if h[i] < h[i - 1] else -1)
            setup = i
            if i >= start:
                out[i] = result
        elif i <= setup + 3 and (
            (result > 0 and c[i] > h[setup - 1]) or (result < 0 and c[i] < lo_[setup - 1])
        ):
            if i >= start:
                out[i] = result + 100 * (1 if result > 0 else -1)
            setup = a


KERNELS["cdlhikkake"] = (hikkake_nb, (False,))
KERNELS["cdlhikkakemod"] = (hikkake_nb, (True,))


@pattern(2, code=100)
def cdlhomingpigeon(bars, o, c, i, long1, short0):
    return (
        colors_nb(bars, i, (-1, -1))  # two black candles
        & (real_body_nb(bars, i - 1) > long1)  # long
        & (real_body_nb(bars, i) <= short0)  # short
        & (o[i] < o[i - 1])  # 2nd inside the 1st body
        & (c[i] > c[i - 1])
    )


@pattern(3, code=-100)
def cdlidentical3crows(
    bars, o, c, i, shadow_vshort2, shadow_vshort1, shadow_vshort0, equal2, equal1
):
    return (
        colors_nb(bars, i, (-1, -1, -1))  # three black candles with very short lower shadows
        & (lower_shadow_nb(bars, i - 2) < shadow_vshort2)
        & (lower_shadow_nb(bars, i - 1) < shadow_vshort1)
        & (lower_shadow_nb(bars, i) < shadow_vshort0)
        & (c[i - 2] > c[i - 1])  # declining
        & (c[i - 1] > c[i])
        # each opening at about the prior close
        & within_nb(o[i - 1], c[i - 2], equal2)
        & within_nb(o[i], c[i - 1], equal1)
    )


@pattern(2, code=-100, name="cdlinneck", closes=0)
@pattern(2, code=-100, name="cdlonneck", closes=1)
@pattern(2, code=-100, name="cdlthrusting", closes=2)
def neck(bars, o, lo_, c, i, equal1, long1, closes):
    """A long black candle, then a white one opening below its low and closing slightly
    into its body (in-neck, ``closes`` 0), at its low (on-neck, 1), or into it but not above
    its midpoint (thrusting, 2)."""
    if closes == 0:
        close = (c[i] <= c[i - 1] + equal1) & (c[i] >= c[i - 1])
    elif closes == 1:
        close = within_nb(c[i], lo_[i - 1], equal1)
    else:
        close = (c[i] > c[i - 1] + equal1) & (c[i] <= c[i - 1] + real_body_nb(bars, i - 1) * 0.5)
    return (
        colors_nb(bars, i, (-1, 1))
        & (real_body_nb(bars, i - 1) > long1)  # 1st: long black
        & (o[i] < lo_[i - 1])  # 2nd: white, opening below the prior low
        & close
    )


@pattern(2, code=100, name="cdlinvertedhammer", d=1)
@pattern(2, code=-100, name="cdlshootingstar", d=-1)
def inverted_hammer(bars, i, short0, shadow_long0, shadow_vshort0, d):
    """A small body with a long upper shadow and almost no lower one, its body gapping down
    (inverted hammer, ``d`` = 1) or up (shooting star, ``d`` = -1)."""
    return (
        (real_body_nb(bars, i) < short0)
        & (upper_shadow_nb(bars, i) > shadow_long0)
        & (lower_shadow_nb(bars, i) < shadow_vshort0)
        & body_gap_nb(bars, i, i - 1, -d)
    )


@pattern(1, code=100, color_of=0, name="cdlmarubozu")
@njit(cache=True)
def marubozu_nb(bars, i, long0, shadow_vshort0):
    """Candle ``i`` is long with very short shadows (a marubozu)."""
    return (
        (real_body_nb(bars, i) > long0)
        & (upper_shadow_nb(bars, i) < shadow_vshort0)
        & (lower_shadow_nb(bars, i) < shadow_vshort0)
    )


@pattern(2, name="cdlkicking", by_length=False)
@pattern(2, name="cdlkickingbylength", by_length=True)
def kicking(bars, i, shadow_vshort1, shadow_vshort0, long1, long0, by_length):
    """Two marubozu of opposite colors with a gap between them: +-100 in the direction of
    the 2nd or, ``by_length``, of the longer one."""
    hit = (
        (color_nb(bars, i - 1) == -color_nb(bars, i))
        & marubozu_nb(bars, i - 1, long1, shadow_vshort1)
        & marubozu_nb(bars, i, long0, shadow_vshort0)
        & gap_nb(bars, i, i - 1, -color_nb(bars, i - 1))  # gap away from the 1st
    )
    longer = i if real_body_nb(bars, i) > real_body_nb(bars, i - 1) else i - 1
    return select_nb(hit, color_nb(bars, longer if by_length else i) * 100, 0)


@pattern(5, code=100)
def cdlladderbottom(bars, o, h, c, i, shadow_vshort1):
    return (
        colors_nb(bars, i, (-1, -1, -1, -1, 1))  # three black candles
        & (o[i - 4] > o[i - 3])  # with lower opens
        & (o[i - 3] > o[i - 2])
        & (c[i - 4] > c[i - 3])  # and lower closes
        & (c[i - 3] > c[i - 2])
        & (upper_shadow_nb(bars, i - 1) > shadow_vshort1)  # 4th: black with an upper shadow
        & (o[i] > o[i - 1])  # 5th: white, opening above the prior body
        & (c[i] > h[i - 1])  # and closing above the prior high
    )


@pattern(1, code=100)
def cdllongleggeddoji(bars, i, doji0, shadow_long0):
    return (real_body_nb(bars, i) <= doji0) & (
        (lower_shadow_nb(bars, i) > shadow_long0) | (upper_shadow_nb(bars, i) > shadow_long0)
    )


@pattern(1, code=100, color_of=0, name="cdllongline", d=1, body0="long0")
@pattern(1, code=100, color_of=0, name="cdlshortline", d=-1, body0="short0")
def line(bars, i, body0, shadow_short0, d):
    """A long (``d`` = 1) or short (``d`` = -1) body with short shadows."""
    return (
        (real_body_nb(bars, i) * d > body0 * d)
        & (upper_shadow_nb(bars, i) < shadow_short0)
        & (lower_shadow_nb(bars, i) < shadow_short0)
    )


@pattern(2, code=100)
def cdlmatchinglow(bars, c, i, equal1):
    return (
        colors_nb(bars, i, (-1, -1))
        & within_nb(c[i], c[i - 1], equal1)  # two black candles with the same close
    )


@pattern(5, code=100)
def cdlmathold(bars, o, h, c, i, long4, short3, short2, short1, penetration):
    reach = c[i - 4] - real_body_nb(bars, i - 4) * penetration
    return (
        colors_nb(bars, i, (1, -1, 0, 0, 1))  # 1st long, then three small
        & (real_body_nb(bars, i - 4) > long4)
        & (real_body_nb(bars, i - 3) < short3)
        & (real_body_nb(bars, i - 2) < short2)
        & (real_body_nb(bars, i - 1) < short1)
        # white, black, any two, white
        & body_gap_nb(bars, i - 3, i - 4, 1)  # 2nd gaps up from the 1st
        # 3rd and 4th hold within the 1st body, above the penetration level
        & (body_bottom_nb(bars, i - 2) < c[i - 4])
        & (body_bottom_nb(bars, i - 1) < c[i - 4])
        & (body_bottom_nb(bars, i - 2) > reach)
        & (body_bottom_nb(bars, i - 1) > reach)
        # 2nd to 4th falling
        & (c_max_nb(c[i - 2], o[i - 2]) < o[i - 3])
        & (c_max_nb(c[i - 1], o[i - 1]) < c_max_nb(c[i - 2], o[i - 2]))
        # 5th opens above the prior close, closes above the reaction highs
        & (o[i] > c[i - 1])
        & (c[i] > c_max_nb(c_max_nb(h[i - 3], h[i - 2]), h[i - 1]))
    )


@pattern(2, code=100)
def cdlpiercing(bars, o, lo_, c, i, long1, long0):
    return (
        colors_nb(bars, i, (-1, 1))
        & (real_body_nb(bars, i - 1) > long1)  # 1st: long black
        & (real_body_nb(bars, i) > long0)  # 2nd: long white
        & (o[i] < lo_[i - 1])  # opening below the prior low
        & (c[i] < o[i - 1])  # closing within the prior body, above its midpoint
        & (c[i] > c[i - 1] + real_body_nb(bars, i - 1) * 0.5)
    )


@pattern(1, code=100)
def cdlrickshawman(bars, lo_, i, doji0, shadow_long0, near0):
    mid = lo_[i] + high_low_nb(bars, i) / 2
    return (
        (real_body_nb(bars, i) <= doji0)  # doji
        & (lower_shadow_nb(bars, i) > shadow_long0)  # long
        & (upper_shadow_nb(bars, i) > shadow_long0)  # shadows
        # body near the middle of the range
        & (body_bottom_nb(bars, i) <= mid + near0)
        & (body_top_nb(bars, i) >= mid - near0)
    )


@pattern(5)
def cdlrisefall3methods(bars, o, h, lo_, c, i, long4, short3, short2, short1, long0):
    d = color_nb(bars, i - 4)  # +1 rising, -1 falling: flips the comparisons below
    hit = (
        # 1st long, then three small, 5th long
        (real_body_nb(bars, i - 4) > long4)
        & (real_body_nb(bars, i - 3) < short3)
        & (real_body_nb(bars, i - 2) < short2)
        & (real_body_nb(bars, i - 1) < short1)
        & (real_body_nb(bars, i) > long0)
        & colors_nb(bars, i, (d, -d, -d, -d, d))  # white, three black, white (or reverse)
        # 2nd to 4th: part of each body within the 1st range
        & (body_bottom_nb(bars, i - 3) < h[i - 4])
        & (body_top_nb(bars, i - 3) > lo_[i - 4])
        & (body_bottom_nb(bars, i - 2) < h[i - 4])
        & (body_top_nb(bars, i - 2) > lo_[i - 4])
        & (body_bottom_nb(bars, i - 1) < h[i - 4])
        & (body_top_nb(bars, i - 1) > lo_[i - 4])
        # 2nd to 4th falling (rising)
        & (c[i - 2] * d < c[i - 3] * d)
        & (c[i - 1] * d < c[i - 2] * d)
        # 5th opens beyond the prior close and closes beyond the 1st close
        & (o[i] * d > c[i - 1] * d)
        & (c[i] * d > c[i - 4] * d)
    )
    return select_nb(hit, 100 * d, 0)


@pattern(2, code=100, color_of=0)
def cdlseparatinglines(bars, o, i, shadow_vshort0, long0, equal1):
    return (
        (color_nb(bars, i - 1) == -color_nb(bars, i))  # opposite colors, same open
        & within_nb(o[i], o[i - 1], equal1)
        & belt_nb(bars, i, long0, shadow_vshort0, False)  # belt hold
    )


@pattern(1, code=100, color_of=0)
def cdlspinningtop(bars, i, short0):
    body = real_body_nb(bars, i)
    return (
        (body < short0)  # small body, longer shadows
        & (upper_shadow_nb(bars, i) > body)
        & (lower_shadow_nb(bars, i) > body)
    )


@pattern(3, code=-100)
def cdlstalledpattern(bars, o, c, i, long2, long1, short0, shadow_vshort1, near2, near1):
    return (
        colors_nb(bars, i, (1, 1, 1))
        & (c[i] > c[i - 1])  # three white candles with higher closes
        & (c[i - 1] > c[i - 2])
        # 1st and 2nd long, the 2nd with a very short upper shadow
        & (real_body_nb(bars, i - 2) > long2)
        & (real_body_nb(bars, i - 1) > long1)
        & (upper_shadow_nb(bars, i - 1) < shadow_vshort1)
        # 2nd opens within or near the 1st body
        & (o[i - 1] > o[i - 2])
        & (o[i - 1] <= c[i - 2] + near2)
        # 3rd: small, riding on the shoulder of the 2nd
        & (real_body_nb(bars, i) < short0)
        & (o[i] >= c[i - 1] - real_body_nb(bars, i) - near1)
    )


@pattern(3, code=100)
def cdlsticksandwich(bars, lo_, c, i, equal2):
    return (
        colors_nb(bars, i, (-1, 1, -1))  # black, white, black
        & (lo_[i - 1] > c[i - 2])  # 2nd trades above the 1st close
        & within_nb(c[i], c[i - 2], equal2)  # 1st, 3rd same close
    )


@pattern(3, code=100, color_of=1)
def cdltasukigap(bars, o, c, i, near1):
    d = color_nb(bars, i - 1)  # 1: upside gap, white then black; -1: the reverse
    edge = select_nb(d == 1, c_max_nb(c[i - 2], o[i - 2]), c_min_nb(c[i - 2], o[i - 2]))
    return (
        body_gap_nb(bars, i - 1, i - 2, d)
        & (color_nb(bars, i) == -d)
        # 3rd opens within the 2nd body and closes in the gap
        & (o[i] * d < c[i - 1] * d)
        & (o[i] * d > o[i - 1] * d)
        & (c[i] * d < o[i - 1] * d)
        & (c[i] * d > edge * d)
        # bodies of about the same size
        & (abs(real_body_nb(bars, i - 1) - real_body_nb(bars, i)) < near1)
    )


@pattern(3)
def cdltristar(bars, i, doji2):
    """numba equivalent of ``talib.CDLTRISTAR``.

    TA-Lib judges all three dojis against the average before the first one. The code is
    computed without branches (the gap up and the gap down exclude each other): with
    ``and`` and two ``if`` it mispredicted on random gaps, 1.78x TA-Lib (``inspect_asm``).
    """
    hit = (
        (real_body_nb(bars, i - 2) <= doji2)
        & (real_body_nb(bars, i - 1) <= doji2)
        & (real_body_nb(bars, i) <= doji2)
    )
    # 2nd gaps up and the 3rd is not higher: bearish; the reverse: bullish
    up = body_gap_nb(bars, i - 1, i - 2, 1) & (body_top_nb(bars, i) < body_top_nb(bars, i - 1))
    down = body_gap_nb(bars, i - 1, i - 2, -1) & (
        body_bottom_nb(bars, i) > body_bottom_nb(bars, i - 1)
    )
    return 100 * (down - up) * hit


@pattern(3, code=100)
def cdlunique3river(bars, o, lo_, c, i, long2, short0):
    return (
        colors_nb(bars, i, (-1, -1, 1))
        & (real_body_nb(bars, i - 2) > long2)  # long black
        & (c[i - 1] > c[i - 2])  # 2nd: black harami with a lower low
        & (o[i - 1] <= o[i - 2])
        & (lo_[i - 1] < lo_[i - 2])
        & (real_body_nb(bars, i) < short0)  # 3rd: short
        & (o[i] > lo_[i - 1])  # white, opening not below the 2nd low
    )


@pattern(3, code=-100)
def cdlupsidegap2crows(bars, o, c, i, long2, short1):
    return (
        colors_nb(bars, i, (1, -1, -1))
        & (real_body_nb(bars, i - 2) > long2)  # 1st: long white
        & (real_body_nb(bars, i - 1) <= short1)  # 2nd: short black gapping up
        & body_gap_nb(bars, i - 1, i - 2, 1)
        & (o[i] > o[i - 1])  # 3rd: black engulfing the 2nd body
        & (c[i] < c[i - 1])
        & (c[i] > c[i - 2])  # closing above the 1st
    )


@pattern(3, code=100, color_of=2)
def cdlxsidegap3methods(bars, o, c, i):
    return (
        (color_nb(bars, i - 2) == color_nb(bars, i - 1))  # two of one color
        & (color_nb(bars, i - 1) == -color_nb(bars, i))  # 3rd of the other
        & (o[i] < c_max_nb(c[i - 1], o[i - 1]))  # opening within the 2nd body
        & (o[i] > c_min_nb(c[i - 1], o[i - 1]))
        & (c[i] < c_max_nb(c[i - 2], o[i - 2]))  # closing within the 1st body
        & (c[i] > c_min_nb(c[i - 2], o[i - 2]))
        & body_gap_nb(bars, i - 1, i - 2, color_nb(bars, i - 2))  # 2nd gaps in their direction
    )
