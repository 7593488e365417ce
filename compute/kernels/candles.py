"""Candle building blocks shared by the candlestick patterns (``compute.kernels.patterns``).

A pattern compares parts of a candle (real body, shadows) with the average size of the
previous candles, as TA-Lib's candle settings define it: each setting has a range type (the
real body, the high-low range or the sum of both shadows), an averaging period and a factor.
The average is kept as a running total per (setting, candle offset), started with a plain sum
and moved one candle at a time by ``total += (new - old)``: TA-Lib's order of operations, so
comparisons that land on a rounding boundary flip the same way.

Helpers take the four price arrays as one tuple ``bars = (open, high, low, close)`` and
positions in them. ``pattern`` writes the loop over bars, the running totals and the code
stored for each bar once, around each pattern's rule for one bar.
"""

import inspect
import re

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from compute.kernels.common import first_valid_nb
from compute.kernels.driver import jit_source

REAL_BODY = 0
HIGH_LOW = 1
SHADOWS = 2

# TA-Lib's default candle settings: (range type, averaging period, factor), by the name a
# rule's parameter ``<name><k>`` takes for the average of candle ``i - k``. A period of 0
# means "compare with this candle's own range"; SHADOWS averages are halved (one shadow).
SETTINGS = {
    "long": (REAL_BODY, 10, 1.0),  # body longer than the average body of the 10 before
    "short": (REAL_BODY, 10, 1.0),  # body shorter than the average body of the 10 before
    "doji": (HIGH_LOW, 10, 0.1),  # body within 10% of the average high-low range
    "shadow_long": (REAL_BODY, 0, 1.0),  # shadow longer than the candle's own body
    "shadow_vlong": (REAL_BODY, 0, 2.0),  # shadow longer than twice the candle's own body
    "shadow_short": (SHADOWS, 10, 1.0),  # shadow shorter than half the average shadows
    "shadow_vshort": (HIGH_LOW, 10, 0.1),  # shadow within 10% of the average high-low range
    "near": (HIGH_LOW, 5, 0.2),  # distances within 20% of the average range of the 5 before
    "far": (HIGH_LOW, 5, 0.6),  # distances beyond 60% of that average
    "equal": (HIGH_LOW, 5, 0.05),  # distances within 5% of that average
}


@intrinsic
def at_least_nb(typingctx, i, low):
    """``i``, telling LLVM that ``i >= low`` (``llvm.assume``).

    A pattern kernel reads ``x[i - k]`` for ``k`` up to its lookback ``low``. numba wraps a
    negative index (``idx < 0 ? idx + len : idx``) and its integer arithmetic carries no
    ``nsw`` flag, so LLVM could not prove ``i - k >= 0``: every read kept a sign mask and a
    select, and the loop ran out of registers and shuffled them each bar (``inspect_asm``).
    With the assumption the reads are plain loads: CDLDOJI 1.68x -> 0.98x TA-Lib,
    CDLONNECK 1.49x -> 0.81x, CDLMORNINGDOJISTAR 1.62x -> 0.40x.
    """

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(1)])
        assume = builder.module.declare_intrinsic("llvm.assume", fnty=fnty)
        builder.call(assume, [builder.icmp_signed(">=", args[0], args[1])])
        return args[0]

    return types.intp(types.intp, types.intp), codegen


@intrinsic
def select_nb(typingctx, hit, a, b):
    """``a if hit else b`` as one LLVM ``select`` marked ``!unpredictable``.

    A pattern's tests compare prices with candle averages, each a division of a running
    total. LLVM's x86 cmov converter saw those divisions on the conditions' path and turned
    the cmovs of ``code if hit else 0`` into branches (``inspect_asm``: ``ja``/``xor`` per
    test), which mispredict on every other bar of random prices: 3STARSINSOUTH 2.7x TA-Lib,
    the doji stars 1.7x, KICKING 2.1x, 3INSIDE and XSIDEGAP3METHODS 1.35x. Marked
    unpredictable, the select stays a cmov (the converter skips such cmovs): 0.59x, 0.41x,
    0.32x, 0.34x and 0.39x. With the converter off for the whole process
    (``-x86-cmov-converter=false``) the times were the same.
    """

    def codegen(context, builder, signature, args):
        value = builder.select(args[0], args[1], args[2])
        value.set_metadata("unpredictable", builder.module.add_metadata([]))
        return value

    return a(types.boolean, a, a), codegen


@njit(cache=True)
def c_max_nb(a, b):
    """TA-Lib's ``max(a, b)``: ``a if a > b else b``, so ``b`` when either is NaN.

    numba's ``max(x, y)`` keeps ``x`` unless ``y > x``; swapping the arguments gives the C
    macro's result, NaN included, and unlike a conditional expression it compiles to a
    branch-free max (a branch on ``close >= open`` mispredicts half the time).
    """
    return max(b, a)


