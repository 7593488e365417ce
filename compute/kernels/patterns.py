"""Candlestick patterns (TA-Lib group "Pattern Recognition"), one rule per bar each.

A rule returns TA-Lib's int32 code for bar ``i``: +-100 (some +-80 or +-200), 0 when nothing
fires. ``@pattern(candles, (setting, k), ...)`` (``compute.kernels.candles``) makes it the
pattern's 1-D kernel, which walks the series from ``a + lookback`` (TA-Lib's first output;
``a`` is the first bar without a NaN price, where the ``talib`` wrapper starts) and keeps
one running total per (candle setting, candle ``i - k``) as TA-Lib does; the rule gets the
totals in the order declared. CDLHIKKAKE and CDLHIKKAKEMOD carry a pending setup from bar
to bar and are written as 1-D kernels by hand.

Conditions are TA-Lib's, in its order; the comments name the candles. Where TA-Lib's
``min``/``max`` take (close, open) rather than (open, close), ``c_min_nb``/``c_max_nb`` keep
that order so NaN prices give TA-Lib's answer. Every bar stores its code (``x if hit else
0``) rather than storing only on a hit: a conditional store is a branch that mispredicts on
noisy prices. Most kernels combine the tests with ``&``, evaluated whole and branch-free; the
multi-candle patterns whose leading color tests reject most bars keep the short-circuit
``and``, which measured faster for them (3WHITESOLDIERS, 3BLACKCROWS, 3LINESTRIKE,
IDENTICAL3CROWS, CONCEALBABYSWALL, EVENING/MORNINGDOJISTAR, INNECK, THRUSTING, LADDERBOTTOM,
STICKSANDWICH, STALLEDPATTERN). Both forms give the same result: no test has side effects.
"""

from numba import njit

from compute.kernels.candles import (
    BODY_DOJI,
    BODY_LONG,
    BODY_SHORT,
    EQUAL,
    FAR,
    LOOKBACKS,
    NEAR,
    SHADOW_LONG,
    SHADOW_SHORT,
    SHADOW_VERY_LONG,
    SHADOW_VERY_SHORT,
    average_nb,
    body_bottom_nb,
    body_gap_down_nb,
    body_gap_up_nb,
    body_top_nb,
    c_max_nb,
    c_min_nb,
    color_nb,
    first_valid_nb,
    gap_down_nb,
    gap_up_nb,
    high_low_nb,
    lower_shadow_nb,
    next_total_nb,
    pattern,
    real_body_nb,
    total_nb,
    upper_shadow_nb,
)


@pattern(3, (BODY_LONG, 2))
def cdl2crows_nb(bars, o, h, lo_, c, i, t_long):
    hit = (
        (color_nb(bars, i - 2) == 1)  # 1st: long white
        & (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))
        & (color_nb(bars, i - 1) == -1)  # 2nd: black, body gapping up
        & body_gap_up_nb(bars, i - 1, i - 2)
        & (color_nb(bars, i) == -1)  # 3rd: black, opening within the 2nd body
        & (o[i] < o[i - 1])
        & (o[i] > c[i - 1])
        & (c[i] > o[i - 2])  # closing within the 1st body
        & (c[i] < c[i - 2])
    )
    return -100 if hit else 0


@pattern(4, (SHADOW_VERY_SHORT, 2), (SHADOW_VERY_SHORT, 1), (SHADOW_VERY_SHORT, 0))
def cdl3blackcrows_nb(bars, o, h, lo_, c, i, t2, t1, t0):
    hit = (
        color_nb(bars, i - 3) == 1  # a white candle, then three black ones
        and color_nb(bars, i - 2) == -1  # with very short lower shadows
        and lower_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_VERY_SHORT, t2, i - 2)
        and color_nb(bars, i - 1) == -1
        and lower_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t1, i - 1)
        and color_nb(bars, i) == -1
        and lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t0, i)
        and o[i - 1] < o[i - 2]  # each opening within the prior black body
        and o[i - 1] > c[i - 2]
        and o[i] < o[i - 1]
        and o[i] > c[i - 1]
        and h[i - 3] > c[i - 2]  # 1st black closes under the white's high
        and c[i - 2] > c[i - 1]  # three declining closes
        and c[i - 1] > c[i]
    )
    return -100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_SHORT, 1))
def cdl3inside_nb(bars, o, h, lo_, c, i, t_long, t_short):
    hit = (
        (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # 1st long
        & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short, i - 1))
        # 2nd short, inside the 1st body
        & (c_max_nb(c[i - 1], o[i - 1]) < c_max_nb(c[i - 2], o[i - 2]))
        & (c_min_nb(c[i - 1], o[i - 1]) > c_min_nb(c[i - 2], o[i - 2]))
        & (  # 3rd opposite to the 1st, closing beyond the 1st open
            ((color_nb(bars, i - 2) == 1) & (color_nb(bars, i) == -1) & (c[i] < o[i - 2]))
            | ((color_nb(bars, i - 2) == -1) & (color_nb(bars, i) == 1) & (c[i] > o[i - 2]))
        )
    )
    return -color_nb(bars, i - 2) * 100 if hit else 0


@pattern(4, (NEAR, 3), (NEAR, 2))
def cdl3linestrike_nb(bars, o, h, lo_, c, i, t3, t2):
    hit = (
        color_nb(bars, i - 3) == color_nb(bars, i - 2)  # three of one color
        and color_nb(bars, i - 2) == color_nb(bars, i - 1)
        and color_nb(bars, i) == -color_nb(bars, i - 1)  # 4th of the other
        # 2nd opens within or near the 1st body, 3rd within or near the 2nd
        and o[i - 2] >= body_bottom_nb(bars, i - 3) - average_nb(bars, NEAR, t3, i - 3)
        and o[i - 2] <= body_top_nb(bars, i - 3) + average_nb(bars, NEAR, t3, i - 3)
        and o[i - 1] >= body_bottom_nb(bars, i - 2) - average_nb(bars, NEAR, t2, i - 2)
        and o[i - 1] <= body_top_nb(bars, i - 2) + average_nb(bars, NEAR, t2, i - 2)
        and (
            (  # three white with higher closes; 4th opens above, closes below 1st open
                color_nb(bars, i - 1) == 1
                and c[i - 1] > c[i - 2]
                and c[i - 2] > c[i - 3]
                and o[i] > c[i - 1]
                and c[i] < o[i - 3]
            )
            or (  # three black with lower closes; 4th opens below, closes above
                color_nb(bars, i - 1) == -1
                and c[i - 1] < c[i - 2]
                and c[i - 2] < c[i - 3]
                and o[i] < c[i - 1]
                and c[i] > o[i - 3]
            )
        )
    )
    return color_nb(bars, i - 1) * 100 if hit else 0


