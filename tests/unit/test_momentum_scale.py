"""Momentum indicators on prices scaled far below and above 1, against TA-Lib.

TA-Lib 0.8 tests most zero denominators exactly (BOP's range, CMO's gain + loss, ULTOSC's
true-range sums, ...) where 0.4 used a fixed 1e-14 band; on daily prices the two agree, so the
parity suite cannot tell them apart. Scaling every price by 1e-15 puts ordinary ranges inside
that band, and scaling by 1e9 checks nothing depends on the price level.
"""

from __future__ import annotations

import pytest

from compute import indicators
from tests.datasets import shape_cases
from tests.unit.test_indicator_parity import _ours, _talib, assert_matches_talib

MOMENTUM = sorted(
    name for name in indicators.names() if indicators.spec(name).group == "Momentum Indicators"
)
SCALES = (1e-15, 1e9)


def _scaled(scale: float) -> dict[str, dict]:
    cases = shape_cases()
    return {
        f"{case}*{scale:g}": {f: v * scale if f != "volume" else v for f, v in bars.items()}
        for case, bars in cases.items()
        if case in ("real_aapl", "synthetic_rough")
    }


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", MOMENTUM)
def test_momentum_matches_talib_at_any_price_scale(name, scale):
    for case, bars in _scaled(scale).items():
        assert_matches_talib(name, case, _ours(name, bars, {}), _talib(name, bars, {}))
