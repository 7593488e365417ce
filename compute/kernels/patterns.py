"""Candlestick patterns (TA-Lib group "Pattern Recognition"), one ``_seg_nb`` kernel each.

Every kernel walks each segment from ``start = a + LOOKBACK`` (TA-Lib's first output; ``a`` is
the segment's first bar without a NaN price, where the ``talib`` wrapper starts) and keeps one
running total per (candle setting, candle offset) as TA-Lib does: started with ``total_nb``
for the first candle it judges, moved with ``next_total_nb`` after each bar. The output is
TA-Lib's int32 code: +-100 (some +-80 or +-200), 0 when nothing fires or during warm-up.

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
    lookback,
    lower_shadow_nb,
    next_total_nb,
    real_body_nb,
    total_nb,
    upper_shadow_nb,
    zeros_int_nb,
)

CDL2CROWS_LOOKBACK = lookback(3, BODY_LONG)


@njit(cache=True)
def cdl2crows_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL2CROWS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL2CROWS_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        for i in range(start, b):
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
            out[i] = -100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
    return (out,)


CDL3BLACKCROWS_LOOKBACK = lookback(4, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdl3blackcrows_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3BLACKCROWS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, c = open_, high, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL3BLACKCROWS_LOOKBACK
        if start >= b:
            continue
        t2 = total_nb(bars, SHADOW_VERY_SHORT, start - 2)
        t1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
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
            out[i] = -100 if hit else 0
            t2 = next_total_nb(bars, SHADOW_VERY_SHORT, t2, i - 2)
            t1 = next_total_nb(bars, SHADOW_VERY_SHORT, t1, i - 1)
            t0 = next_total_nb(bars, SHADOW_VERY_SHORT, t0, i)
    return (out,)


CDL3INSIDE_LOOKBACK = lookback(3, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdl3inside_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3INSIDE`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL3INSIDE_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_short = total_nb(bars, BODY_SHORT, start - 1)
        for i in range(start, b):
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
            out[i] = -color_nb(bars, i - 2) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i - 1)
    return (out,)


CDL3LINESTRIKE_LOOKBACK = lookback(4, NEAR)


@njit(cache=True)
def cdl3linestrike_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3LINESTRIKE`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL3LINESTRIKE_LOOKBACK
        if start >= b:
            continue
        t3 = total_nb(bars, NEAR, start - 3)
        t2 = total_nb(bars, NEAR, start - 2)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i - 1) * 100 if hit else 0
            t3 = next_total_nb(bars, NEAR, t3, i - 3)
            t2 = next_total_nb(bars, NEAR, t2, i - 2)
    return (out,)


CDL3OUTSIDE_LOOKBACK = 3  # TA-Lib declares 3 although the pattern reads only 3 candles


@njit(cache=True)
def cdl3outside_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3OUTSIDE`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        for i in range(a + CDL3OUTSIDE_LOOKBACK, b):
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
            out[i] = color_nb(bars, i - 1) * 100 if hit else 0
    return (out,)


CDL3STARSINSOUTH_LOOKBACK = lookback(3, SHADOW_VERY_SHORT, SHADOW_LONG, BODY_LONG, BODY_SHORT)


@njit(cache=True)
def cdl3starsinsouth_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3STARSINSOUTH`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, lo_, c = open_, high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL3STARSINSOUTH_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_shadow = total_nb(bars, SHADOW_LONG, start - 2)
        t_vs1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_vs0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
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
            out[i] = 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_shadow = next_total_nb(bars, SHADOW_LONG, t_shadow, i - 2)
            t_vs1 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
            t_vs0 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDL3WHITESOLDIERS_LOOKBACK = lookback(3, SHADOW_VERY_SHORT, BODY_SHORT, FAR, NEAR)


@njit(cache=True)
def cdl3whitesoldiers_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDL3WHITESOLDIERS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDL3WHITESOLDIERS_LOOKBACK
        if start >= b:
            continue
        t_vs2 = total_nb(bars, SHADOW_VERY_SHORT, start - 2)
        t_vs1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_vs0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_near2 = total_nb(bars, NEAR, start - 2)
        t_near1 = total_nb(bars, NEAR, start - 1)
        t_far2 = total_nb(bars, FAR, start - 2)
        t_far1 = total_nb(bars, FAR, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
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
                and real_body_nb(bars, i)
                > real_body_nb(bars, i - 1) - average_nb(bars, FAR, t_far1, i - 1)
                and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)
            )
            out[i] = 100 if hit else 0
            t_vs2 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs2, i - 2)
            t_vs1 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
            t_vs0 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
            t_far2 = next_total_nb(bars, FAR, t_far2, i - 2)
            t_near2 = next_total_nb(bars, NEAR, t_near2, i - 2)
            t_far1 = next_total_nb(bars, FAR, t_far1, i - 1)
            t_near1 = next_total_nb(bars, NEAR, t_near1, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLABANDONEDBABY_LOOKBACK = lookback(3, BODY_DOJI, BODY_LONG, BODY_SHORT)


@njit(cache=True)
def cdlabandonedbaby_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLABANDONEDBABY`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLABANDONEDBABY_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_doji = total_nb(bars, BODY_DOJI, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2))  # 1st long
                & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1))  # doji
                & (
                    real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)
                )  # 3rd not short
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
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLADVANCEBLOCK_LOOKBACK = lookback(3, SHADOW_LONG, SHADOW_SHORT, FAR, NEAR, BODY_LONG)


@njit(cache=True)
def cdladvanceblock_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLADVANCEBLOCK`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLADVANCEBLOCK_LOOKBACK
        if start >= b:
            continue
        t_ss2 = total_nb(bars, SHADOW_SHORT, start - 2)
        t_ss1 = total_nb(bars, SHADOW_SHORT, start - 1)
        t_ss0 = total_nb(bars, SHADOW_SHORT, start)
        t_sl0 = total_nb(bars, SHADOW_LONG, start)
        t_near2 = total_nb(bars, NEAR, start - 2)
        t_near1 = total_nb(bars, NEAR, start - 1)
        t_far2 = total_nb(bars, FAR, start - 2)
        t_far1 = total_nb(bars, FAR, start - 1)
        t_long = total_nb(bars, BODY_LONG, start - 2)
        for i in range(start, b):
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
                            | (
                                upper_shadow_nb(bars, i - 1)
                                > average_nb(bars, SHADOW_SHORT, t_ss1, i - 1)
                            )
                        )
                    )
                    # or a smaller 3rd with a long upper shadow
                    | (
                        (body0 < body1)
                        & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl0, i))
                    )
                )
            )
            out[i] = -100 if hit else 0
            t_ss2 = next_total_nb(bars, SHADOW_SHORT, t_ss2, i - 2)
            t_ss1 = next_total_nb(bars, SHADOW_SHORT, t_ss1, i - 1)
            t_ss0 = next_total_nb(bars, SHADOW_SHORT, t_ss0, i)
            t_sl0 = next_total_nb(bars, SHADOW_LONG, t_sl0, i)
            t_far2 = next_total_nb(bars, FAR, t_far2, i - 2)
            t_near2 = next_total_nb(bars, NEAR, t_near2, i - 2)
            t_far1 = next_total_nb(bars, FAR, t_far1, i - 1)
            t_near1 = next_total_nb(bars, NEAR, t_near1, i - 1)
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
    return (out,)


CDLBELTHOLD_LOOKBACK = lookback(1, BODY_LONG, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlbelthold_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLBELTHOLD`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLBELTHOLD_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLBREAKAWAY_LOOKBACK = lookback(5, BODY_LONG)


@njit(cache=True)
def cdlbreakaway_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLBREAKAWAY`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, lo_, c = open_, high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLBREAKAWAY_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 4)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 4)
    return (out,)


CDLCLOSINGMARUBOZU_LOOKBACK = lookback(1, BODY_LONG, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlclosingmarubozu_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLCLOSINGMARUBOZU`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLCLOSINGMARUBOZU_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLCONCEALBABYSWALL_LOOKBACK = lookback(4, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlconcealbabyswall_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLCONCEALBABYSWALL`` applied to each segment."""
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLCONCEALBABYSWALL_LOOKBACK
        if start >= b:
            continue
        t3 = total_nb(bars, SHADOW_VERY_SHORT, start - 3)
        t2 = total_nb(bars, SHADOW_VERY_SHORT, start - 2)
        t1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        for i in range(start, b):
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
            out[i] = 100 if hit else 0
            t3 = next_total_nb(bars, SHADOW_VERY_SHORT, t3, i - 3)
            t2 = next_total_nb(bars, SHADOW_VERY_SHORT, t2, i - 2)
            t1 = next_total_nb(bars, SHADOW_VERY_SHORT, t1, i - 1)
    return (out,)


