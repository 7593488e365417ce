"""Benchmark-relative metrics against empyrical-reloaded, NaN rules and edge shapes included."""

from __future__ import annotations

import warnings

import empyrical
import numpy as np
import pytest
from empyrical.stats import _zero_dispersion_std
from empyrical.utils import nanstd

from compute import metrics
from compute.errors import ParameterError
from tests.datasets import real_daily

RTOL = 1e-10


def _real_pair(symbol: str, bench: str) -> tuple[np.ndarray, np.ndarray]:
    """Close-to-close returns of two bokeh_sampledata stocks over their common dates."""
    from bokeh_sampledata import stocks

    a, b = getattr(stocks, symbol), getattr(stocks, bench)
    common = sorted(set(a["date"]) & set(b["date"]))
    ia = {d: i for i, d in enumerate(a["date"])}
    ib = {d: i for i, d in enumerate(b["date"])}
    ca = np.array([a["close"][ia[d]] for d in common], dtype=np.float64)
    cb = np.array([b["close"][ib[d]] for d in common], dtype=np.float64)
    return ca[1:] / ca[:-1] - 1, cb[1:] / cb[:-1] - 1


def _equal_weight_benchmark() -> np.ndarray:
    """Mean daily return of AAPL, IBM, MSFT (same 3270 dates): a universe-style benchmark."""
    rets = []
    for s in ("AAPL", "IBM", "MSFT"):
        c = real_daily(s)["close"]
        rets.append(c[1:] / c[:-1] - 1)
    return np.mean(rets, axis=0)


