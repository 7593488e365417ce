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


WRITES_ALL = [n for n in indicators.names() if getattr(indicators.spec(n).kernel, "writes_all", 0)]


@pytest.mark.parametrize("name", WRITES_ALL)
def test_writes_all_kernels_write_every_element(name):
    """The driver skips the NaN fill of a ``writes_all`` kernel's outputs: whatever the
    outputs (and its scratch arrays) held before, the kernel leaves the same values, none of
    the old ones."""
    ind = indicators.spec(name)
    rng = np.random.default_rng(5)
    for n in (0, 1, 3, 60):
        low = 10 + rng.random(n)
        bars = {"open": low + 0.5, "high": low + 1, "low": low, "close": low + 0.3}
        bars["periods"] = 2.0 + np.arange(n) % 7
        bars["volume"] = 1000 * low
        for params in [{}, *ind.examples]:
            values = list(ind.resolve(params).values())
            runs = []
            for old in (123.0, -7.0):
                outs = [np.full(n, old) for _ in ind.outputs]
                scratch = [np.full(n, old) for _ in range(ind.scratch)]
                args = (*outs, *scratch, *values, *ind.kernel_args)
                ind.kernel(*(bars[k] for k in ind.inputs), *args)
                assert not any((o == old).any() for o in outs), (name, n, params, old)
                runs.append(outs)
            for a, b in zip(*runs, strict=True):
                np.testing.assert_array_equal(a, b)