CDLCOUNTERATTACK_LOOKBACK = lookback(2, EQUAL, BODY_LONG)


@njit(cache=True)
def cdlcounterattack_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLCOUNTERATTACK`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLCOUNTERATTACK_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 1)
        t_long1 = total_nb(bars, BODY_LONG, start - 1)
        t_long0 = total_nb(bars, BODY_LONG, start)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == -color_nb(bars, i))  # opposite colors, both long
                & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1))
                & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
                & (c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))  # equal closes
                & (c[i] >= c[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
            t_long1 = next_total_nb(bars, BODY_LONG, t_long1, i - 1)
            t_long0 = next_total_nb(bars, BODY_LONG, t_long0, i)
    return (out,)


CDLDARKCLOUDCOVER_LOOKBACK = lookback(2, BODY_LONG)


@njit(cache=True)
def cdldarkcloudcover_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLDARKCLOUDCOVER`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, c = open_, high, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLDARKCLOUDCOVER_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 1)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == 1)  # 1st: long white
                & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))
                & (color_nb(bars, i) == -1)  # 2nd: black, opening above the prior high
                & (o[i] > h[i - 1])
                & (c[i] > o[i - 1])  # closing within the prior body, deep enough
                & (c[i] < c[i - 1] - real_body_nb(bars, i - 1) * penetration)
            )
            out[i] = -100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
    return (out,)


CDLDOJI_LOOKBACK = lookback(1, BODY_DOJI)


@njit(cache=True)
def cdldoji_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLDOJI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLDOJI_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        for i in range(start, b):
            hit = real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i)
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
    return (out,)


CDLDOJISTAR_LOOKBACK = lookback(2, BODY_DOJI, BODY_LONG)