@pattern(3, lookback_bars=3)  # TA-Lib declares 3 although it reads only 3 candles
def cdl3outside_nb(bars, o, h, lo_, c, i):
    hit = (
        (color_nb(bars, i - 1) == 1)  # white engulfs black, 3rd closes higher
        & (color_nb(bars, i - 2) == -1)
        & (c[i - 1] > o[i - 2])
        & (o[i - 1] < c[i - 2])
        & (c[i] > c[i - 1])
    ) | (
        (color_nb(bars, i - 1) == -1)  # black engulfs white, 3rd closes lower
        & (color_nb(bars, i - 2) == 1)
        & (o[i - 1] > c[i - 2])
        & (c[i - 1] < o[i - 2])
        & (c[i] < c[i - 1])
    )
    return color_nb(bars, i - 1) * 100 if hit else 0


@pattern(
    3,
    (BODY_LONG, 2),
    (SHADOW_LONG, 2),
    (SHADOW_VERY_SHORT, 1),
    (SHADOW_VERY_SHORT, 0),
    (BODY_SHORT, 0),
)
def cdl3starsinsouth_nb(bars, o, h, lo_, c, i, t_long, t_shadow, t_vs1, t_vs0, t_short):
    hit = (
        (color_nb(bars, i - 2) == -1)  # three black candles
        & (color_nb(bars, i - 1) == -1)
        & (color_nb(bars, i) == -1)
        # 1st: long, with a long lower shadow
        & (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))
        & (lower_shadow_nb(bars, i - 2) > average_nb(bars, SHADOW_LONG, t_shadow, i - 2))
        # 2nd: smaller, opening higher but within the 1st range, trading lower than
        # the 1st close but not under its low, with a lower shadow
        & (real_body_nb(bars, i - 1) < real_body_nb(bars, i - 2))
        & (o[i - 1] > c[i - 2])
        & (o[i - 1] <= h[i - 2])
        & (lo_[i - 1] < c[i - 2])
        & (lo_[i - 1] >= lo_[i - 2])
        & (lower_shadow_nb(bars, i - 1) > average_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1))
        # 3rd: small marubozu inside the 2nd range
        & (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_short, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i))
        & (lo_[i] > lo_[i - 1])
        & (h[i] < h[i - 1])
    )
    return 100 if hit else 0


@pattern(
    3,
    (SHADOW_VERY_SHORT, 2),
    (SHADOW_VERY_SHORT, 1),
    (SHADOW_VERY_SHORT, 0),
    (NEAR, 2),
    (NEAR, 1),
    (FAR, 2),
    (FAR, 1),
    (BODY_SHORT, 0),
)
def cdl3whitesoldiers_nb(
    bars, o, h, lo_, c, i, t_vs2, t_vs1, t_vs0, t_near2, t_near1, t_far2, t_far1, t_short
):
    hit = (
        # three white candles with very short upper shadows
        color_nb(bars, i - 2) == 1
        and upper_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_VERY_SHORT, t_vs2, i - 2)
        and color_nb(bars, i - 1) == 1
        and upper_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
        and color_nb(bars, i) == 1
        and upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
        and c[i] > c[i - 1]  # consecutive higher closes
        and c[i - 1] > c[i - 2]
        # each opens within or near the prior body
        and o[i - 1] > o[i - 2]
        and o[i - 1] <= c[i - 2] + average_nb(bars, NEAR, t_near2, i - 2)
        and o[i] > o[i - 1]
        and o[i] <= c[i - 1] + average_nb(bars, NEAR, t_near1, i - 1)
        # none far shorter than the one before; the 3rd not short
        and real_body_nb(bars, i - 1)
        > real_body_nb(bars, i - 2) - average_nb(bars, FAR, t_far2, i - 2)
        and real_body_nb(bars, i) > real_body_nb(bars, i - 1) - average_nb(bars, FAR, t_far1, i - 1)
        and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)
    )
    return 100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_DOJI, 1), (BODY_SHORT, 0))
def cdlabandonedbaby_nb(bars, o, h, lo_, c, i, t_long, t_doji, t_short, penetration):
    hit = (
        (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # 1st long
        & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1))  # doji
        & (real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i))  # 3rd not short
        & (
            (  # white, doji gapping up, black gapping down deep into the 1st body
                (color_nb(bars, i - 2) == 1)
                & (color_nb(bars, i) == -1)
                & (c[i] < c[i - 2] - real_body_nb(bars, i - 2) * penetration)
                & gap_up_nb(bars, i - 1, i - 2)
                & gap_down_nb(bars, i, i - 1)
            )
            | (  # black, doji gapping down, white gapping up deep into the 1st body
                (color_nb(bars, i - 2) == -1)
                & (color_nb(bars, i) == 1)
                & (c[i] > c[i - 2] + real_body_nb(bars, i - 2) * penetration)
                & gap_down_nb(bars, i - 1, i - 2)
                & gap_up_nb(bars, i, i - 1)
            )
        )
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(
    3,
    (SHADOW_SHORT, 2),
    (SHADOW_SHORT, 1),
    (SHADOW_SHORT, 0),
    (SHADOW_LONG, 0),
    (NEAR, 2),
    (NEAR, 1),
    (FAR, 2),
    (FAR, 1),
    (BODY_LONG, 2),
)
def cdladvanceblock_nb(
    bars, o, h, lo_, c, i, t_ss2, t_ss1, t_ss0, t_sl0, t_near2, t_near1, t_far2, t_far1, t_long
):
    body2 = real_body_nb(bars, i - 2)
    body1 = real_body_nb(bars, i - 1)
    body0 = real_body_nb(bars, i)
    hit = (
        (color_nb(bars, i - 2) == 1)  # three white candles with higher closes
        & (color_nb(bars, i - 1) == 1)
        & (color_nb(bars, i) == 1)
        & (c[i] > c[i - 1])
        & (c[i - 1] > c[i - 2])
        # each opens within or near the prior body
        & (o[i - 1] > o[i - 2])
        & (o[i - 1] <= c[i - 2] + average_nb(bars, NEAR, t_near2, i - 2))
        & (o[i] > o[i - 1])
        & (o[i] <= c[i - 1] + average_nb(bars, NEAR, t_near1, i - 1))
        # 1st: long body, short upper shadow
        & (body2 > average_nb(bars, BODY_LONG, t_long, i - 2))
        & (upper_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_SHORT, t_ss2, i - 2))
        & (
            # 2nd far smaller than the 1st and 3rd not longer than the 2nd
            (
                (body1 < body2 - average_nb(bars, FAR, t_far2, i - 2))
                & (body0 < body1 + average_nb(bars, NEAR, t_near1, i - 1))
            )
            # or 3rd far smaller than the 2nd
            | (body0 < body1 - average_nb(bars, FAR, t_far1, i - 1))
            # or shrinking bodies with a not-short upper shadow on the 2nd or 3rd
            | (
                (body0 < body1)
                & (body1 < body2)
                & (
                    (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_SHORT, t_ss0, i))
                    | (upper_shadow_nb(bars, i - 1) > average_nb(bars, SHADOW_SHORT, t_ss1, i - 1))
                )
            )
            # or a smaller 3rd with a long upper shadow
            | (
                (body0 < body1)
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl0, i))
            )
        )
    )
    return -100 if hit else 0


