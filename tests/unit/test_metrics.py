"""Metrics against empyrical and plain-Python references of their definitions."""

from __future__ import annotations

import warnings

import empyrical
import numpy as np
import pytest

from compute import metrics
from compute.backtest import EXIT_REASONS, simulate_batch
from compute.errors import ParameterError
from tests.datasets import from_close, real_daily

RTOL = 1e-10
EMPYRICAL = (
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "annual_return",
    "calmar_ratio",
    "annual_volatility",
)
OPEN = EXIT_REASONS.index("open")


def _real(symbol: str) -> np.ndarray:
    close = real_daily(symbol)["close"]
    return close[1:] / close[:-1] - 1


def _with_nans(r: np.ndarray, seed: int) -> np.ndarray:
    r = r.copy()
    rng = np.random.default_rng(seed)
    r[rng.choice(r.shape[0], max(1, r.shape[0] // 20), replace=False)] = np.nan
    return r


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    random = rng.normal(0.0004, 0.012, 1500)
    cases = {
        "real_aapl": _real("AAPL"),
        "real_ibm": _real("IBM"),
        "real_msft_nans": _with_nans(_real("MSFT"), 1),
        "random": random,
        "random_nans": _with_nans(random, 2),
        "random_short": rng.normal(0.001, 0.02, 7),
        "losing": rng.normal(-0.002, 0.01, 300),
        "all_zero": np.zeros(50),
        "constant": np.full(30, 0.001),
        "negative_constant": np.full(30, -0.001),
        "single": np.array([0.015]),
        "single_loss": np.array([-0.015]),
        "empty": np.array([], dtype=np.float64),
        "all_nan": np.full(5, np.nan),
        "one_value_rest_nan": np.array([np.nan, 0.02, np.nan]),
        "wiped_out": np.array([0.05, -1.0, 0.1, 0.02]),
    }
    return cases


CASES = _cases()
PARAMS = [
    {},
    {"period": "weekly"},
    {"period": "monthly"},
    {"annualization": 365},
    {"annualization": 252 * 390},
]


def _expected(name: str, r: np.ndarray, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(getattr(empyrical, name)(r.copy(), **params))


def assert_same(got: float, expected: float, label: str) -> None:
    if np.isnan(expected):
        assert np.isnan(got), f"{label}: got {got!r}, empyrical NaN"
    elif np.isinf(expected):
        assert got == expected, f"{label}: got {got!r}, empyrical {expected!r}"
    else:
        assert abs(got - expected) <= RTOL * abs(expected), (
            f"{label}: got {got!r}, empyrical {expected!r}"
        )


@pytest.mark.parametrize("name", EMPYRICAL)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_empyrical(name, case):
    r = CASES[case]
    for params in PARAMS:
        if name == "max_drawdown":
            params = {}
        assert_same(
            getattr(metrics, name)(r, **params),
            _expected(name, r, **params),
            f"{name}({case}, {params})",
        )


@pytest.mark.parametrize("case", list(CASES))
def test_risk_free_and_required_return_match_empyrical(case):
    r = CASES[case]
    for rate in (0.0001, -0.0002, 0.05):
        assert_same(
            metrics.sharpe_ratio(r, risk_free=rate),
            _expected("sharpe_ratio", r, risk_free=rate),
            f"sharpe_ratio({case}, risk_free={rate})",
        )
        assert_same(
            metrics.sortino_ratio(r, required_return=rate),
            _expected("sortino_ratio", r, required_return=rate),
            f"sortino_ratio({case}, required_return={rate})",
        )


@pytest.mark.parametrize("case", list(CASES))
def test_total_return_and_alpha_match_empyrical(case):
    r = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = float(empyrical.cum_returns_final(r.copy()))
    assert_same(metrics.total_return(r), expected, f"total_return({case})")
    assert_same(
        metrics.annual_volatility(r, alpha=3.0),
        _expected("annual_volatility", r, alpha=3.0),
        f"annual_volatility({case}, alpha=3)",
    )


def test_documented_edge_values():
    assert np.isnan(metrics.sharpe_ratio(np.zeros(10)))
    assert metrics.sharpe_ratio(np.full(10, 0.01)) == np.inf
    assert np.isnan(metrics.sharpe_ratio(np.array([0.01])))
    assert metrics.max_drawdown(np.zeros(10)) == 0.0
    assert np.isnan(metrics.max_drawdown(np.array([])))
    assert np.isnan(metrics.calmar_ratio(np.full(10, 0.01)))
    assert metrics.annual_return(np.array([0.01]), annualization=1) == pytest.approx(0.01)


def _drawdown_reference(r: np.ndarray) -> tuple[float, int, int]:
    values = [1.0]
    for x in r:
        values.append(values[-1] * (1 + (0.0 if np.isnan(x) else x)))
    worst, peak_at, best_peak, trough = 0.0, 0, 0, 0
    for i, v in enumerate(values):
        if v > values[peak_at]:
            peak_at = i
        dd = v / values[peak_at] - 1
        if dd < worst:
            worst, best_peak, trough = dd, peak_at, i
    return worst, best_peak, trough


@pytest.mark.parametrize("case", [c for c in CASES if c != "empty"])
def test_max_drawdown_period_matches_a_plain_reference(case):
    r = CASES[case]
    worst, peak, trough = _drawdown_reference(r)
    assert metrics.max_drawdown_period(r) == (peak, trough)
    assert metrics.max_drawdown(r) == pytest.approx(worst, rel=1e-9, abs=1e-15)


def test_max_drawdown_period_on_a_known_curve():
    equity = np.array([100.0, 110, 105, 120, 90, 95, 130, 100])
    r = metrics.returns_from_equity(equity)
    assert metrics.max_drawdown_period(r) == (3, 4)
    assert metrics.max_drawdown(r) == pytest.approx(90 / 120 - 1)
    assert metrics.max_drawdown_period(np.array([])) == (-1, -1)
    assert metrics.max_drawdown_period(np.array([0.01, 0.02])) == (0, 0)


def test_kelly_fraction_is_the_bots_capped_formula():
    r = np.array([0.06, -0.05, 0.04, np.nan, -0.01, 0.0])
    p = 2 / 5
    avg_win, avg_loss = 0.05, 0.03
    assert metrics.kelly_fraction(r) == pytest.approx(p - (1 - p) / (avg_win / avg_loss))
    assert metrics.kelly_fraction(np.array([0.3, -0.01])) == 0.25
    assert metrics.kelly_fraction(np.array([0.01, -0.3])) == 0.0
    assert metrics.kelly_fraction(np.array([0.01, 0.02])) == 0.0
    assert metrics.kelly_fraction(np.array([])) == 0.0


def _trades(net, ret, qty=None, entry=None, exit_=None, reason=None):
    n = len(net)
    return {
        "net_pnl": np.asarray(net, dtype=float),
        "return_pct": np.asarray(ret, dtype=float),
        "quantity": np.ones(n) if qty is None else np.asarray(qty, dtype=float),
        "entry_index": np.zeros(n, np.int64) if entry is None else np.asarray(entry),
        "exit_index": np.ones(n, np.int64) if exit_ is None else np.asarray(exit_),
        "exit_reason": np.zeros(n, np.int8) if reason is None else np.asarray(reason, np.int8),
    }


def test_trade_stats_on_hand_computed_trades():
    t = _trades(
        net=[100.0, -50.0, 30.0, -20.0, 500.0],
        ret=[0.1, -0.05, 0.03, -0.02, 0.5],
        qty=[1, 1, 0, 1, 1],
        entry=[1, 5, 10, 12, 20],
        exit_=[4, 8, 11, 15, 29],
        reason=[0, 1, 0, 2, OPEN],
    )
    s = metrics.trade_stats(t, n_bars=30)
    assert s["n_trades"] == 4
    assert s["win_rate"] == 0.5
    assert s["profit_factor"] == pytest.approx(130 / 70)
    assert s["expectancy"] == pytest.approx(60 / 4)
    assert s["avg_trade_return"] == pytest.approx(0.06 / 4)
    assert s["best_trade_return"] == 0.1
    assert s["worst_trade_return"] == -0.05
    # closes held: 3 + 3 + (zero quantity: none) + 3 + open trade 20..29 = 10
    assert s["exposure"] == pytest.approx(19 / 30)
    assert s["kelly_fraction"] == pytest.approx(0.5 - 0.5 / (0.065 / 0.035))
    with_open = metrics.trade_stats(t, n_bars=30, include_open=True)
    assert with_open["n_trades"] == 5
    assert with_open["best_trade_return"] == 0.5


def test_trade_stats_edge_cases():
    none = metrics.trade_stats(_trades([], []), n_bars=10)
    assert none["n_trades"] == 0
    assert none["exposure"] == 0.0
    assert none["kelly_fraction"] == 0.0
    for key in ("win_rate", "profit_factor", "expectancy", "avg_trade_return"):
        assert np.isnan(none[key]), key
    assert metrics.trade_stats(_trades([5.0, 1.0], [0.05, 0.01]))["profit_factor"] == np.inf
    assert metrics.trade_stats(_trades([-5.0], [-0.05]))["profit_factor"] == 0.0
    assert np.isnan(metrics.trade_stats(_trades([0.0], [0.0]))["profit_factor"])
    assert np.isnan(metrics.trade_stats(_trades([1.0], [0.1]))["exposure"])


def _batch(seed: int, lengths: list[int]):
    rng = np.random.default_rng(seed)
    parts = []
    for n in lengths:
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
        bars = from_close(close, seed)
        target = np.repeat(rng.choice([-1.0, 0.0, 1.0, np.nan], n), 4)[:n]
        parts.append((bars, target))
    cat = {f: np.concatenate([p[0][f] for p in parts]) for f in ("open", "high", "low", "close")}
    target = np.concatenate([p[1] for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    result = simulate_batch(
        cat["open"],
        cat["high"],
        cat["low"],
        cat["close"],
        target,
        offsets,
        direction="long_short",
        fees_bps=5,
        stop_loss=0.05,
    )
    return result, offsets


def test_metrics_batch_equals_per_segment_functions():
    lengths = [400, 0, 1, 2, 60, 900]
    result, offsets = _batch(3, lengths)
    got = metrics.metrics_batch(result.equity, offsets, result.trades, annualization=252)
    assert list(got) == [*metrics.RETURN_METRICS, *metrics.TRADE_STATS, "n_bars"]
    for s in range(len(lengths)):
        eq = result.equity[offsets[s] : offsets[s + 1]]
        r = empyrical.simple_returns(eq)
        for name in EMPYRICAL:
            assert_same(got[name][s], _expected(name, r), f"{name}[segment {s}]")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            total = float(empyrical.cum_returns_final(r))
        assert_same(got["total_return"][s], total, f"total_return[segment {s}]")
        peak, trough = metrics.max_drawdown_period(r) if len(r) else (-1, -1)
        assert (got["max_drawdown_peak"][s], got["max_drawdown_trough"][s]) == (peak, trough)
        mask = result.trades["segment"] == s
        stats = metrics.trade_stats({k: v[mask] for k, v in result.trades.items()}, len(eq))
        for name in metrics.TRADE_STATS:
            np.testing.assert_allclose(got[name][s], stats[name], rtol=1e-12, err_msg=name)
    assert got["n_trades"].dtype == np.int64
    assert got["max_drawdown_peak"].dtype == np.int64
    assert got["n_bars"].tolist() == lengths


def test_metrics_batch_exposure_counts_bars_in_a_position():
    result, offsets = _batch(5, [300])
    got = metrics.metrics_batch(result.equity, offsets, result.trades)
    t = result.trades
    in_position = np.zeros(300, bool)
    for e, x, reason in zip(t["entry_index"], t["exit_index"], t["exit_reason"], strict=True):
        in_position[e : x + (1 if reason == OPEN else 0)] = True
    assert got["exposure"][0] == pytest.approx(in_position.mean())


def test_metrics_batch_accepts_trades_in_any_order():
    result, offsets = _batch(7, [200, 300])
    order = np.random.default_rng(0).permutation(result.trades["segment"].shape[0])
    shuffled = {k: v[order] for k, v in result.trades.items()}
    a = metrics.metrics_batch(result.equity, offsets, result.trades)
    b = metrics.metrics_batch(result.equity, offsets, shuffled)
    for name in metrics.TRADE_STATS:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)


def test_bad_arguments_are_refused():
    r = np.array([0.01, 0.02])
    with pytest.raises(ParameterError, match=r"period = 'hourly' is not valid; choices: daily"):
        metrics.sharpe_ratio(r, period="hourly")
    with pytest.raises(ParameterError, match=r"annualization = 0 is out of range"):
        metrics.sharpe_ratio(r, annualization=0)
    with pytest.raises(ParameterError, match=r"risk_free must be a finite number, got nan"):
        metrics.sharpe_ratio(r, risk_free=float("nan"))
    with pytest.raises(ParameterError, match=r"returns must be 1-D"):
        metrics.max_drawdown(np.zeros((2, 2)))
    with pytest.raises(ParameterError, match="offsets must be 1-D, start at 0 and end at"):
        metrics.metrics_batch(np.ones(3), [0, 2], {**_trades([], []), "segment": np.array([])})
    with pytest.raises(ParameterError, match=r"trades: missing column 'segment'"):
        metrics.metrics_batch(np.ones(3), [0, 3], _trades([], []))
    bad = {**_trades([1.0], [0.1]), "segment": np.array([1])}
    with pytest.raises(ParameterError, match=r"segment values must lie in \[0, 0\]"):
        metrics.metrics_batch(np.ones(3), [0, 3], bad)