@njit(cache=True)
def cdldojistar_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLDOJISTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLDOJISTAR_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 1)
        t_doji = total_nb(bars, BODY_DOJI, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
                & (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # 2nd doji
                & (  # gapping away in the direction of the 1st
                    ((color_nb(bars, i - 1) == 1) & body_gap_up_nb(bars, i, i - 1))
                    | ((color_nb(bars, i - 1) == -1) & body_gap_down_nb(bars, i, i - 1))
                )
            )
            out[i] = -color_nb(bars, i - 1) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
    return (out,)


CDLDRAGONFLYDOJI_LOOKBACK = lookback(1, BODY_DOJI, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdldragonflydoji_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLDRAGONFLYDOJI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLDRAGONFLYDOJI_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
            )
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLENGULFING_LOOKBACK = 2  # TA-Lib declares 2 although the pattern reads only 2 candles


@njit(cache=True)
def cdlengulfing_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLENGULFING`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        for i in range(a + CDLENGULFING_LOOKBACK, b):
            hit = (
                (color_nb(bars, i) == 1)  # white engulfs black
                & (color_nb(bars, i - 1) == -1)
                & (
                    ((c[i] >= o[i - 1]) & (o[i] < c[i - 1]))
                    | ((c[i] > o[i - 1]) & (o[i] <= c[i - 1]))
                )
            ) | (
                (color_nb(bars, i) == -1)  # black engulfs white
                & (color_nb(bars, i - 1) == 1)
                & (
                    ((o[i] >= c[i - 1]) & (c[i] < o[i - 1]))
                    | ((o[i] > c[i - 1]) & (c[i] <= o[i - 1]))
                )
            )
            # 80 when one end of the bodies matches (engulfing on one side only)
            size = 100 if o[i] != c[i - 1] and c[i] != o[i - 1] else 80
            out[i] = color_nb(bars, i) * size if hit else 0
    return (out,)


CDLEVENINGDOJISTAR_LOOKBACK = lookback(3, BODY_DOJI, BODY_LONG, BODY_SHORT)


@njit(cache=True)
def cdleveningdojistar_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLEVENINGDOJISTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLEVENINGDOJISTAR_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_doji = total_nb(bars, BODY_DOJI, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)  # long white
                and color_nb(bars, i - 2) == 1
                and real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1)  # doji
                and body_gap_up_nb(bars, i - 1, i - 2)  # gapping up
                and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)  # not short
                and color_nb(bars, i) == -1  # black, closing well within the 1st body
                and c[i] < c[i - 2] - real_body_nb(bars, i - 2) * penetration
            )
            out[i] = -100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLEVENINGSTAR_LOOKBACK = lookback(3, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdleveningstar_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLEVENINGSTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLEVENINGSTAR_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_short1 = total_nb(bars, BODY_SHORT, start - 1)
        t_short0 = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (
                    real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)
                )  # long white
                & (color_nb(bars, i - 2) == 1)
                & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short1, i - 1))
                & body_gap_up_nb(bars, i - 1, i - 2)  # short 2nd gapping up
                & (real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short0, i))  # not short
                & (color_nb(bars, i) == -1)  # black, closing well within the 1st body
                & (c[i] < c[i - 2] - real_body_nb(bars, i - 2) * penetration)
            )
            out[i] = -100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_short1 = next_total_nb(bars, BODY_SHORT, t_short1, i - 1)
            t_short0 = next_total_nb(bars, BODY_SHORT, t_short0, i)
    return (out,)


CDLGAPSIDESIDEWHITE_LOOKBACK = lookback(3, NEAR, EQUAL)


@njit(cache=True)
def cdlgapsidesidewhite_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLGAPSIDESIDEWHITE`` applied to each segment."""
    bars = (open_, high, low, close)
    o = open_
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLGAPSIDESIDEWHITE_LOOKBACK
        if start >= b:
            continue
        t_near = total_nb(bars, NEAR, start - 1)
        t_eq = total_nb(bars, EQUAL, start - 1)
        for i in range(start, b):
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
            out[i] = (100 if up else -100) if hit else 0
            t_near = next_total_nb(bars, NEAR, t_near, i - 1)
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
    return (out,)


CDLGRAVESTONEDOJI_LOOKBACK = lookback(1, BODY_DOJI, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlgravestonedoji_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLGRAVESTONEDOJI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLGRAVESTONEDOJI_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
            )
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLHAMMER_LOOKBACK = lookback(2, BODY_SHORT, SHADOW_LONG, SHADOW_VERY_SHORT, NEAR)


@njit(cache=True)
def cdlhammer_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHAMMER`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHAMMER_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_near = total_nb(bars, NEAR, start - 1)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long lower
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                # body near the prior candle's low
                & (c_min_nb(c[i], o[i]) <= lo_[i - 1] + average_nb(bars, NEAR, t_near, i - 1))
            )
            out[i] = 100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
            t_near = next_total_nb(bars, NEAR, t_near, i - 1)
    return (out,)


CDLHANGINGMAN_LOOKBACK = lookback(2, BODY_SHORT, SHADOW_LONG, SHADOW_VERY_SHORT, NEAR)