@pattern(1, (BODY_LONG, 0), (SHADOW_VERY_SHORT, 0))
def cdlbelthold_nb(bars, o, h, lo_, c, i, t_long, t_vs):
    hit = (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long, i)) & (
        # white with a very short lower shadow, or black with a very short upper one
        (
            (color_nb(bars, i) == 1)
            & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        )
        | (
            (color_nb(bars, i) == -1)
            & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        )
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(5, (BODY_LONG, 4))
def cdlbreakaway_nb(bars, o, h, lo_, c, i, t_long):
    hit = (
        (real_body_nb(bars, i - 4) > average_nb(bars, BODY_LONG, t_long, i - 4))  # 1st long
        # 1st, 2nd and 4th of one color, 5th of the other
        & (color_nb(bars, i - 4) == color_nb(bars, i - 3))
        & (color_nb(bars, i - 3) == color_nb(bars, i - 1))
        & (color_nb(bars, i - 1) == -color_nb(bars, i))
        & (
            (  # black: 2nd gaps down, lower highs and lows, 5th closes in the gap
                (color_nb(bars, i - 4) == -1)
                & body_gap_down_nb(bars, i - 3, i - 4)
                & (h[i - 2] < h[i - 3])
                & (lo_[i - 2] < lo_[i - 3])
                & (h[i - 1] < h[i - 2])
                & (lo_[i - 1] < lo_[i - 2])
                & (c[i] > o[i - 3])
                & (c[i] < c[i - 4])
            )
            | (  # white: 2nd gaps up, higher highs and lows, 5th closes in the gap
                (color_nb(bars, i - 4) == 1)
                & body_gap_up_nb(bars, i - 3, i - 4)
                & (h[i - 2] > h[i - 3])
                & (lo_[i - 2] > lo_[i - 3])
                & (h[i - 1] > h[i - 2])
                & (lo_[i - 1] > lo_[i - 2])
                & (c[i] < o[i - 3])
                & (c[i] > c[i - 4])
            )
        )
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(1, (BODY_LONG, 0), (SHADOW_VERY_SHORT, 0))
def cdlclosingmarubozu_nb(bars, o, h, lo_, c, i, t_long, t_vs):
    hit = (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long, i)) & (
        # white closing at its high, or black closing at its low
        (
            (color_nb(bars, i) == 1)
            & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        )
        | (
            (color_nb(bars, i) == -1)
            & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        )
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(4, (SHADOW_VERY_SHORT, 3), (SHADOW_VERY_SHORT, 2), (SHADOW_VERY_SHORT, 1))
def cdlconcealbabyswall_nb(bars, o, h, lo_, c, i, t3, t2, t1):
    hit = (
        color_nb(bars, i - 3) == -1  # four black candles
        and color_nb(bars, i - 2) == -1
        and color_nb(bars, i - 1) == -1
        and color_nb(bars, i) == -1
        # 1st and 2nd: marubozu
        and lower_shadow_nb(bars, i - 3) < average_nb(bars, SHADOW_VERY_SHORT, t3, i - 3)
        and upper_shadow_nb(bars, i - 3) < average_nb(bars, SHADOW_VERY_SHORT, t3, i - 3)
        and lower_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_VERY_SHORT, t2, i - 2)
        and upper_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_VERY_SHORT, t2, i - 2)
        # 3rd: gaps down, with an upper shadow reaching into the 2nd body
        and body_gap_down_nb(bars, i - 1, i - 2)
        and upper_shadow_nb(bars, i - 1) > average_nb(bars, SHADOW_VERY_SHORT, t1, i - 1)
        and h[i - 1] > c[i - 2]
        # 4th: engulfs the 3rd, shadows included
        and h[i] > h[i - 1]
        and lo_[i] < lo_[i - 1]
    )
    return 100 if hit else 0


@pattern(2, (EQUAL, 1), (BODY_LONG, 1), (BODY_LONG, 0))
def cdlcounterattack_nb(bars, o, h, lo_, c, i, t_eq, t_long1, t_long0):
    hit = (
        (color_nb(bars, i - 1) == -color_nb(bars, i))  # opposite colors, both long
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1))
        & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
        & (c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))  # equal closes
        & (c[i] >= c[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(2, (BODY_LONG, 1))
def cdldarkcloudcover_nb(bars, o, h, lo_, c, i, t_long, penetration):
    hit = (
        (color_nb(bars, i - 1) == 1)  # 1st: long white
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))
        & (color_nb(bars, i) == -1)  # 2nd: black, opening above the prior high
        & (o[i] > h[i - 1])
        & (c[i] > o[i - 1])  # closing within the prior body, deep enough
        & (c[i] < c[i - 1] - real_body_nb(bars, i - 1) * penetration)
    )
    return -100 if hit else 0