@njit(cache=True)
def c_min_nb(a, b):
    """TA-Lib's ``min(a, b)``: ``a if a < b else b``, so ``b`` when either is NaN."""
    return min(b, a)


@njit(cache=True)
def real_body_nb(bars, i):
    """``abs(close - open)``."""
    return abs(bars[3][i] - bars[0][i])


@njit(cache=True)
def upper_shadow_nb(bars, i):
    """High minus the top of the real body (TA-Lib: ``close >= open ? close : open``)."""
    return bars[1][i] - c_max_nb(bars[3][i], bars[0][i])


@njit(cache=True)
def lower_shadow_nb(bars, i):
    """Bottom of the real body minus the low (TA-Lib: ``close >= open ? open : close``)."""
    return c_min_nb(bars[3][i], bars[0][i]) - bars[2][i]


@njit(cache=True)
def high_low_nb(bars, i):
    """High minus low."""
    return bars[1][i] - bars[2][i]


@njit(cache=True)
def color_nb(bars, i):
    """1 for a white candle (close >= open), -1 for a black one."""
    return 1 if bars[3][i] >= bars[0][i] else -1


@njit(cache=True)
def colors_nb(bars, i, colors):
    """Candles ``i - len(colors) + 1`` to ``i`` have ``colors``, oldest first (1 white,
    -1 black, 0 either); tested whole, without branches."""
    m = len(colors)
    hit = True
    for j in range(m):
        hit &= (colors[j] == 0) | (color_nb(bars, i - m + 1 + j) == colors[j])
    return hit


@njit(cache=True)
def within_nb(v, ref, band):
    """``v`` is within ``band`` of ``ref``: ``ref - band <= v <= ref + band``."""
    return (v <= ref + band) & (v >= ref - band)


@njit(cache=True)
def body_top_nb(bars, i):
    """TA-Lib's ``max(open, close)``; some patterns take ``max(close, open)`` instead."""
    return c_max_nb(bars[0][i], bars[3][i])


@njit(cache=True)
def body_bottom_nb(bars, i):
    """TA-Lib's ``min(open, close)``; some patterns take ``min(close, open)`` instead."""
    return c_min_nb(bars[0][i], bars[3][i])


@njit(cache=True)
def body_gap_nb(bars, i, prev, d):
    """Candle ``i``'s real body lies entirely above (``d`` = 1) or below (``d`` = -1) candle
    ``prev``'s; both tested, without branches."""
    up = body_bottom_nb(bars, i) > body_top_nb(bars, prev)
    down = body_top_nb(bars, i) < body_bottom_nb(bars, prev)
    return ((d == 1) & up) | ((d == -1) & down)


@njit(cache=True)
def gap_nb(bars, i, prev, d):
    """Candle ``i``'s low is above (``d`` = 1) candle ``prev``'s high, or its high below
    (``d`` = -1) that low; both tested, without branches."""
    up = bars[2][i] > bars[1][prev]
    down = bars[1][i] < bars[2][prev]
    return ((d == 1) & up) | ((d == -1) & down)


@njit(cache=True)
def candle_range_nb(bars, setting, i):
    """The size of candle ``i`` that ``setting`` measures (TA-Lib's ``TA_CANDLERANGE``)."""
    kind = setting[0]
    if kind == REAL_BODY:
        return real_body_nb(bars, i)
    if kind == HIGH_LOW:
        return high_low_nb(bars, i)
    return upper_shadow_nb(bars, i) + lower_shadow_nb(bars, i)


@njit(cache=True)
def total_nb(bars, setting, j):
    """Running total of ``setting``'s range over the ``period`` candles before candle ``j``."""
    total = 0.0
    for m in range(j - setting[1], j):
        total += candle_range_nb(bars, setting, m)
    return total


@njit(cache=True)
def next_total_nb(bars, setting, total, j):
    """The running total for candle ``j + 1`` from the one for candle ``j``."""
    return total + (
        candle_range_nb(bars, setting, j) - candle_range_nb(bars, setting, j - setting[1])
    )


@njit(cache=True)
def average_nb(bars, setting, total, j):
    """The threshold ``setting`` sets for candle ``j`` (TA-Lib's ``TA_CANDLEAVERAGE``)."""
    period = setting[1]
    base = total / period if period != 0 else candle_range_nb(bars, setting, j)
    return setting[2] * base / (2.0 if setting[0] == SHADOWS else 1.0)