@njit(cache=True)
def cdlhangingman_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHANGINGMAN`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, c = open_, high, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHANGINGMAN_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_near = total_nb(bars, NEAR, start - 1)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long lower
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                # body near the prior candle's high
                & (c_min_nb(c[i], o[i]) >= h[i - 1] - average_nb(bars, NEAR, t_near, i - 1))
            )
            out[i] = -100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
            t_near = next_total_nb(bars, NEAR, t_near, i - 1)
    return (out,)


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


CDLHARAMI_LOOKBACK = lookback(2, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlharami_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHARAMI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHARAMI_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
                & (real_body_nb(bars, i) <= average_nb(bars, BODY_SHORT, t_short, i))  # 2nd short
            )
            out[i] = _harami_code_nb(bars, i) if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLHARAMICROSS_LOOKBACK = lookback(2, BODY_DOJI, BODY_LONG)


@njit(cache=True)
def cdlharamicross_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHARAMICROSS`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHARAMICROSS_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 1)
        t_doji = total_nb(bars, BODY_DOJI, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # 1st long
                & (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # 2nd doji
            )
            out[i] = _harami_code_nb(bars, i) if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
    return (out,)


CDLHIGHWAVE_LOOKBACK = lookback(1, BODY_SHORT, SHADOW_VERY_LONG)


@njit(cache=True)
def cdlhighwave_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHIGHWAVE`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHIGHWAVE_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_shadow = total_nb(bars, SHADOW_VERY_LONG, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_shadow, i))
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_shadow, i))
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_shadow = next_total_nb(bars, SHADOW_VERY_LONG, t_shadow, i)
    return (out,)


# TA-Lib declares 5: the 3-candle setup plus 3 bars replayed to know a pending confirmation
CDLHIKKAKE_LOOKBACK = 5


@njit(cache=True)
def cdlhikkake_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHIKKAKE`` applied to each segment.

    +-100 on the setup (an inside bar, then a bar breaking it one way), +-200 when a later
    close within 3 bars confirms it by breaking the inside bar the other way.
    """
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHIKKAKE_LOOKBACK
        if start >= b:
            continue
        setup = a  # index of the last setup bar; ``a`` (TA-Lib's 0) when none is pending
        result = 0
        for i in range(start - 3, b):
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
    return (out,)


CDLHIKKAKEMOD_LOOKBACK = max(1, NEAR[1]) + 5


@njit(cache=True)
def cdlhikkakemod_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHIKKAKEMOD`` applied to each segment.

    Like ``cdlhikkake_seg_nb`` with two inside bars and the first one closing near its low
    (bullish) or high (bearish).
    """
    bars = (open_, high, low, close)
    h, lo_, c = high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHIKKAKEMOD_LOOKBACK
        if start >= b:
            continue
        t_near = total_nb(bars, NEAR, start - 5)
        setup = a
        result = 0
        for i in range(start - 3, b):
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
    return (out,)


CDLHOMINGPIGEON_LOOKBACK = lookback(2, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlhomingpigeon_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLHOMINGPIGEON`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLHOMINGPIGEON_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == -1)  # two black candles
                & (color_nb(bars, i) == -1)
                & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))  # long
                & (real_body_nb(bars, i) <= average_nb(bars, BODY_SHORT, t_short, i))  # short
                & (o[i] < o[i - 1])  # 2nd inside the 1st body
                & (c[i] > c[i - 1])
            )
            out[i] = 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLIDENTICAL3CROWS_LOOKBACK = lookback(3, SHADOW_VERY_SHORT, EQUAL)


@njit(cache=True)
def cdlidentical3crows_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLIDENTICAL3CROWS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLIDENTICAL3CROWS_LOOKBACK
        if start >= b:
            continue
        t_vs2 = total_nb(bars, SHADOW_VERY_SHORT, start - 2)
        t_vs1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_vs0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_eq2 = total_nb(bars, EQUAL, start - 2)
        t_eq1 = total_nb(bars, EQUAL, start - 1)
        for i in range(start, b):
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
            out[i] = -100 if hit else 0
            t_vs2 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs2, i - 2)
            t_vs1 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
            t_vs0 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
            t_eq2 = next_total_nb(bars, EQUAL, t_eq2, i - 2)
            t_eq1 = next_total_nb(bars, EQUAL, t_eq1, i - 1)
    return (out,)


CDLINNECK_LOOKBACK = lookback(2, EQUAL, BODY_LONG)


@njit(cache=True)
def cdlinneck_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLINNECK`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLINNECK_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 1)
        t_long = total_nb(bars, BODY_LONG, start - 1)
        for i in range(start, b):
            hit = (
                color_nb(bars, i - 1) == -1  # 1st: long black
                and real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1)
                and color_nb(bars, i) == 1  # 2nd: white, opening below the prior low
                and o[i] < lo_[i - 1]
                # closing slightly into the prior body
                and c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1)
                and c[i] >= c[i - 1]
            )
            out[i] = -100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
    return (out,)


CDLINVERTEDHAMMER_LOOKBACK = lookback(2, BODY_SHORT, SHADOW_LONG, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlinvertedhammer_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLINVERTEDHAMMER`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLINVERTEDHAMMER_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long upper
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & body_gap_down_nb(bars, i, i - 1)  # gapping down
            )
            out[i] = 100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


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


