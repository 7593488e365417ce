"""Derived columns against their formula on TA-Lib: bb_position from talib.BBANDS."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from talib import abstract

from compute import indicators
from compute.errors import ParameterError
from tests.datasets import shape_cases

CASES = shape_cases()
RTOL = 1e-9
# The position is dimensionless and of order 1, so near 0 (close on the lower band) only an
# absolute bound means anything; 1e-9 also covers TA-Lib's own variance, which it guarantees
# to ~2e-10 relative, not to the last bit (the first run failed at 3e-12 with atol 1e-12).
ATOL = 1e-9
PARAM_SETS = [
    {},
    {"timeperiod": 5, "nbdevup": 1.0, "nbdevdn": 1.0, "matype": 0},
    {"timeperiod": 20, "nbdevup": 2.5, "nbdevdn": 1.5, "matype": 1},
    {"timeperiod": 14, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 2},
    {"timeperiod": 40, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 7},
]


def bb_position_reference(close: np.ndarray, **params) -> np.ndarray:
    """The bot's column on TA-Lib's bands: NaN where the bands are NaN or meet."""
    upper, _, lower = talib.BBANDS(close, **params)
    width = upper - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(width != 0.0, (close - lower) / width, np.nan)


@pytest.mark.parametrize("params", PARAM_SETS, ids=lambda p: str(p) or "defaults")
def test_bb_position_matches_formula_on_talib_bbands(params):
    for case, bars in CASES.items():
        got = indicators.compute_derived("bb_position", bars, **params)["real"]
        expected = bb_position_reference(bars["close"], **params)
        assert np.array_equal(np.isnan(got), np.isnan(expected)), f"{case}: NaN pattern differs"
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=RTOL, atol=ATOL, err_msg=case)


def test_bb_position_is_nan_where_the_bands_meet():
    got = indicators.compute_derived("bb_position", CASES["constant"])["real"]
    assert np.all(np.isnan(got))


def test_bb_position_is_not_a_talib_name():
    assert "bb_position" in indicators.derived_names()
    assert "bb_position" not in indicators.names()


@pytest.mark.parametrize("params", PARAM_SETS, ids=lambda p: str(p) or "defaults")
def test_bb_position_lookback_is_bbands_and_first_value(params):
    fn = abstract.Function("BBANDS")
    fn.set_parameters(params)
    lb = indicators.derived_lookback("bb_position", **params)
    assert lb == fn.lookback
    got = indicators.compute_derived("bb_position", CASES["real_aapl"], **params)["real"]
    assert np.all(np.isnan(got[:lb]))
    assert not np.isnan(got[lb])


def test_bb_position_batch_equals_per_symbol():
    parts = [
        CASES["real_ibm_tail"]["close"][:90],
        CASES["short_12"]["close"],
        np.array([]),
        CASES["synthetic_rough"]["close"][:300],
    ]
    offsets = np.concatenate([[0], np.cumsum([p.shape[0] for p in parts])])
    got = indicators.compute_derived(
        "bb_position", {"close": np.concatenate(parts)}, offsets, timeperiod=10
    )["real"]
    for i, part in enumerate(parts):
        one = indicators.compute_derived("bb_position", {"close": part}, timeperiod=10)["real"]
        assert np.array_equal(got[offsets[i] : offsets[i + 1]], one, equal_nan=True), f"segment {i}"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"nbdevdn": -2.0},
            r"bb_position: parameter 'nbdevdn' = -2.0 is out of range; valid range is \[0.0, 3e\+37\]",
        ),
        ({"timeperiod": 1}, r"bb_position: parameter 'timeperiod' = 1 is out of range"),
        (
            {"matype": 9},
            r"bb_position: parameter 'matype' = 9 is out of range; valid range is \[0, 8\]",
        ),
        ({"period": 5}, r"bb_position: unknown parameter 'period'"),
    ],
)
def test_bad_parameters_are_refused_with_name_value_and_range(params, message):
    with pytest.raises(ParameterError, match=message):
        indicators.compute_derived("bb_position", CASES["short_12"], **params)


def test_unknown_derived_column_lists_available():
    with pytest.raises(
        ParameterError, match=r"unknown derived column 'bb_pos'; available: bb_position"
    ):
        indicators.compute_derived("bb_pos", CASES["short_12"])
