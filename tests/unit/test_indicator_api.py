"""The registry's public API: errors that name the indicator, parameter, value and range."""

import numpy as np
import pytest

from compute import indicators
from compute.errors import ParameterError

CLOSE = np.linspace(10, 20, 50)


def test_period_zero_names_indicator_parameter_value_and_range():
    with pytest.raises(ParameterError, match=r"sma: parameter 'timeperiod' = 0 .*\[2, 100000\]"):
        indicators.compute("sma", {"close": CLOSE}, timeperiod=0)


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ParameterError, match=r"ema: unknown parameter 'period'.*timeperiod"):
        indicators.compute("ema", {"close": CLOSE}, period=3)


def test_unknown_indicator_lists_available():
    with pytest.raises(ParameterError, match=r"unknown indicator 'smaa'; available: .*sma"):
        indicators.compute("smaa", {"close": CLOSE})


def test_missing_input_is_named():
    with pytest.raises(ParameterError, match=r"sma: missing input 'close'"):
        indicators.compute("sma", {"open": CLOSE})


def test_non_integer_period_is_refused():
    with pytest.raises(ParameterError, match=r"must be an integer, got 2.5"):
        indicators.compute("sma", {"close": CLOSE}, timeperiod=2.5)


def test_bad_offsets_are_refused():
    with pytest.raises(ParameterError, match="offsets must be 1-D, start at 0 and end at"):
        indicators.compute_batch("sma", {"close": CLOSE}, [0, 10], timeperiod=3)


def test_names_are_sorted_lower_case():
    got = indicators.names()
    assert got == sorted(got)
    assert all(n == n.lower() for n in got)
    assert {"sma", "ema"} <= set(got)