def _holes(r: np.ndarray, seed: int) -> np.ndarray:
    r = r.copy()
    rng = np.random.default_rng(seed)
    r[rng.choice(r.shape[0], max(1, r.shape[0] // 15), replace=False)] = np.nan
    return r


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    bench = rng.normal(0.0003, 0.01, 1200)
    strat = 0.0001 + 1.3 * bench + rng.normal(0, 0.006, 1200)
    aapl = real_daily("AAPL")["close"]
    aapl_r = aapl[1:] / aapl[:-1] - 1
    return {
        "real_aapl_vs_ibm": _real_pair("AAPL", "IBM"),
        "real_goog_vs_msft": _real_pair("GOOG", "MSFT"),
        "real_fb_vs_aapl": _real_pair("FB", "AAPL"),
        "real_aapl_vs_equal_weight": (aapl_r, _equal_weight_benchmark()),
        "random": (strat, bench),
        "random_nans_in_returns": (_holes(strat, 1), bench),
        "random_nans_in_both": (_holes(strat, 2), _holes(bench, 3)),
        "random_short": (strat[:5], bench[:5]),
        "negative_beta": (-0.8 * bench + rng.normal(0, 0.004, 1200), bench),
        "two": (strat[:2], bench[:2]),
        "single": (strat[:1], bench[:1]),
        "empty": (np.array([]), np.array([])),
        "all_nan": (np.full(6, np.nan), bench[:6]),
        "identical": (bench[:300], bench[:300].copy()),
        "constant_active": (bench[:300] + 0.001, bench[:300].copy()),
        "flat_benchmark": (strat[:100], np.zeros(100)),
        "benchmark_only_up": (strat[:50], np.abs(bench[:50]) + 1e-4),
        "benchmark_only_down": (strat[:50], -np.abs(bench[:50]) - 1e-4),
        "wiped_out": (np.array([0.05, -1.0, 0.1, 0.02, -0.03]), bench[:5]),
        "one_pair_rest_nan": (np.array([np.nan, 0.01, 0.02]), np.array([0.01, 0.015, np.nan])),
    }


CASES = _cases()
PERIODS = [{}, {"period": "weekly"}, {"period": "monthly"}, {"annualization": 365}]


def _empyrical(fn, *args, **kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.atleast_1d(np.asarray(fn(*(a.copy() for a in args), **kwargs), dtype=float))


def assert_same(got, expected, label: str) -> None:
    got = np.atleast_1d(np.asarray(got, dtype=float))
    assert got.shape == expected.shape, label
    for g, e in zip(got, expected, strict=True):
        if np.isnan(e):
            assert np.isnan(g), f"{label}: got {g!r}, empyrical NaN"
        elif np.isinf(e):
            assert g == e, f"{label}: got {g!r}, empyrical {e!r}"
        else:
            assert abs(g - e) <= RTOL * abs(e), f"{label}: got {g!r}, empyrical {e!r}"


@pytest.mark.parametrize("case", list(CASES))
def test_alpha_beta_matches_empyrical(case):
    r, f = CASES[case]
    for params in PERIODS:
        for rf in (0.0, 0.0001, -0.0002):
            assert_same(
                metrics.alpha_beta(r, f, risk_free=rf, **params),
                _empyrical(empyrical.alpha_beta, r, f, risk_free=rf, **params),
                f"alpha_beta({case}, rf={rf}, {params})",
            )


@pytest.mark.parametrize("case", list(CASES))
def test_excess_sharpe_and_tracking_error_match_empyrical(case):
    r, f = CASES[case]
    assert_same(
        metrics.excess_sharpe(r, f),
        _empyrical(empyrical.excess_sharpe, r, f),
        f"excess_sharpe({case})",
    )
    # empyrical-reloaded has no public tracking error: it is excess_sharpe's denominator
    if r.shape[0] < 2:
        expected = np.array([np.nan])
    else:
        active = r - f
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.atleast_1d(_zero_dispersion_std(active, nanstd(active, ddof=1)))
    assert_same(metrics.tracking_error(r, f), expected, f"tracking_error({case})")


@pytest.mark.parametrize("case", list(CASES))
def test_capture_matches_empyrical(case):
    r, f = CASES[case]
    # empyrical's capture takes ``period`` only; ``annualization`` is checked via its value
    for params, ours in (
        ({}, {}),
        ({"period": "weekly"}, {"period": "weekly"}),
        ({"period": "monthly"}, {"annualization": 12}),
    ):
        assert_same(
            metrics.up_capture(r, f, **ours),
            _empyrical(empyrical.up_capture, r, f, **params),
            f"up_capture({case}, {params})",
        )
        assert_same(
            metrics.down_capture(r, f, **ours),
            _empyrical(empyrical.down_capture, r, f, **params),
            f"down_capture({case}, {params})",
        )


def test_documented_edge_values():
    r, f = CASES["random"]
    assert metrics.alpha_beta(r[:1], f[:1]) == pytest.approx((np.nan, np.nan), nan_ok=True)
    assert np.isnan(metrics.alpha_beta(r, np.zeros_like(f))[1])  # flat benchmark: no beta
    assert metrics.alpha_beta(2 * f, f)[1] == pytest.approx(2.0)
    assert metrics.tracking_error(f, f) == 0.0
    assert np.isnan(metrics.excess_sharpe(f, f))
    dyadic = np.array([0.5, 0.25, -0.125, 0.0625])  # + 0.125 is exact: constant active return
    assert metrics.excess_sharpe(dyadic + 0.125, dyadic) == np.inf
    assert metrics.up_capture(f, f) == pytest.approx(1.0)
    assert np.isnan(metrics.down_capture(r[:10], np.abs(f[:10])))  # the benchmark never fell


@pytest.mark.parametrize("case", ["random", "random_nans_in_both", "real_aapl_vs_ibm"])
def test_relative_metrics_returns_every_metric(case):
    r, f = CASES[case]
    got = metrics.relative_metrics(r, f, risk_free=0.0001, annualization=252)
    assert tuple(got) == metrics.RELATIVE_METRICS
    alpha, beta = metrics.alpha_beta(r, f, risk_free=0.0001)
    assert got["alpha"] == alpha
    assert got["beta"] == beta
    assert got["tracking_error"] == metrics.tracking_error(r, f)
    assert got["excess_sharpe"] == metrics.excess_sharpe(r, f)
    assert got["up_capture"] == metrics.up_capture(r, f)
    assert got["down_capture"] == metrics.down_capture(r, f)


def test_relative_metrics_batch_equals_per_segment_empyrical():
    rng = np.random.default_rng(3)
    lengths = [400, 1, 0, 2, 250]
    equity, bench = [], []
    for n in lengths:
        b = 100 * np.cumprod(1 + rng.normal(0.0004, 0.01, n))
        e = 50 * np.cumprod(1 + rng.normal(0.0002, 0.015, n))
        equity.append(e)
        bench.append(b)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    got = metrics.relative_metrics_batch(
        np.concatenate(equity), np.concatenate(bench), offsets, annualization=252
    )
    assert set(got) == set(metrics.RELATIVE_METRICS)
    for s, (e, b) in enumerate(zip(equity, bench, strict=True)):
        r = e[1:] / e[:-1] - 1
        f = b[1:] / b[:-1] - 1
        ab = _empyrical(empyrical.alpha_beta, r, f)
        assert_same(got["alpha"][s], ab[:1], f"alpha segment {s}")
        assert_same(got["beta"][s], ab[1:], f"beta segment {s}")
        assert_same(got["excess_sharpe"][s], _empyrical(empyrical.excess_sharpe, r, f), f"es {s}")
        assert_same(got["up_capture"][s], _empyrical(empyrical.up_capture, r, f), f"up {s}")
        assert_same(got["down_capture"][s], _empyrical(empyrical.down_capture, r, f), f"down {s}")


def test_misaligned_inputs_are_refused_with_both_lengths():
    with pytest.raises(ParameterError, match="equal length, got 3 and 2"):
        metrics.alpha_beta(np.zeros(3), np.zeros(2))
    with pytest.raises(ParameterError, match="period = 'hourly'"):
        metrics.up_capture(np.zeros(3), np.zeros(3), period="hourly")
    with pytest.raises(ParameterError, match="offsets"):
        metrics.relative_metrics_batch(np.ones(3), np.ones(3), [0, 2])
