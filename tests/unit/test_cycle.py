"""Hilbert-transform family beyond the generic parity tests: bit-for-bit equality with TA-Lib.

These functions carry state from the first bar on, so an error in one rounding would persist;
the generic 1e-9 comparison could hide a wrong ``fma`` placement, equality to the bit cannot.
"""

from __future__ import annotations

import numpy as np
import pytest
from talib import abstract

from compute import indicators
from compute.kernels.cycle import mama_into_nb, mama_lookback
from tests.datasets import from_close, real_daily

HILBERT = ("ht_dcperiod", "ht_dcphase", "ht_phasor", "ht_sine", "ht_trendmode", "ht_trendline")


def _random_walk(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return from_close(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), seed)


def _assert_bitwise(name: str, bars: dict[str, np.ndarray], **params: float) -> None:
    ref = abstract.Function(name.upper())(bars, **params)
    ref = ref if isinstance(ref, list) else [ref]
    ours = indicators.compute(name, bars, **params)
    for (out, got), expected in zip(ours.items(), ref, strict=True):
        assert got.dtype == expected.dtype, f"{name}.{out}: dtype {got.dtype} != {expected.dtype}"
        same = (got == expected) | (np.isnan(got.astype(float)) & np.isnan(expected.astype(float)))
        if not same.all():
            i = int(np.argmin(same))
            pytest.fail(
                f"{name}.{out}: differs first at {i}: ours {got[i]!r}, TA-Lib {expected[i]!r}"
            )


@pytest.mark.parametrize("name", [*HILBERT, "mama"])
def test_bit_exact_over_20000_bars(name):
    _assert_bitwise(name, _random_walk(20_000, 11))


@pytest.mark.parametrize(
    "params", [{"fastlimit": 0.3, "slowlimit": 0.1}, {"fastlimit": 0.05, "slowlimit": 0.5}]
)
def test_mama_bit_exact_with_other_limits(params):
    _assert_bitwise("mama", _random_walk(5_000, 12), **params)


@pytest.mark.parametrize("name", [*HILBERT, "mama"])
def test_leading_nans_are_skipped_like_talib(name):
    bars = {k: np.concatenate([np.full(7, np.nan), v[:400]]) for k, v in real_daily().items()}
    _assert_bitwise(name, bars)


def test_mama_building_block_writes_only_after_warm_up():
    close = real_daily()["close"][:300]
    mama = np.full(close.shape[0], np.nan)
    fama = np.full(close.shape[0], np.nan)
    mama_into_nb(close, mama, fama, 0.5, 0.05)
    ref = abstract.Function("MAMA")({"close": close})
    assert mama_lookback() == abstract.Function("MAMA").lookback
    np.testing.assert_array_equal(mama, ref[0])
    np.testing.assert_array_equal(fama, ref[1])
