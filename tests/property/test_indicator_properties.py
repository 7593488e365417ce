"""Properties every registered indicator keeps, generated from the registry.

- causality: appending bars never changes earlier outputs;
- warm-up: the first value appears exactly at ``lookback`` on a long enough series;
- batching: ``compute_batch`` over concatenated symbols equals ``compute`` per symbol.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compute import indicators
from tests.datasets import from_close

NAMES = indicators.names()
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _bars(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    bars = from_close(close, seed)
    bars["periods"] = (2 + rng.integers(0, 30, n)).astype(np.float64)
    return bars


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


@pytest.mark.parametrize("name", NAMES)
@PROPERTY_SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), cut=st.integers(0, 400))
def test_future_bars_never_change_the_past(name, seed, n, cut):
    bars = _bars(seed, n)
    cut = min(cut, n)
    full = indicators.compute(name, bars)
    head = indicators.compute(name, {k: v[:cut] for k, v in bars.items()})
    for out in full:
        assert _same(full[out][:cut], head[out]), f"{name}.{out}: output before {cut} changed"


@pytest.mark.parametrize("name", NAMES)
def test_first_value_at_lookback(name):
    ind = indicators.spec(name)
    bars = _bars(7, 600)
    for params in [{}, *ind.examples]:
        lb = indicators.lookback(name, **params)
        if lb >= 600:
            continue
        out = indicators.compute(name, bars, **params)
        for key, values in out.items():
            if ind.is_integer_output(key):
                assert not np.any(values[:lb]), f"{name}.{key} {params}: nonzero before lookback"
            else:
                assert np.all(np.isnan(values[:lb])), f"{name}.{key} {params}: value before {lb}"
                assert not np.isnan(values[lb]), f"{name}.{key} {params}: NaN at lookback {lb}"


@pytest.mark.parametrize("name", NAMES)
@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 10_000),
    lengths=st.lists(st.integers(0, 120), min_size=1, max_size=6),
)
def test_batch_equals_per_symbol(name, seed, lengths):
    parts = [_bars(seed + i, n) for i, n in enumerate(lengths)]
    batch = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    got = indicators.compute_batch(name, batch, offsets)
    for i, part in enumerate(parts):
        one = indicators.compute(name, part)
        a, b = offsets[i], offsets[i + 1]
        for out in one:
            assert _same(got[out][a:b], one[out]), f"{name}.{out}: segment {i} differs"