@pattern(1, (BODY_DOJI, 0))
def cdldoji_nb(bars, o, h, lo_, c, i, t_doji):
    hit = real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i)
    return 100 if hit else 0


@pattern(2, (BODY_LONG, 1), (BODY_DOJI, 0))
def cdldojistar_nb(bars, o, h, lo_, c, i, t_long, t_doji):
    hit = (
        (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
        & (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # 2nd doji
        & (  # gapping away in the direction of the 1st
            ((color_nb(bars, i - 1) == 1) & body_gap_up_nb(bars, i, i - 1))
            | ((color_nb(bars, i - 1) == -1) & body_gap_down_nb(bars, i, i - 1))
        )
    )
    return -color_nb(bars, i - 1) * 100 if hit else 0


@pattern(1, (BODY_DOJI, 0), (SHADOW_VERY_SHORT, 0))
def cdldragonflydoji_nb(bars, o, h, lo_, c, i, t_doji, t_vs):
    hit = (
        (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
    )
    return 100 if hit else 0


@pattern(2, lookback_bars=2)  # TA-Lib declares 2 although it reads only 2 candles
def cdlengulfing_nb(bars, o, h, lo_, c, i):
    hit = (
        (color_nb(bars, i) == 1)  # white engulfs black
        & (color_nb(bars, i - 1) == -1)
        & (((c[i] >= o[i - 1]) & (o[i] < c[i - 1])) | ((c[i] > o[i - 1]) & (o[i] <= c[i - 1])))
    ) | (
        (color_nb(bars, i) == -1)  # black engulfs white
        & (color_nb(bars, i - 1) == 1)
        & (((o[i] >= c[i - 1]) & (c[i] < o[i - 1])) | ((o[i] > c[i - 1]) & (c[i] <= o[i - 1])))
    )
    # 80 when one end of the bodies matches (engulfing on one side only)
    size = 100 if o[i] != c[i - 1] and c[i] != o[i - 1] else 80
    return color_nb(bars, i) * size if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_DOJI, 1), (BODY_SHORT, 0))
def cdleveningdojistar_nb(bars, o, h, lo_, c, i, t_long, t_doji, t_short, penetration):
    hit = (
        real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)  # long white
        and color_nb(bars, i - 2) == 1
        and real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1)  # doji
        and body_gap_up_nb(bars, i - 1, i - 2)  # gapping up
        and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)  # not short
        and color_nb(bars, i) == -1  # black, closing well within the 1st body
        and c[i] < c[i - 2] - real_body_nb(bars, i - 2) * penetration
    )
    return -100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_SHORT, 1), (BODY_SHORT, 0))
def cdleveningstar_nb(bars, o, h, lo_, c, i, t_long, t_short1, t_short0, penetration):
    hit = (
        (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # long white
        & (color_nb(bars, i - 2) == 1)
        & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short1, i - 1))
        & body_gap_up_nb(bars, i - 1, i - 2)  # short 2nd gapping up
        & (real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short0, i))  # not short
        & (color_nb(bars, i) == -1)  # black, closing well within the 1st body
        & (c[i] < c[i - 2] - real_body_nb(bars, i - 2) * penetration)
    )
    return -100 if hit else 0


@pattern(3, (NEAR, 1), (EQUAL, 1))
def cdlgapsidesidewhite_nb(bars, o, h, lo_, c, i, t_near, t_eq):
    hit = (
        (  # 2nd and 3rd both gap away from the 1st, the same way
            (body_gap_up_nb(bars, i - 1, i - 2) & body_gap_up_nb(bars, i, i - 2))
            | (body_gap_down_nb(bars, i - 1, i - 2) & body_gap_down_nb(bars, i, i - 2))
        )
        & (color_nb(bars, i - 1) == 1)  # two white candles of about the same size
        & (color_nb(bars, i) == 1)
        & (
            real_body_nb(bars, i)
            >= real_body_nb(bars, i - 1) - average_nb(bars, NEAR, t_near, i - 1)
        )
        & (
            real_body_nb(bars, i)
            <= real_body_nb(bars, i - 1) + average_nb(bars, NEAR, t_near, i - 1)
        )
        & (o[i] >= o[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))  # and the same open
        & (o[i] <= o[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
    )
    up = body_gap_up_nb(bars, i - 1, i - 2)
    return (100 if up else -100) if hit else 0


@pattern(1, (BODY_DOJI, 0), (SHADOW_VERY_SHORT, 0))
def cdlgravestonedoji_nb(bars, o, h, lo_, c, i, t_doji, t_vs):
    hit = (
        (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
    )
    return 100 if hit else 0


@pattern(2, (BODY_SHORT, 0), (SHADOW_LONG, 0), (SHADOW_VERY_SHORT, 0), (NEAR, 1))
def cdlhammer_nb(bars, o, h, lo_, c, i, t_body, t_sl, t_vs, t_near):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long lower
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        # body near the prior candle's low
        & (c_min_nb(c[i], o[i]) <= lo_[i - 1] + average_nb(bars, NEAR, t_near, i - 1))
    )
    return 100 if hit else 0


@pattern(2, (BODY_SHORT, 0), (SHADOW_LONG, 0), (SHADOW_VERY_SHORT, 0), (NEAR, 1))
def cdlhangingman_nb(bars, o, h, lo_, c, i, t_body, t_sl, t_vs, t_near):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long lower
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        # body near the prior candle's high
        & (c_min_nb(c[i], o[i]) >= h[i - 1] - average_nb(bars, NEAR, t_near, i - 1))
    )
    return -100 if hit else 0


@njit(cache=True)
def _harami_code_nb(bars, i):
    """The harami code at ``i`` once the long-then-small bodies are established."""
    o, c = bars[0], bars[3]
    top, bottom = c_max_nb(c[i], o[i]), c_min_nb(c[i], o[i])
    prev_top, prev_bottom = c_max_nb(c[i - 1], o[i - 1]), c_min_nb(c[i - 1], o[i - 1])
    if top < prev_top and bottom > prev_bottom:
        return -color_nb(bars, i - 1) * 100
    if top <= prev_top and bottom >= prev_bottom:  # one end of the bodies matches
        return -color_nb(bars, i - 1) * 80
    return 0


@pattern(2, (BODY_LONG, 1), (BODY_SHORT, 0))
def cdlharami_nb(bars, o, h, lo_, c, i, t_long, t_short):
    hit = (
        (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
        & (real_body_nb(bars, i) <= average_nb(bars, BODY_SHORT, t_short, i))  # 2nd short
    )
    return _harami_code_nb(bars, i) if hit else 0


@pattern(2, (BODY_LONG, 1), (BODY_DOJI, 0))
def cdlharamicross_nb(bars, o, h, lo_, c, i, t_long, t_doji):
    hit = (
        (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
        & (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # 2nd doji
    )
    return _harami_code_nb(bars, i) if hit else 0


@pattern(1, (BODY_SHORT, 0), (SHADOW_VERY_LONG, 0))
def cdlhighwave_nb(bars, o, h, lo_, c, i, t_body, t_shadow):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))
        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_shadow, i))
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_shadow, i))
    )
    return color_nb(bars, i) * 100 if hit else 0