KERNELS: dict[str, tuple] = {}  # pattern name -> (1-D kernel, its constant arguments)
LOOKBACKS: dict[str, int] = {}  # pattern name -> TA-Lib's lookback
_PRICES = ("bars", "o", "h", "lo_", "c")  # what a rule may read besides ``i``


def pattern(candles, code=None, color_of=None, lookback_bars=None, name=None, **bound):
    """Register a pattern's rule for bar ``i`` as the pattern's 1-D kernel, ``kernel(open_,
    high, low, close, out[, penetration])`` in ``KERNELS[name]`` (``name``: the rule's), and
    its lookback in ``LOOKBACKS``; return the rule, so that stacked decorators declare
    several patterns with one rule.

    The rule's parameters are bound by name: ``bars`` to ``(open, high, low, close)``, ``o``,
    ``h``, ``lo_``, ``c`` to those arrays, ``i`` to the bar, ``<setting><k>`` (``near1``) to
    the average ``SETTINGS[setting]`` sets for candle ``i - k``; ``bound`` gives a parameter
    a constant (``d=1``) or the name of such an average (``small1="doji1"``); any other
    (``penetration``) is a parameter of the kernel. The kernel keeps one running total per
    average, started with ``total_nb`` at the first bar judged and moved with
    ``next_total_nb`` after each bar, in TA-Lib's order. The lookback is TA-Lib's, the
    longest averaging period plus ``candles - 1`` (``lookback_bars`` where TA-Lib declares
    another). The kernel starts that many bars after the first bar without a NaN price
    (where the ``talib`` wrapper starts TA-Lib) and stores a code for every bar: ``code``
    (times the color of candle ``i - color_of``, if given) where the rule holds and 0
    elsewhere, or, without ``code``, the code the rule returns. The rule is inlined into the
    kernel and the kernel into its caller (the batch form from ``compute.kernels.driver``),
    which numba compiles as one function. Rules combine their tests with ``&``: under a
    short-circuit ``and`` numba kept the inlined rule's array arguments alive per bar, ~14
    NRT_incref/NRT_decref calls a bar (``inspect_asm``), 8-12x TA-Lib's time.
    """

    def make(declared):
        rule = getattr(declared, "py_func", declared)  # a rule also compiled as a helper
        label = name or rule.__name__
        params = list(inspect.signature(rule).parameters)
        args = {p: bound.get(p, p) for p in params}
        args = {p: a if isinstance(a, str) else repr(a) for p, a in args.items()}
        averages = {
            a: (SETTINGS[m[1]], int(m[2]))
            for a in args.values()
            if (m := re.fullmatch(r"([a-z_]+?)(\d)", a)) and m[1] in SETTINGS
        }
        own = (*_PRICES, "i", *averages)
        extra = [p for p in params if args[p] == p and p not in own]  # penetration
        bars_ = lookback_bars
        if bars_ is None:
            bars_ = max((s[1] for s, _ in averages.values()), default=0) + candles - 1
        value = f"rule({', '.join(args.values())})"
        if code is not None:
            sign = "" if color_of is None else f" * color_nb(bars, i - {color_of})"
            value = f"select_nb({value}, {code}{sign}, 0)"

        def each(line):  # ``line`` for every average
            return [line.format(a=a, s=s, k=k) for a, (s, k) in averages.items()]

        body = "\n".join(
            [
                f"({', '.join(['open_', 'high', 'low', 'close', 'out', *extra])}):",
                "    bars = o, h, lo_, c = open_, high, low, close",
                "    n = close.shape[0]",
                f"    start = first_valid_nb(bars, 0, n) + {bars_}",
                "    if start >= n:",
                "        return",
                *each("    t_{a} = total_nb(bars, {s!r}, start - {k})"),
                "    for i in range(start, n):",
                f"        i = at_least_nb(i, {bars_})",
                *each("        {a} = average_nb(bars, {s!r}, t_{a}, i - {k})"),
                f"        out[i] = {value}",
                *each("        t_{a} = next_total_nb(bars, {s!r}, t_{a}, i - {k})"),
            ]
        )
        helpers = (first_valid_nb, total_nb, next_total_nb, average_nb, color_nb)
        namespace = {
            **rule.__globals__,
            **{f.__name__: f for f in (*helpers, at_least_nb, select_nb)},
            "rule": njit(inline="always")(rule),
        }
        doc = inspect.cleandoc(rule.__doc__ or "")
        doc = f"numba equivalent of ``talib.{label.upper()}``.\n\n{doc}".strip()
        KERNELS[label] = (jit_source(label, body, namespace, rule, doc, inline="always"), ())
        LOOKBACKS[label] = bars_
        return declared

    return make