CDLKICKING_LOOKBACK = lookback(2, SHADOW_VERY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlkicking_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLKICKING`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLKICKING_LOOKBACK
        if start >= b:
            continue
        t_vs1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_vs0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_long1 = total_nb(bars, BODY_LONG, start - 1)
        t_long0 = total_nb(bars, BODY_LONG, start)
        for i in range(start, b):
            hit = _kicking_nb(bars, t_long1, t_long0, t_vs1, t_vs0, i)
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long1 = next_total_nb(bars, BODY_LONG, t_long1, i - 1)
            t_vs1 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
            t_long0 = next_total_nb(bars, BODY_LONG, t_long0, i)
            t_vs0 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
    return (out,)


CDLKICKINGBYLENGTH_LOOKBACK = lookback(2, SHADOW_VERY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlkickingbylength_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLKICKINGBYLENGTH`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLKICKINGBYLENGTH_LOOKBACK
        if start >= b:
            continue
        t_vs1 = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_vs0 = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_long1 = total_nb(bars, BODY_LONG, start - 1)
        t_long0 = total_nb(bars, BODY_LONG, start)
        for i in range(start, b):
            hit = _kicking_nb(bars, t_long1, t_long0, t_vs1, t_vs0, i)
            # the direction of the longer marubozu
            longer = i if real_body_nb(bars, i) > real_body_nb(bars, i - 1) else i - 1
            out[i] = color_nb(bars, longer) * 100 if hit else 0
            t_long1 = next_total_nb(bars, BODY_LONG, t_long1, i - 1)
            t_vs1 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs1, i - 1)
            t_long0 = next_total_nb(bars, BODY_LONG, t_long0, i)
            t_vs0 = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs0, i)
    return (out,)


CDLLADDERBOTTOM_LOOKBACK = lookback(5, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlladderbottom_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLLADDERBOTTOM`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, c = open_, high, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLLADDERBOTTOM_LOOKBACK
        if start >= b:
            continue
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        for i in range(start, b):
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
            out[i] = 100 if hit else 0
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i - 1)
    return (out,)


CDLLONGLEGGEDDOJI_LOOKBACK = lookback(1, BODY_DOJI, SHADOW_LONG)


@njit(cache=True)
def cdllongleggeddoji_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLLONGLEGGEDDOJI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLLONGLEGGEDDOJI_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        for i in range(start, b):
            hit = (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i)) & (
                (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))
                | (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))
            )
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
    return (out,)


CDLLONGLINE_LOOKBACK = lookback(1, BODY_LONG, SHADOW_SHORT)


@njit(cache=True)
def cdllongline_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLLONGLINE`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLLONGLINE_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_LONG, start)
        t_shadow = total_nb(bars, SHADOW_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_body, i))
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_body = next_total_nb(bars, BODY_LONG, t_body, i)
            t_shadow = next_total_nb(bars, SHADOW_SHORT, t_shadow, i)
    return (out,)


CDLMARUBOZU_LOOKBACK = lookback(1, BODY_LONG, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlmarubozu_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLMARUBOZU`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLMARUBOZU_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long, i))
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLMATCHINGLOW_LOOKBACK = lookback(2, EQUAL)


@njit(cache=True)
def cdlmatchinglow_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLMATCHINGLOW`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLMATCHINGLOW_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 1)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == -1)  # two black candles with the same close
                & (color_nb(bars, i) == -1)
                & (c[i] <= c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
                & (c[i] >= c[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
            )
            out[i] = 100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
    return (out,)


CDLMATHOLD_LOOKBACK = lookback(5, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlmathold_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLMATHOLD`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, c = open_, high, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLMATHOLD_LOOKBACK
        if start >= b:
            continue
        t_long4 = total_nb(bars, BODY_LONG, start - 4)
        t_short3 = total_nb(bars, BODY_SHORT, start - 3)
        t_short2 = total_nb(bars, BODY_SHORT, start - 2)
        t_short1 = total_nb(bars, BODY_SHORT, start - 1)
        for i in range(start, b):
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
            out[i] = 100 if hit else 0
            t_long4 = next_total_nb(bars, BODY_LONG, t_long4, i - 4)
            t_short3 = next_total_nb(bars, BODY_SHORT, t_short3, i - 3)
            t_short2 = next_total_nb(bars, BODY_SHORT, t_short2, i - 2)
            t_short1 = next_total_nb(bars, BODY_SHORT, t_short1, i - 1)
    return (out,)


CDLMORNINGDOJISTAR_LOOKBACK = lookback(3, BODY_DOJI, BODY_LONG, BODY_SHORT)


@njit(cache=True)
def cdlmorningdojistar_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLMORNINGDOJISTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLMORNINGDOJISTAR_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_doji = total_nb(bars, BODY_DOJI, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)  # long black
                and color_nb(bars, i - 2) == -1
                and real_body_nb(bars, i - 1) <= average_nb(bars, BODY_DOJI, t_doji, i - 1)  # doji
                and body_gap_down_nb(bars, i - 1, i - 2)  # gapping down
                and real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short, i)  # not short
                and color_nb(bars, i) == 1  # white, closing well within the 1st body
                and c[i] > c[i - 2] + real_body_nb(bars, i - 2) * penetration
            )
            out[i] = 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLMORNINGSTAR_LOOKBACK = lookback(3, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlmorningstar_seg_nb(open_, high, low, close, offsets, penetration):
    """numba equivalent of ``talib.CDLMORNINGSTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    c = close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLMORNINGSTAR_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_short1 = total_nb(bars, BODY_SHORT, start - 1)
        t_short0 = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (
                    real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)
                )  # long black
                & (color_nb(bars, i - 2) == -1)
                & (real_body_nb(bars, i - 1) <= average_nb(bars, BODY_SHORT, t_short1, i - 1))
                & body_gap_down_nb(bars, i - 1, i - 2)  # short 2nd gapping down
                & (real_body_nb(bars, i) > average_nb(bars, BODY_SHORT, t_short0, i))  # not short
                & (color_nb(bars, i) == 1)  # white, closing well within the 1st body
                & (c[i] > c[i - 2] + real_body_nb(bars, i - 2) * penetration)
            )
            out[i] = 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_short1 = next_total_nb(bars, BODY_SHORT, t_short1, i - 1)
            t_short0 = next_total_nb(bars, BODY_SHORT, t_short0, i)
    return (out,)


CDLONNECK_LOOKBACK = lookback(2, EQUAL, BODY_LONG)


@njit(cache=True)
def cdlonneck_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLONNECK`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLONNECK_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 1)
        t_long = total_nb(bars, BODY_LONG, start - 1)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == -1)  # 1st: long black
                & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1))
                & (color_nb(bars, i) == 1)  # 2nd: white, opening below the prior low
                & (o[i] < lo_[i - 1])
                # closing at the prior low
                & (c[i] <= lo_[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1))
                & (c[i] >= lo_[i - 1] - average_nb(bars, EQUAL, t_eq, i - 1))
            )
            out[i] = -100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
    return (out,)