# TA-Lib declares 5: the 3-candle setup plus 3 bars replayed to know a pending confirmation
CDLHIKKAKE_LOOKBACK = LOOKBACKS["cdlhikkake"] = 5


@njit(cache=True)
def cdlhikkake_nb(open_, high, low, close, out):
    """numba equivalent of ``talib.CDLHIKKAKE``.

    +-100 on the setup (an inside bar, then a bar breaking it one way), +-200 when a later
    close within 3 bars confirms it by breaking the inside bar the other way.
    """
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    n = close.shape[0]
    a = first_valid_nb(bars, 0, n)
    start = a + CDLHIKKAKE_LOOKBACK
    if start >= n:
        return
    setup = a  # index of the last setup bar; ``a`` (TA-Lib's 0) when none is pending
    result = 0
    for i in range(start - 3, n):
        if (
            h[i - 1] < h[i - 2]  # inside bar
            and lo_[i - 1] > lo_[i - 2]
            and (
                (h[i] < h[i - 1] and lo_[i] < lo_[i - 1])  # bullish: breaks down
                or (h[i] > h[i - 1] and lo_[i] > lo_[i - 1])  # bearish: breaks up
            )
        ):
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


CDLHIKKAKEMOD_LOOKBACK = LOOKBACKS["cdlhikkakemod"] = max(1, NEAR[1]) + 5


@njit(cache=True)
def cdlhikkakemod_nb(open_, high, low, close, out):
    """numba equivalent of ``talib.CDLHIKKAKEMOD``.

    Like ``cdlhikkake_nb`` with two inside bars and the first one closing near its low
    (bullish) or high (bearish).
    """
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    n = close.shape[0]
    a = first_valid_nb(bars, 0, n)
    start = a + CDLHIKKAKEMOD_LOOKBACK
    if start >= n:
        return
    t_near = total_nb(bars, NEAR, start - 5)
    setup = a
    result = 0
    for i in range(start - 3, n):
        if (
            h[i - 2] < h[i - 3]  # two inside bars
            and lo_[i - 2] > lo_[i - 3]
            and h[i - 1] < h[i - 2]
            and lo_[i - 1] > lo_[i - 2]
            and (
                (  # bullish: breaks down, 1st inside bar closed near its low
                    h[i] < h[i - 1]
                    and lo_[i] < lo_[i - 1]
                    and c[i - 2] <= lo_[i - 2] + average_nb(bars, NEAR, t_near, i - 2)
                )
                or (  # bearish: breaks up, 1st inside bar closed near its high
                    h[i] > h[i - 1]
                    and lo_[i] > lo_[i - 1]
                    and c[i - 2] >= h[i - 2] - average_nb(bars, NEAR, t_near, i - 2)
                )
            )
        ):
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
        t_near = next_total_nb(bars, NEAR, t_near, i - 2)


@pattern(2, (BODY_LONG, 1), (BODY_SHORT, 0))
def cdlhomingpigeon_nb(bars, o, h, lo_, c, i, t_long, t_short):
    hit = (
        (color_nb(bars, i - 1) == -1)  # two black candles
        & (color_nb(bars, i) == -1)
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # long
        & (real_body_nb(bars, i) <= average_nb(bars, BODY_SHORT, t_short, i))  # short
        & (o[i] < o[i - 1])  # 2nd inside the 1st body
        & (c[i] > c[i - 1])
    )
    return 100 if hit else 0


@pattern(
    3,
    (SHADOW_VERY_SHORT, 2),
    (SHADOW_VERY_SHORT, 1),
    (SHADOW_VERY_SHORT, 0),
    (EQUAL, 2),
    (EQUAL, 1),
)
def cdlidentical3crows_nb(bars, o, h, lo_, c, i, t_vs2, t_vs1, t_vs0, t_eq2, t_eq1):
    hit = (
        # three black candles with very short lower shadows
        color_nb(bars, i - 2) == -1
        and lower_shadow_nb(bars, i - 2) < average_nb(bars, SHADOW_VERY_SHORT, t_vs2, i - 2)
        and color_nb(bars, i - 1) == -1
        and lower_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
        and color_nb(bars, i) == -1
        and lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
        and c[i - 2] > c[i - 1]  # declining
        and c[i - 1] > c[i]
        # each opening at about the prior close
        and o[i - 1] <= c[i - 2] + average_nb(bars, EQUAL, t_eq2, i - 2)
        and o[i - 1] >= c[i - 2] - average_nb(bars, EQUAL, t_eq2, i - 2)
        and o[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq1, i - 1)
        and o[i] >= c[i - 1] - average_nb(bars, EQUAL, t_eq1, i - 1)
    )
    return -100 if hit else 0


@pattern(2, (EQUAL, 1), (BODY_LONG, 1))
def cdlinneck_nb(bars, o, h, lo_, c, i, t_eq, t_long):
    hit = (
        color_nb(bars, i - 1) == -1  # 1st: long black
        and real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1)
        and color_nb(bars, i) == 1  # 2nd: white, opening below the prior low
        and o[i] < lo_[i - 1]
        # closing slightly into the prior body
        and c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1)
        and c[i] >= c[i - 1]
    )
    return -100 if hit else 0


