"""Candlestick patterns against TA-Lib where the patterns actually fire.

The registry-driven parity test compares every pattern on a few series, but most patterns
are rare: on those series many compare zeros with zeros. Here every pattern is compared on
all the real daily stocks of ``bokeh_sampledata``, on a long synthetic "candle zoo" built to
produce every candle shape often (dojis, marubozu, long shadows, gaps, equal prices), and on
textbook instances of the rarest patterns; a test checks that every pattern fires somewhere,
so the comparison is never vacuous. On the five real stocks (12,154 bars) TA-Lib itself
never fires CDLCONCEALBABYSWALL, CDL3STARSINSOUTH, CDLABANDONEDBABY, CDLKICKING and
CDLKICKINGBYLENGTH, and fires CDLBREAKAWAY, CDLIDENTICAL3CROWS, CDLMATHOLD and
CDL3BLACKCROWS at most twice; the zoo and the textbook instances cover them.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib
from talib import abstract

from compute import indicators
from compute.kernels.candles import c_max_nb, c_min_nb
from tests.datasets import real_daily

PRICES = ("open", "high", "low", "close")
PATTERNS = [n for n in indicators.names() if indicators.spec(n).group == "Pattern Recognition"]
TICKERS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")


def candle_zoo(n: int = 40_000, seed: int = 3) -> dict[str, np.ndarray]:
    """Random candles from a small vocabulary of shapes, in runs of one color, on a 0.01 grid.

    Body and shadow sizes are drawn from a few levels (zero, tiny, short, average, long, very
    long), opens gap from the previous close or open or start inside the previous body, and
    some closes repeat an earlier price: together they make each pattern's comparisons,
    including the equalities behind the +-80 codes, hit often.
    """
    rng = np.random.default_rng(seed)
    color = np.empty(n)
    i = 0
    while i < n:
        run = int(rng.integers(1, 7))
        color[i : i + run] = rng.choice([-1.0, 1.0])
        i += run
    color[rng.random(n) < 0.25] *= -1
    body = rng.choice([0.0, 0.02, 0.3, 1.0, 2.0, 4.0], n, p=[0.15, 0.1, 0.2, 0.25, 0.2, 0.1])
    upper = rng.choice([0.0, 0.05, 0.5, 1.5, 4.0], n, p=[0.3, 0.2, 0.25, 0.15, 0.1])
    lower = rng.choice([0.0, 0.05, 0.5, 1.5, 4.0], n, p=[0.3, 0.2, 0.25, 0.15, 0.1])
    gap = rng.choice([0.0, 0.0, 0.3, -0.3, 2.0, -2.0, 5.0, -5.0], n)
    mode = rng.random(n)
    inside = rng.choice([0.25, 0.5, 0.75], n)
    repeat = rng.random(n) < 0.1
    repeat_close = rng.random(n) < 0.5
    bars = {f: np.empty(n) for f in PRICES}
    prev_o = prev_c = 100.0
    for t in range(n):
        if mode[t] < 0.5:
            o = prev_c + gap[t]
        elif mode[t] < 0.75:
            o = prev_o + gap[t]
        else:
            o = prev_o + (prev_c - prev_o) * inside[t]
        c = o + color[t] * body[t]
        if repeat[t]:
            c = prev_c if repeat_close[t] else prev_o
        bars["open"][t], bars["close"][t] = o, c
        bars["high"][t] = max(o, c) + upper[t]
        bars["low"][t] = min(o, c) - lower[t]
        prev_o, prev_c = o, c
        if prev_c < 20:  # keep prices positive: lift the reference, not the bar
            prev_o, prev_c = prev_o + 100 - prev_c, 100.0
    return {f: np.round(v / 0.01) * 0.01 for f, v in bars.items()}


# 12 ordinary candles (body 1, range 2) so that the averages before a template are known
_CONTEXT = [(100, 101.5, 99.5, 101) if k % 2 == 0 else (101, 101.5, 99.5, 100) for k in range(12)]

# pattern, TA-Lib's code on the last candle, the candles as (open, high, low, close)
TEXTBOOK = [
    ("cdl3blackcrows", -100, [(100, 103.5, 99.8, 103), (102.8, 103, 100.95, 101), (102, 102.1, 99.45, 99.5), (100.5, 100.6, 97.95, 98)]),
    ("cdl3starsinsouth", 100, [(103, 103.1, 96.5, 100), (101, 101.2, 98, 99), (99.5, 99.55, 99.15, 99.2)]),
    ("cdlabandonedbaby", 100, [(104, 104.1, 99.9, 100), (98.5, 99, 98, 98.5), (99.5, 102.1, 99.4, 102)]),
    ("cdlbreakaway", 100, [(104, 104.2, 99.8, 100), (99, 99.2, 97.8, 98), (98.2, 98.4, 97.2, 97.5), (97.6, 97.8, 96.6, 96.8), (96.9, 99.6, 96.8, 99.5)]),
    ("cdlconcealbabyswall", 100, [(100, 100, 97, 97), (97.5, 97.5, 95, 95), (94, 95.5, 92.8, 93), (96, 96, 91.9, 92)]),
    ("cdlmathold", 100, [(100, 104.2, 99.9, 104), (105, 105.1, 104.5, 104.6), (104.3, 104.4, 103.7, 103.8), (104.0, 104.1, 103.4, 103.5), (103.7, 106.1, 103.6, 106)]),
    ("cdlrisefall3methods", 100, [(100, 104.1, 99.9, 104), (103.8, 103.9, 103.2, 103.3), (103.4, 103.5, 102.7, 102.8), (102.9, 103.0, 102.2, 102.3), (102.5, 105.1, 102.4, 105)]),
    ("cdlrisefall3methods", -100, [(104, 104.1, 99.9, 100), (100.2, 100.8, 100.1, 100.7), (100.6, 101.3, 100.5, 101.2), (101.1, 101.8, 101.0, 101.7), (101.5, 101.6, 98.9, 99)]),
    ("cdlupsidegap2crows", -100, [(100, 104.1, 99.9, 104), (105.5, 105.6, 105.0, 105.1), (105.8, 105.9, 104.4, 104.5)]),
]  # fmt: skip


def textbook_bars() -> tuple[dict[str, np.ndarray], list[tuple[str, int, int]]]:
    """Every textbook instance after its context, concatenated; and (pattern, index, code)."""
    rows: list[tuple[float, float, float, float]] = []
    where = []
    for name, code, candles in TEXTBOOK:
        rows += _CONTEXT + candles
        where.append((name, len(rows) - 1, code))
    columns = [np.array(col, dtype=np.float64) for col in zip(*rows, strict=True)]
    return dict(zip(PRICES, columns, strict=True)), where


def _datasets() -> dict[str, dict[str, np.ndarray]]:
    data = {t: {f: real_daily(t)[f] for f in PRICES} for t in TICKERS}
    data["candle_zoo"] = candle_zoo()
    data["textbook"] = textbook_bars()[0]
    return data


DATA = _datasets()


def _param_sets():
    for name in PATTERNS:
        for i, params in enumerate([{}, *indicators.spec(name).examples]):
            yield pytest.param(name, dict(params), id=f"{name}-{i}")


def _talib(name: str, bars: dict[str, np.ndarray], **params) -> np.ndarray:
    return abstract.Function(name.upper())(bars, **params)


def _ours(name: str, bars: dict[str, np.ndarray], **params) -> np.ndarray:
    return indicators.compute(name, bars, **params)["integer"]


def _first_difference(name, case, ours, ref):
    idx = int(np.flatnonzero(ours != ref)[0])
    return f"{name} on {case}: first difference at {idx}: ours {ours[idx]}, TA-Lib {ref[idx]}"


@pytest.mark.parametrize(("name", "params"), list(_param_sets()))
def test_matches_talib_where_patterns_fire(name, params):
    for case, bars in DATA.items():
        ours, ref = _ours(name, bars, **params), _talib(name, bars, **params)
        assert ours.dtype == np.int32, f"{name}: dtype {ours.dtype}, TA-Lib returns int32"
        assert np.array_equal(ours, ref), _first_difference(name, case, ours, ref)


@pytest.mark.parametrize("name", PATTERNS)
def test_every_pattern_fires_somewhere(name):
    fired = sum(int(np.count_nonzero(_talib(name, bars))) for bars in DATA.values())
    assert fired > 0, f"{name}: TA-Lib never fires on the test data; the parity test is vacuous"


@pytest.mark.parametrize(("name", "index", "code"), textbook_bars()[1])
def test_textbook_instance_fires(name, index, code):
    bars = DATA["textbook"]
    got = _ours(name, bars)
    assert got[index] == code, f"{name}: {got[index]} at the textbook instance, expected {code}"
    assert _talib(name, bars)[index] == code, f"{name}: TA-Lib disagrees with the textbook"


@pytest.mark.parametrize("name", PATTERNS)
def test_nan_inputs_match_talib(name):
    """Leading NaNs are skipped (the wrapper starts later); a later NaN poisons the averages."""
    rng = np.random.default_rng(11)
    zoo = candle_zoo(6_000, seed=5)
    for f in PRICES:
        zoo[f][rng.choice(6_000, 30, replace=False)] = np.nan
    for start in range(0, 6_000, 250):  # short windows: many begin with a NaN
        bars = {f: v[start : start + 250] for f, v in zoo.items()}
        ours, ref = _ours(name, bars), _talib(name, bars)
        assert np.array_equal(ours, ref), _first_difference(name, f"window {start}", ours, ref)


@pytest.mark.parametrize("name", PATTERNS)
def test_batch_of_mixed_segments_matches_talib(name):
    """Segments of every length around the lookback, NaN-led, textbook and real: no leaks."""
    zoo = candle_zoo(3_000, seed=9)
    segments = [{f: v[a:b] for f, v in zoo.items()} for a, b in [(0, 1), (1, 13), (13, 28)]]
    nan_led = {f: v[28:400].copy() for f, v in zoo.items()}
    nan_led["high"][:3] = np.nan
    segments += [nan_led, {f: v[400:] for f, v in zoo.items()}, DATA["textbook"]]
    segments.append({f: v[-800:] for f, v in DATA["IBM"].items()})
    batch = {f: np.concatenate([s[f] for s in segments]) for f in PRICES}
    offsets = np.cumsum([0] + [len(s["close"]) for s in segments])
    got = indicators.compute_batch(name, batch, offsets)["integer"]
    for k, seg in enumerate(segments):
        ours, ref = got[offsets[k] : offsets[k + 1]], _talib(name, seg)
        assert np.array_equal(ours, ref), _first_difference(name, f"segment {k}", ours, ref)


def test_min_max_follow_talib_macros_with_nan():
    """TA-Lib's ``max(a, b)`` is ``a > b ? a : b``: with a NaN it returns ``b``."""
    nan = np.nan
    assert c_max_nb(nan, 1.0) == 1.0
    assert np.isnan(c_max_nb(1.0, nan))
    assert c_min_nb(nan, 1.0) == 1.0
    assert np.isnan(c_min_nb(1.0, nan))
    assert c_max_nb(2.0, 1.0) == 2.0
    assert c_min_nb(2.0, 1.0) == 1.0


def test_all_talib_patterns_registered():
    expected = {f.lower() for f in talib.get_function_groups()["Pattern Recognition"]}
    assert set(PATTERNS) == expected, f"missing: {sorted(expected - set(PATTERNS))}"