CDLPIERCING_LOOKBACK = lookback(2, BODY_LONG)


@njit(cache=True)
def cdlpiercing_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLPIERCING`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLPIERCING_LOOKBACK
        if start >= b:
            continue
        t_long1 = total_nb(bars, BODY_LONG, start - 1)
        t_long0 = total_nb(bars, BODY_LONG, start)
        for i in range(start, b):
            hit = (
                (color_nb(bars, i - 1) == -1)  # 1st: long black
                & (real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long1, i - 1))
                & (color_nb(bars, i) == 1)  # 2nd: long white
                & (real_body_nb(bars, i) > average_nb(bars, BODY_LONG, t_long0, i))
                & (o[i] < lo_[i - 1])  # opening below the prior low
                & (c[i] < o[i - 1])  # closing within the prior body, above its midpoint
                & (c[i] > c[i - 1] + real_body_nb(bars, i - 1) * 0.5)
            )
            out[i] = 100 if hit else 0
            t_long1 = next_total_nb(bars, BODY_LONG, t_long1, i - 1)
            t_long0 = next_total_nb(bars, BODY_LONG, t_long0, i)
    return (out,)


CDLRICKSHAWMAN_LOOKBACK = lookback(1, BODY_DOJI, SHADOW_LONG, NEAR)


@njit(cache=True)
def cdlrickshawman_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLRICKSHAWMAN`` applied to each segment."""
    bars = (open_, high, low, close)
    lo_ = low
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLRICKSHAWMAN_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        t_near = total_nb(bars, NEAR, start)
        for i in range(start, b):
            mid = lo_[i] + high_low_nb(bars, i) / 2
            hit = (
                (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))  # doji
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # shadows
                # body near the middle of the range
                & (body_bottom_nb(bars, i) <= mid + average_nb(bars, NEAR, t_near, i))
                & (body_top_nb(bars, i) >= mid - average_nb(bars, NEAR, t_near, i))
            )
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
            t_near = next_total_nb(bars, NEAR, t_near, i)
    return (out,)


CDLRISEFALL3METHODS_LOOKBACK = lookback(5, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlrisefall3methods_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLRISEFALL3METHODS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, h, lo_, c = open_, high, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLRISEFALL3METHODS_LOOKBACK
        if start >= b:
            continue
        t_long4 = total_nb(bars, BODY_LONG, start - 4)
        t_short3 = total_nb(bars, BODY_SHORT, start - 3)
        t_short2 = total_nb(bars, BODY_SHORT, start - 2)
        t_short1 = total_nb(bars, BODY_SHORT, start - 1)
        t_long0 = total_nb(bars, BODY_LONG, start)
        for i in range(start, b):
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
            out[i] = 100 * d if hit else 0
            t_long4 = next_total_nb(bars, BODY_LONG, t_long4, i - 4)
            t_short3 = next_total_nb(bars, BODY_SHORT, t_short3, i - 3)
            t_short2 = next_total_nb(bars, BODY_SHORT, t_short2, i - 2)
            t_short1 = next_total_nb(bars, BODY_SHORT, t_short1, i - 1)
            t_long0 = next_total_nb(bars, BODY_LONG, t_long0, i)
    return (out,)


CDLSEPARATINGLINES_LOOKBACK = lookback(2, SHADOW_VERY_SHORT, BODY_LONG, EQUAL)


@njit(cache=True)
def cdlseparatinglines_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSEPARATINGLINES`` applied to each segment."""
    bars = (open_, high, low, close)
    o = open_
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSEPARATINGLINES_LOOKBACK
        if start >= b:
            continue
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_long = total_nb(bars, BODY_LONG, start)
        t_eq = total_nb(bars, EQUAL, start - 1)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
            t_long = next_total_nb(bars, BODY_LONG, t_long, i)
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
    return (out,)


CDLSHOOTINGSTAR_LOOKBACK = lookback(2, BODY_SHORT, SHADOW_LONG, SHADOW_VERY_SHORT)


@njit(cache=True)
def cdlshootingstar_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSHOOTINGSTAR`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSHOOTINGSTAR_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_sl = total_nb(bars, SHADOW_LONG, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))  # small body
                & (upper_shadow_nb(bars, i) > average_nb(bars, SHADOW_LONG, t_sl, i))  # long upper
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & body_gap_up_nb(bars, i, i - 1)  # gapping up
            )
            out[i] = -100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_sl = next_total_nb(bars, SHADOW_LONG, t_sl, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
    return (out,)


CDLSHORTLINE_LOOKBACK = lookback(1, BODY_SHORT, SHADOW_SHORT)


@njit(cache=True)
def cdlshortline_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSHORTLINE`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSHORTLINE_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        t_shadow = total_nb(bars, SHADOW_SHORT, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_body, i))
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
                & (lower_shadow_nb(bars, i) < average_nb(bars, SHADOW_SHORT, t_shadow, i))
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
            t_shadow = next_total_nb(bars, SHADOW_SHORT, t_shadow, i)
    return (out,)


CDLSPINNINGTOP_LOOKBACK = lookback(1, BODY_SHORT)


@njit(cache=True)
def cdlspinningtop_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSPINNINGTOP`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSPINNINGTOP_LOOKBACK
        if start >= b:
            continue
        t_body = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            body = real_body_nb(bars, i)
            hit = (
                (body < average_nb(bars, BODY_SHORT, t_body, i))  # small body, longer shadows
                & (upper_shadow_nb(bars, i) > body)
                & (lower_shadow_nb(bars, i) > body)
            )
            out[i] = color_nb(bars, i) * 100 if hit else 0
            t_body = next_total_nb(bars, BODY_SHORT, t_body, i)
    return (out,)


CDLSTALLEDPATTERN_LOOKBACK = lookback(3, BODY_LONG, BODY_SHORT, SHADOW_VERY_SHORT, NEAR)


@njit(cache=True)
def cdlstalledpattern_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSTALLEDPATTERN`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSTALLEDPATTERN_LOOKBACK
        if start >= b:
            continue
        t_long2 = total_nb(bars, BODY_LONG, start - 2)
        t_long1 = total_nb(bars, BODY_LONG, start - 1)
        t_short = total_nb(bars, BODY_SHORT, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start - 1)
        t_near2 = total_nb(bars, NEAR, start - 2)
        t_near1 = total_nb(bars, NEAR, start - 1)
        for i in range(start, b):
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
                and o[i]
                >= c[i - 1] - real_body_nb(bars, i) - average_nb(bars, NEAR, t_near1, i - 1)
            )
            out[i] = -100 if hit else 0
            t_long2 = next_total_nb(bars, BODY_LONG, t_long2, i - 2)
            t_near2 = next_total_nb(bars, NEAR, t_near2, i - 2)
            t_long1 = next_total_nb(bars, BODY_LONG, t_long1, i - 1)
            t_near1 = next_total_nb(bars, NEAR, t_near1, i - 1)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i - 1)
    return (out,)


CDLSTICKSANDWICH_LOOKBACK = lookback(3, EQUAL)


@njit(cache=True)
def cdlsticksandwich_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLSTICKSANDWICH`` applied to each segment."""
    bars = (open_, high, low, close)
    lo_, c = low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLSTICKSANDWICH_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 2)
        for i in range(start, b):
            hit = (
                color_nb(bars, i - 2) == -1  # black, white, black
                and color_nb(bars, i - 1) == 1
                and color_nb(bars, i) == -1
                and lo_[i - 1] > c[i - 2]  # 2nd trades above the 1st close
                and c[i] <= c[i - 2] + average_nb(bars, EQUAL, t_eq, i - 2)  # 1st, 3rd same close
                and c[i] >= c[i - 2] - average_nb(bars, EQUAL, t_eq, i - 2)
            )
            out[i] = 100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 2)
    return (out,)


CDLTAKURI_LOOKBACK = lookback(1, BODY_DOJI, SHADOW_VERY_SHORT, SHADOW_VERY_LONG)


@njit(cache=True)
def cdltakuri_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLTAKURI`` applied to each segment."""
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLTAKURI_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start)
        t_vs = total_nb(bars, SHADOW_VERY_SHORT, start)
        t_vl = total_nb(bars, SHADOW_VERY_LONG, start)
        for i in range(start, b):
            hit = (
                (real_body_nb(bars, i) <= average_nb(bars, BODY_DOJI, t_doji, i))
                & (upper_shadow_nb(bars, i) < average_nb(bars, SHADOW_VERY_SHORT, t_vs, i))
                & (lower_shadow_nb(bars, i) > average_nb(bars, SHADOW_VERY_LONG, t_vl, i))
            )
            out[i] = 100 if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i)
            t_vs = next_total_nb(bars, SHADOW_VERY_SHORT, t_vs, i)
            t_vl = next_total_nb(bars, SHADOW_VERY_LONG, t_vl, i)
    return (out,)


CDLTASUKIGAP_LOOKBACK = lookback(3, NEAR)


@njit(cache=True)
def cdltasukigap_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLTASUKIGAP`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLTASUKIGAP_LOOKBACK
        if start >= b:
            continue
        t_near = total_nb(bars, NEAR, start - 1)
        for i in range(start, b):
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
            out[i] = color_nb(bars, i - 1) * 100 if hit else 0
            t_near = next_total_nb(bars, NEAR, t_near, i - 1)
    return (out,)


CDLTHRUSTING_LOOKBACK = lookback(2, EQUAL, BODY_LONG)


@njit(cache=True)
def cdlthrusting_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLTHRUSTING`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLTHRUSTING_LOOKBACK
        if start >= b:
            continue
        t_eq = total_nb(bars, EQUAL, start - 1)
        t_long = total_nb(bars, BODY_LONG, start - 1)
        for i in range(start, b):
            hit = (
                color_nb(bars, i - 1) == -1  # 1st: long black
                and real_body_nb(bars, i - 1) > average_nb(bars, BODY_LONG, t_long, i - 1)
                and color_nb(bars, i) == 1  # 2nd: white, opening below the prior low
                and o[i] < lo_[i - 1]
                # closing into the prior body, but not above its midpoint
                and c[i] > c[i - 1] + average_nb(bars, EQUAL, t_eq, i - 1)
                and c[i] <= c[i - 1] + real_body_nb(bars, i - 1) * 0.5
            )
            out[i] = -100 if hit else 0
            t_eq = next_total_nb(bars, EQUAL, t_eq, i - 1)
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 1)
    return (out,)


CDLTRISTAR_LOOKBACK = lookback(3, BODY_DOJI)


@njit(cache=True)
def cdltristar_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLTRISTAR`` applied to each segment.

    TA-Lib judges all three dojis against the average before the first one.
    """
    bars = (open_, high, low, close)
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLTRISTAR_LOOKBACK
        if start >= b:
            continue
        t_doji = total_nb(bars, BODY_DOJI, start - 2)
        for i in range(start, b):
            doji = average_nb(bars, BODY_DOJI, t_doji, i - 2)
            hit = (
                (real_body_nb(bars, i - 2) <= doji)
                & (real_body_nb(bars, i - 1) <= doji)
                & (real_body_nb(bars, i) <= doji)
            )
            # 2nd gaps up and the 3rd is not higher: bearish; the reverse: bullish
            code = 0
            if body_gap_up_nb(bars, i - 1, i - 2) and body_top_nb(bars, i) < body_top_nb(
                bars, i - 1
            ):
                code = -100
            if body_gap_down_nb(bars, i - 1, i - 2) and body_bottom_nb(bars, i) > body_bottom_nb(
                bars, i - 1
            ):
                code = 100
            out[i] = code if hit else 0
            t_doji = next_total_nb(bars, BODY_DOJI, t_doji, i - 2)
    return (out,)


CDLUNIQUE3RIVER_LOOKBACK = lookback(3, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlunique3river_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLUNIQUE3RIVER`` applied to each segment."""
    bars = (open_, high, low, close)
    o, lo_, c = open_, low, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLUNIQUE3RIVER_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_short = total_nb(bars, BODY_SHORT, start)
        for i in range(start, b):
            hit = (
                (
                    real_body_nb(bars, i - 2) > average_nb(bars, BODY_LONG, t_long, i - 2)
                )  # long black
                & (color_nb(bars, i - 2) == -1)
                & (color_nb(bars, i - 1) == -1)  # 2nd: black harami with a lower low
                & (c[i - 1] > c[i - 2])
                & (o[i - 1] <= o[i - 2])
                & (lo_[i - 1] < lo_[i - 2])
                & (real_body_nb(bars, i) < average_nb(bars, BODY_SHORT, t_short, i))  # 3rd: short
                & (color_nb(bars, i) == 1)  # white, opening not below the 2nd low
                & (o[i] > lo_[i - 1])
            )
            out[i] = 100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i)
    return (out,)


CDLUPSIDEGAP2CROWS_LOOKBACK = lookback(3, BODY_SHORT, BODY_LONG)


@njit(cache=True)
def cdlupsidegap2crows_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLUPSIDEGAP2CROWS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        start = a + CDLUPSIDEGAP2CROWS_LOOKBACK
        if start >= b:
            continue
        t_long = total_nb(bars, BODY_LONG, start - 2)
        t_short = total_nb(bars, BODY_SHORT, start - 1)
        for i in range(start, b):
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
            out[i] = -100 if hit else 0
            t_long = next_total_nb(bars, BODY_LONG, t_long, i - 2)
            t_short = next_total_nb(bars, BODY_SHORT, t_short, i - 1)
    return (out,)


CDLXSIDEGAP3METHODS_LOOKBACK = lookback(3)


@njit(cache=True)
def cdlxsidegap3methods_seg_nb(open_, high, low, close, offsets):
    """numba equivalent of ``talib.CDLXSIDEGAP3METHODS`` applied to each segment."""
    bars = (open_, high, low, close)
    o, c = open_, close
    out = zeros_int_nb(close)
    for s in range(offsets.shape[0] - 1):
        b = offsets[s + 1]
        a = first_valid_nb(bars, offsets[s], b)
        for i in range(a + CDLXSIDEGAP3METHODS_LOOKBACK, b):
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
            out[i] = color_nb(bars, i - 2) * 100 if hit else 0
    return (out,)