@pattern(2, (BODY_SHORT, 0), (SHADOW_LONG, 0), (SHADOW_VERY_SHORT, 0))
def cdlinvertedhammer_nb(bars, o, h, lo_, c, i, t_body, t_sl, t_vs):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long upper
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & body_gap_down_nb(bars, i, i - 1)  # gapping down
    )
    return 100 if hit else 0


@njit(cache=True)
def _kicking_nb(bars, t_long1, t_long0, t_vs1, t_vs0, i):
    """Two opposite marubozu with a gap between them (CDLKICKING and CDLKICKINGBYLENGTH)."""
    return (
        (color_nb(bars, i - 1) == -color_nb(bars, i))
        # 1st marubozu
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1))
        & (upper_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1))
        & (lower_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1))
        # 2nd marubozu
        & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs0, i))
        # gap away from the 1st
        & (
            ((color_nb(bars, i - 1) == -1) & gap_up_nb(bars, i, i - 1))
            | ((color_nb(bars, i - 1) == 1) & gap_down_nb(bars, i, i - 1))
        )
    )


@pattern(2, (SHADOW_VERY_SHORT, 1), (SHADOW_VERY_SHORT, 0), (BODY_LONG, 1), (BODY_LONG, 0))
def cdlkicking_nb(bars, o, h, lo_, c, i, t_vs1, t_vs0, t_long1, t_long0):
    hit = _kicking_nb(bars, t_long1, t_long0, t_vs1, t_vs0, i)
    return color_nb(bars, i) * 100 if hit else 0


@pattern(2, (SHADOW_VERY_SHORT, 1), (SHADOW_VERY_SHORT, 0), (BODY_LONG, 1), (BODY_LONG, 0))
def cdlkickingbylength_nb(bars, o, h, lo_, c, i, t_vs1, t_vs0, t_long1, t_long0):
    hit = _kicking_nb(bars, t_long1, t_long0, t_vs1, t_vs0, i)
    # the direction of the longer marubozu
    longer = i if real_body_nb(bars, i) > real_body_nb(bars, i - 1) else i - 1
    return color_nb(bars, longer) * 100 if hit else 0


@pattern(5, (SHADOW_VERY_SHORT, 1))
def cdlladderbottom_nb(bars, o, h, lo_, c, i, t_vs):
    hit = (
        color_nb(bars, i - 4) == -1  # three black candles
        and color_nb(bars, i - 3) == -1
        and color_nb(bars, i - 2) == -1
        and o[i - 4] > o[i - 3]  # with lower opens
        and o[i - 3] > o[i - 2]
        and c[i - 4] > c[i - 3]  # and lower closes
        and c[i - 3] > c[i - 2]
        and color_nb(bars, i - 1) == -1  # 4th: black with an upper shadow
        and upper_shadow_nb(bars, i - 1) > average_nb(bars, SHADOW_VERY_SHORT, t_vs, i - 1)
        and color_nb(bars, i) == 1  # 5th: white, opening above the prior body
        and o[i] > o[i - 1]
        and c[i] > h[i - 1]  # and closing above the prior high
    )
    return 100 if hit else 0


@pattern(1, (BODY_DOJI, 0), (SHADOW_LONG, 0))
def cdllongleggeddoji_nb(bars, o, h, lo_, c, i, t_doji, t_sl):
    hit = (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i)) & (
        (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))
        | (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))
    )
    return 100 if hit else 0


@pattern(1, (BODY_LONG, 0), (SHADOW_SHORT, 0))
def cdllongline_nb(bars, o, h, lo_, c, i, t_body, t_shadow):
    hit = (
        (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_body, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(1, (BODY_LONG, 0), (SHADOW_VERY_SHORT, 0))
def cdlmarubozu_nb(bars, o, h, lo_, c, i, t_long, t_vs):
    hit = (
        (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(2, (EQUAL, 1))
def cdlmatchinglow_nb(bars, o, h, lo_, c, i, t_eq):
    hit = (
        (color_nb(bars, i - 1) == -1)  # two black candles with the same close
        & (color_nb(bars, i) == -1)
        & (c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
        & (c[i] >= c[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
    )
    return 100 if hit else 0


@pattern(5, (BODY_LONG, 4), (BODY_SHORT, 3), (BODY_SHORT, 2), (BODY_SHORT, 1))
def cdlmathold_nb(bars, o, h, lo_, c, i, t_long4, t_short3, t_short2, t_short1, penetration):
    reach = c[i - 4] - real_body_nb(bars, i - 4) * penetration
    hit = (
        # 1st long, then three small
        (real_body_nb(bars, i - 4) > average_nb(bars, BODY_LONG, t_long4, i - 4))
        & (real_body_nb(bars, i - 3) < average_nb(bars, BODY_SHORT, t_short3, i - 3))
        & (real_body_nb(bars, i - 2) < average_nb(bars, BODY_SHORT, t_short2, i - 2))
        & (real_body_nb(bars, i - 1) < average_nb(bars, BODY_SHORT, t_short1, i - 1))
        # white, black, any two, white
        & (color_nb(bars, i - 4) == 1)
        & (color_nb(bars, i - 3) == -1)
        & (color_nb(bars, i) == 1)
        & body_gap_up_nb(bars, i - 3, i - 4)  # 2nd gaps up from the 1st
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
    return 100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_DOJI, 1), (BODY_SHORT, 0))
def cdlmorningdojistar_nb(bars, o, h, lo_, c, i, t_long, t_doji, t_short, penetration):
    hit = (
        real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)  # long black
        and color_nb(bars, i - 2) == -1
        and real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1)  # doji
        and body_gap_down_nb(bars, i - 1, i - 2)  # gapping down
        and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)  # not short
        and color_nb(bars, i) == 1  # white, closing well within the 1st body
        and c[i] > c[i - 2] + real_body_nb(bars, i - 2) * penetration
    )
    return 100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_SHORT, 1), (BODY_SHORT, 0))
def cdlmorningstar_nb(bars, o, h, lo_, c, i, t_long, t_short1, t_short0, penetration):
    hit = (
        (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # long black
        & (color_nb(bars, i - 2) == -1)
        & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short1, i - 1))
        & body_gap_down_nb(bars, i - 1, i - 2)  # short 2nd gapping down
        & (real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short0, i))  # not short
        & (color_nb(bars, i) == 1)  # white, closing well within the 1st body
        & (c[i] > c[i - 2] + real_body_nb(bars, i - 2) * penetration)
    )
    return 100 if hit else 0


@pattern(2, (EQUAL, 1), (BODY_LONG, 1))
def cdlonneck_nb(bars, o, h, lo_, c, i, t_eq, t_long):
    hit = (
        (color_nb(bars, i - 1) == -1)  # 1st: long black
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))
        & (color_nb(bars, i) == 1)  # 2nd: white, opening below the prior low
        & (o[i] < lo_[i - 1])
        # closing at the prior low
        & (c[i] <= lo_[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
        & (c[i] >= lo_[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
    )
    return -100 if hit else 0


@pattern(2, (BODY_LONG, 1), (BODY_LONG, 0))
def cdlpiercing_nb(bars, o, h, lo_, c, i, t_long1, t_long0):
    hit = (
        (color_nb(bars, i - 1) == -1)  # 1st: long black
        & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1))
        & (color_nb(bars, i) == 1)  # 2nd: long white
        & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
        & (o[i] < lo_[i - 1])  # opening below the prior low
        & (c[i] < o[i - 1])  # closing within the prior body, above its midpoint
        & (c[i] > c[i - 1] + real_body_nb(bars, i - 1) * 0.5)
    )
    return 100 if hit else 0


@pattern(1, (BODY_DOJI, 0), (SHADOW_LONG, 0), (NEAR, 0))
def cdlrickshawman_nb(bars, o, h, lo_, c, i, t_doji, t_sl, t_near):
    mid = lo_[i] + high_low_nb(bars, i) / 2
    hit = (
        (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # doji
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long
        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # shadows
        # body near the middle of the range
        & (body_bottom_nb(bars, i) <= mid + average_nb(bars, NEAR, t_near, i))
        & (body_top_nb(bars, i) >= mid - average_nb(bars, NEAR, t_near, i))
    )
    return 100 if hit else 0


@pattern(5, (BODY_LONG, 4), (BODY_SHORT, 3), (BODY_SHORT, 2), (BODY_SHORT, 1), (BODY_LONG, 0))
def cdlrisefall3methods_nb(bars, o, h, lo_, c, i, t_long4, t_short3, t_short2, t_short1, t_long0):
    d = color_nb(bars, i - 4)  # +1 rising, -1 falling: flips the comparisons below
    hit = (
        # 1st long, then three small, 5th long
        (real_body_nb(bars, i - 4) > average_nb(bars, BODY_LONG, t_long4, i - 4))
        & (real_body_nb(bars, i - 3) < average_nb(bars, BODY_SHORT, t_short3, i - 3))
        & (real_body_nb(bars, i - 2) < average_nb(bars, BODY_SHORT, t_short2, i - 2))
        & (real_body_nb(bars, i - 1) < average_nb(bars, BODY_SHORT, t_short1, i - 1))
        & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
        # white, three black, white (or the reverse)
        & (color_nb(bars, i - 4) == -color_nb(bars, i - 3))
        & (color_nb(bars, i - 3) == color_nb(bars, i - 2))
        & (color_nb(bars, i - 2) == color_nb(bars, i - 1))
        & (color_nb(bars, i - 1) == -color_nb(bars, i))
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
    return 100 * d if hit else 0


@pattern(2, (SHADOW_VERY_SHORT, 0), (BODY_LONG, 0), (EQUAL, 1))
def cdlseparatinglines_nb(bars, o, h, lo_, c, i, t_vs, t_long, t_eq):
    hit = (
        (color_nb(bars, i - 1) == -color_nb(bars, i))  # opposite colors, same open
        & (o[i] <= o[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
        & (o[i] >= o[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
        & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long, i))  # belt hold
        & (
            (
                (color_nb(bars, i) == 1)
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
            )
            | (
                (color_nb(bars, i) == -1)
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
            )
        )
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(2, (BODY_SHORT, 0), (SHADOW_LONG, 0), (SHADOW_VERY_SHORT, 0))
def cdlshootingstar_nb(bars, o, h, lo_, c, i, t_body, t_sl, t_vs):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long upper
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & body_gap_up_nb(bars, i, i - 1)  # gapping up
    )
    return -100 if hit else 0


@pattern(1, (BODY_SHORT, 0), (SHADOW_SHORT, 0))
def cdlshortline_nb(bars, o, h, lo_, c, i, t_body, t_shadow):
    hit = (
        (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
        & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(1, (BODY_SHORT, 0))
def cdlspinningtop_nb(bars, o, h, lo_, c, i, t_body):
    body = real_body_nb(bars, i)
    hit = (
        (body < average_nb(bars, BODY_SHORT, t_body, i))  # small body, longer shadows
        & (upper_shadow_nb(bars, i) > body)
        & (lower_shadow_nb(bars, i) > body)
    )
    return color_nb(bars, i) * 100 if hit else 0


@pattern(
    3, (BODY_LONG, 2), (BODY_LONG, 1), (BODY_SHORT, 0), (SHADOW_VERY_SHORT, 1), (NEAR, 2), (NEAR, 1)
)
def cdlstalledpattern_nb(bars, o, h, lo_, c, i, t_long2, t_long1, t_short, t_vs, t_near2, t_near1):
    hit = (
        color_nb(bars, i - 2) == 1  # three white candles with higher closes
        and color_nb(bars, i - 1) == 1
        and color_nb(bars, i) == 1
        and c[i] > c[i - 1]
        and c[i - 1] > c[i - 2]
        # 1st and 2nd long, the 2nd with a very short upper shadow
        and real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long2, i - 2)
        and real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1)
        and upper_shadow_nb(bars, i - 1) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i - 1)
        # 2nd opens within or near the 1st body
        and o[i - 1] > o[i - 2]
        and o[i - 1] <= c[i - 2] + average_nb(bars, NEAR, t_near2, i - 2)
        # 3rd: small, riding on the shoulder of the 2nd
        and real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_short, i)
        and o[i] >= c[i - 1] - real_body_nb(bars, i) - average_nb(bars, NEAR, t_near1, i - 1)
    )
    return -100 if hit else 0


@pattern(3, (EQUAL, 2))
def cdlsticksandwich_nb(bars, o, h, lo_, c, i, t_eq):
    hit = (
        color_nb(bars, i - 2) == -1  # black, white, black
        and color_nb(bars, i - 1) == 1
        and color_nb(bars, i) == -1
        and lo_[i - 1] > c[i - 2]  # 2nd trades above the 1st close
        and c[i] <= c[i - 2] + average_nb(bars, EQUAL, t_eq, i - 2)  # 1st, 3rd same close
        and c[i] >= c[i - 2] - average_nb(bars, EQUAL, t_eq, i - 2)
    )
    return 100 if hit else 0


@pattern(1, (BODY_DOJI, 0), (SHADOW_VERY_SHORT, 0), (SHADOW_VERY_LONG, 0))
def cdltakuri_nb(bars, o, h, lo_, c, i, t_doji, t_vs, t_vl):
    hit = (
        (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
        & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
        & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_vl, i))
    )
    return 100 if hit else 0


@pattern(3, (NEAR, 1))
def cdltasukigap_nb(bars, o, h, lo_, c, i, t_near):
    hit = (  # upside gap; white, then black opening in its body, closing in the gap
        body_gap_up_nb(bars, i - 1, i - 2)
        & (color_nb(bars, i - 1) == 1)
        & (color_nb(bars, i) == -1)
        & (o[i] < c[i - 1])
        & (o[i] > o[i - 1])
        & (c[i] < o[i - 1])
        & (c[i] > c_max_nb(c[i - 2], o[i - 2]))
        # bodies of about the same size
        & (
            abs(real_body_nb(bars, i - 1) - real_body_nb(bars, i))
            < average_nb(bars, NEAR, t_near, i - 1)
        )
    ) | (  # downside gap; black, then white opening in its body, closing in the gap
        body_gap_down_nb(bars, i - 1, i - 2)
        & (color_nb(bars, i - 1) == -1)
        & (color_nb(bars, i) == 1)
        & (o[i] < o[i - 1])
        & (o[i] > c[i - 1])
        & (c[i] > o[i - 1])
        & (c[i] < c_min_nb(c[i - 2], o[i - 2]))
        & (
            abs(real_body_nb(bars, i - 1) - real_body_nb(bars, i))
            < average_nb(bars, NEAR, t_near, i - 1)
        )
    )
    return color_nb(bars, i - 1) * 100 if hit else 0


@pattern(2, (EQUAL, 1), (BODY_LONG, 1))
def cdlthrusting_nb(bars, o, h, lo_, c, i, t_eq, t_long):
    hit = (
        color_nb(bars, i - 1) == -1  # 1st: long black
        and real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1)
        and color_nb(bars, i) == 1  # 2nd: white, opening below the prior low
        and o[i] < lo_[i - 1]
        # closing into the prior body, but not above its midpoint
        and c[i] > c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1)
        and c[i] <= c[i - 1] + real_body_nb(bars, i - 1) * 0.5
    )
    return -100 if hit else 0


@pattern(3, (BODY_DOJI, 2))
def cdltristar_nb(bars, o, h, lo_, c, i, t_doji):
    """numba equivalent of ``talib.CDLTRISTAR``.

    TA-Lib judges all three dojis against the average before the first one.
    """
    doji = average_nb(bars, BODY_DOJI, t_doji, i - 2)
    hit = (
        (real_body_nb(bars, i - 2) <= doji)
        & (real_body_nb(bars, i - 1) <= doji)
        & (real_body_nb(bars, i) <= doji)
    )
    # 2nd gaps up and the 3rd is not higher: bearish; the reverse: bullish
    code = 0
    if body_gap_up_nb(bars, i - 1, i - 2) and body_top_nb(bars, i) < body_top_nb(bars, i - 1):
        code = -100
    if body_gap_down_nb(bars, i - 1, i - 2) and body_bottom_nb(bars, i) > body_bottom_nb(
        bars, i - 1
    ):
        code = 100
    return code if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_SHORT, 0))
def cdlunique3river_nb(bars, o, h, lo_, c, i, t_long, t_short):
    hit = (
        (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # long black
        & (color_nb(bars, i - 2) == -1)
        & (color_nb(bars, i - 1) == -1)  # 2nd: black harami with a lower low
        & (c[i - 1] > c[i - 2])
        & (o[i - 1] <= o[i - 2])
        & (lo_[i - 1] < lo_[i - 2])
        & (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_short, i))  # 3rd: short
        & (color_nb(bars, i) == 1)  # white, opening not below the 2nd low
        & (o[i] > lo_[i - 1])
    )
    return 100 if hit else 0


@pattern(3, (BODY_LONG, 2), (BODY_SHORT, 1))
def cdlupsidegap2crows_nb(bars, o, h, lo_, c, i, t_long, t_short):
    hit = (
        (color_nb(bars, i - 2) == 1)  # 1st: long white
        & (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))
        & (color_nb(bars, i - 1) == -1)  # 2nd: short black gapping up
        & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short, i - 1))
        & body_gap_up_nb(bars, i - 1, i - 2)
        & (color_nb(bars, i) == -1)  # 3rd: black engulfing the 2nd body
        & (o[i] > o[i - 1])
        & (c[i] < c[i - 1])
        & (c[i] > c[i - 2])  # closing above the 1st
    )
    return -100 if hit else 0


@pattern(3)
def cdlxsidegap3methods_nb(bars, o, h, lo_, c, i):
    hit = (
        (color_nb(bars, i - 2) == color_nb(bars, i - 1))  # two of one color
        & (color_nb(bars, i - 1) == -color_nb(bars, i))  # 3rd of the other
        & (o[i] < c_max_nb(c[i - 1], o[i - 1]))  # opening within the 2nd body
        & (o[i] > c_min_nb(c[i - 1], o[i - 1]))
        & (c[i] < c_max_nb(c[i - 2], o[i - 2]))  # closing within the 1st body
        & (c[i] > c_min_nb(c[i - 2], o[i - 2]))
        & (
            ((color_nb(bars, i - 2) == 1) & body_gap_up_nb(bars, i - 1, i - 2))
            | ((color_nb(bars, i - 2) == -1) & body_gap_down_nb(bars, i - 1, i - 2))
        )
    )
    return color_nb(bars, i - 2) * 100 if hit else 0
