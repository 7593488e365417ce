"""Performance metrics with empyrical's names, signatures and definitions, plus trade stats.

Return metrics take a 1-D array of simple (noncumulative) returns and equal
``empyrical``'s functions of the same name, NaN rules included (NaN returns are skipped by
means and deviations and count as 0 in compounding; too-short inputs give NaN). Trade
statistics read the trades dict of ``compute.backtest``. ``metrics_batch`` computes all of
them per segment of a batch of equity curves in two kernel calls
(``compute.kernels.metrics``).

Benchmark-relative metrics (``alpha_beta``, ``excess_sharpe``, ``tracking_error``,
``up_capture``, ``down_capture``; kernels in ``compute.kernels.relative``) take the
strategy's and the benchmark's returns as two aligned arrays of equal length and equal
empyrical's functions of the same name. ``excess_sharpe`` is empyrical's information ratio
(mean active return over tracking error, per period); ``tracking_error`` is its denominator.

A run's benchmark for every sleeve is a ``BenchmarkSeries`` (a value per timestamp):
``symbol_benchmark`` (one symbol's close) or ``equal_weight_benchmark``, the universe's
equal-weight buy-and-hold rebalanced every bar, merged from each batch's ``return_sums``
(per timestamp: the sum and count of its symbols' bar-to-bar returns) so no process ever
holds more than one batch and one value per timestamp of the calendar.

Returns of an equity curve are its bar-to-bar simple returns, one fewer than bars
(``empyrical.simple_returns``): the first bar starts the curve (the backtest is flat at
the first close, so its return would always be 0) and is the first drawdown peak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute.errors import ParameterError
from compute.kernels import metrics as k
from compute.kernels import relative as kr
from compute.segments import check_offsets

ANNUALIZATION_FACTORS = {"daily": 252, "weekly": 52, "monthly": 12, "quarterly": 4, "yearly": 1}
RETURN_METRICS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "max_drawdown_peak",
    "max_drawdown_trough",
    "calmar_ratio",
)
TRADE_STATS = k.TRADE_STATS
RELATIVE_METRICS = kr.RELATIVE_METRICS
_TRADE_INPUTS = ("net_pnl", "return_pct", "quantity", "entry_index", "exit_index", "exit_reason")

__all__ = [
    "ANNUALIZATION_FACTORS",
    "BenchmarkSeries",
    "equal_weight_benchmark",
    "return_sums",
    "symbol_benchmark",
    "RELATIVE_METRICS",
    "RETURN_METRICS",
    "TRADE_STATS",
    "alpha_beta",
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "down_capture",
    "excess_sharpe",
    "kelly_fraction",
    "max_drawdown",
    "max_drawdown_period",
    "metrics_batch",
    "relative_metrics",
    "relative_metrics_batch",
    "returns_from_equity",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "tracking_error",
    "trade_stats",
    "up_capture",
]


def sharpe_ratio(
    returns: Any, risk_free: float = 0, period: str = "daily", annualization: float | None = None
) -> float:
    """Annualised Sharpe ratio: mean / std (ddof=1) of ``returns - risk_free``, NaNs skipped.

    Parameters
    ----------
    returns : array_like
        1-D simple returns per period.
    risk_free : float
        Constant risk-free return per period.
    period : {"daily", "weekly", "monthly", "quarterly", "yearly"}
        Periodicity of ``returns``; ignored when ``annualization`` is given.
    annualization : float, optional
        Periods per year, overriding ``period``.

    Returns
    -------
    float
        NaN with fewer than two returns or when the excess returns are all 0; +-inf when they
        are all equal and nonzero (as empyrical).
    """
    r = _returns(returns)
    rf = _finite("risk_free", risk_free)
    return float(k.sharpe_ratio_nb(r, rf, _factor(period, annualization)))


def sortino_ratio(
    returns: Any,
    required_return: float = 0,
    period: str = "daily",
    annualization: float | None = None,
) -> float:
    """Annualised Sortino ratio: annualised mean excess return over annualised downside risk.

    Downside risk is ``sqrt(mean(min(returns - required_return, 0) ** 2))`` over the non-NaN
    returns, times ``sqrt(annualization)``. ``required_return`` is a constant per period
    (empyrical also takes a series; not supported here). NaN with fewer than two returns.
    """
    r = _returns(returns)
    req = _finite("required_return", required_return)
    return float(k.sortino_ratio_nb(r, req, _factor(period, annualization)))


def max_drawdown(returns: Any) -> float:
    """Deepest fall from a running peak of the compounded returns, <= 0 (NaN if empty).

    The starting value counts as the first peak; NaN returns count as 0.
    """
    return float(k.max_drawdown_nb(_returns(returns))[0])


def max_drawdown_period(returns: Any) -> tuple[int, int]:
    """``(peak, trough)`` of the maximum drawdown as indices into the value series.

    Value 0 is the starting value and value i + 1 the value after return i, so for the
    returns of an equity curve they are the curve's bar indices. The trough is the first
    bar at the deepest drawdown, the peak the bar where the running maximum before it was
    first reached; ``(0, 0)`` without drawdown, ``(-1, -1)`` for empty returns.
    """
    _, peak, trough = k.max_drawdown_nb(_returns(returns))
    return int(peak), int(trough)


def annual_return(returns: Any, period: str = "daily", annualization: float | None = None) -> float:
    """Compound annual growth rate: ``prod(1 + returns) ** (annualization / len) - 1``.

    ``len`` counts NaN returns (which compound as 0), as empyrical does; NaN if empty.
    """
    r = _returns(returns)
    return float(k.annual_return_nb(r, _factor(period, annualization)))


def annual_volatility(
    returns: Any,
    period: str = "daily",
    alpha: float = 2.0,
    annualization: float | None = None,
) -> float:
    """``std(returns, ddof=1) * annualization ** (1 / alpha)``, NaNs skipped.

    ``alpha`` is the scaling exponent (2 for Gaussian scaling). NaN with fewer than two
    returns.
    """
    r = _returns(returns)
    a = _finite("alpha", alpha)
    if a <= 0:
        raise ParameterError(f"alpha = {alpha!r} is out of range; valid range is (0, inf)")
    return float(k.annual_volatility_nb(r, a, _factor(period, annualization)))


def calmar_ratio(returns: Any, period: str = "daily", annualization: float | None = None) -> float:
    """``annual_return / abs(max_drawdown)``; NaN without a drawdown or when infinite."""
    r = _returns(returns)
    return float(k.calmar_ratio_nb(r, _factor(period, annualization)))


def total_return(returns: Any) -> float:
    """Compounded return ``prod(1 + returns) - 1`` (``empyrical.cum_returns_final``).

    NaN returns count as 0; NaN if empty.
    """
    return float(k.total_return_nb(_returns(returns)))


def returns_from_equity(equity: Any) -> np.ndarray:
    """Bar-to-bar simple returns of an equity curve, one fewer than bars."""
    return k.returns_from_equity_nb(_returns(equity, "equity"))


def kelly_fraction(returns: Any) -> float:
    """The bot's capped Kelly fraction of trade returns.

    ``p`` is the share of winning returns (> 0) among the non-NaN ones, ``avg_win`` their
    mean, ``avg_loss`` the mean absolute losing return (< 0);
    ``p - (1 - p) / (avg_win / avg_loss)`` clipped to [0, 0.25], and 0 unless there are both
    wins and losses.
    """
    return float(k.kelly_fraction_nb(_returns(returns)))


def trade_stats(
    trades: Mapping[str, Any], n_bars: int | None = None, *, include_open: bool = False
) -> dict[str, float]:
    """Statistics of one series' trades (the ``trades`` of ``compute.backtest.simulate``).

    Parameters
    ----------
    trades : mapping
        At least ``net_pnl, return_pct, quantity, entry_index, exit_index, exit_reason``.
    n_bars : int, optional
        Bars in the series, for ``exposure`` (NaN without it).
    include_open : bool
        Whether a position still open at the last bar counts as a trade. By default only
        closed trades do: the open one's result is not realised yet.

    Returns
    -------
    dict
        ``n_trades``; ``win_rate`` (share with ``return_pct`` > 0); ``profit_factor`` (sum of
        positive ``net_pnl`` over the absolute sum of negative ones: inf with wins and no
        losses, 0 with losses and no wins, NaN with no trades or only break-even ones);
        ``expectancy`` (mean ``net_pnl`` per trade, in cash); ``avg_trade_return``,
        ``best_trade_return``, ``worst_trade_return`` (of ``return_pct``; NaN with no
        trades); ``exposure`` (share of bar closes spent in a position of nonzero quantity,
        the open one included); ``kelly_fraction`` (``kelly_fraction`` of the trades'
        ``return_pct``).
    """
    cols = _trade_columns(trades, None)
    n = cols[0].shape[0]
    bars = np.array([-1 if n_bars is None else _count("n_bars", n_bars)], dtype=np.int64)
    seg = np.zeros(n, dtype=np.int64)
    out = k.trade_stats_seg_nb(1, seg, *cols, bars, bool(include_open))
    stats = {name: float(out[i, 0]) for i, name in enumerate(TRADE_STATS)}
    stats["n_trades"] = int(stats["n_trades"])
    return stats


def metrics_batch(
    equity: Any,
    offsets: Any,
    trades: Mapping[str, Any],
    *,
    annualization: float = 252,
    risk_free: float = 0.0,
    required_return: float = 0.0,
    include_open: bool = False,
) -> dict[str, np.ndarray]:
    """Every metric for each segment of a batch, one value per segment.

    Parameters
    ----------
    equity : array_like
        Concatenated equity curves (``compute.backtest.simulate_batch(...).equity``).
    offsets : array_like of int
        Segment i is ``equity[offsets[i]:offsets[i+1]]``.
    trades : mapping
        The batch's trades dict, with its ``segment`` column; trades may come in any order.
    annualization : float
        Bars per year (252 for daily bars).
    risk_free, required_return : float
        Per-bar rates for the Sharpe and Sortino ratios.
    include_open : bool
        As in ``trade_stats``.

    Returns
    -------
    dict of str to ndarray
        ``RETURN_METRICS`` computed from each segment's bar-to-bar equity returns (equal to
        the empyrical function on ``returns_from_equity(segment)``; ``max_drawdown_peak`` and
        ``max_drawdown_trough`` are int64 bar indices within the segment, -1 for segments
        shorter than two bars), then ``TRADE_STATS`` as in ``trade_stats`` (``n_trades``
        int64), and ``n_bars``.
    """
    eq = _returns(equity, "equity")
    offs = check_offsets("metrics_batch", offsets, eq.shape[0], "equity length")
    n_bars = np.diff(offs)
    n_seg = offs.shape[0] - 1
    factor = _factor("daily", annualization)
    rf = _finite("risk_free", risk_free)
    req = _finite("required_return", required_return)
    cols = _trade_columns(trades, n_seg)
    seg = np.ascontiguousarray(trades["segment"], dtype=np.int64)
    ret = k.return_metrics_seg_nb(eq, offs, factor, rf, req)
    stats = k.trade_stats_seg_nb(n_seg, seg, *cols, n_bars, bool(include_open))
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(RETURN_METRICS):
        out[name] = ret[i].astype(np.int64) if name.startswith("max_drawdown_") else ret[i]
    for i, name in enumerate(TRADE_STATS):
        out[name] = stats[i].astype(np.int64) if name == "n_trades" else stats[i]
    out["n_bars"] = n_bars
    return out


def alpha_beta(
    returns: Any,
    factor_returns: Any,
    risk_free: float = 0,
    period: str = "daily",
    annualization: float | None = None,
) -> tuple[float, float]:
    """Annualised alpha and beta of ``returns`` against the benchmark's ``factor_returns``.

    Parameters
    ----------
    returns, factor_returns : array_like
        Aligned 1-D simple returns per period of the strategy and of the benchmark.
    risk_free : float
        Constant risk-free return per period (empyrical subtracts it for alpha only).
    period, annualization
        As in ``sharpe_ratio``.

    Returns
    -------
    (alpha, beta) : tuple of float
        ``beta = cov(r, f) / var(f)`` (population moments) and
        ``alpha = (1 + mean((r - rf) - beta * (f - rf))) ** annualization - 1``, over the bars
        where both returns are present. Both NaN with fewer than two returns; NaN when the
        benchmark's variance is below 1e-30.
    """
    r, f = _pair(returns, factor_returns)
    rf = _finite("risk_free", risk_free)
    alpha, beta = kr.alpha_beta_nb(r, f, rf, _factor(period, annualization))
    return float(alpha), float(beta)


def excess_sharpe(returns: Any, factor_returns: Any) -> float:
    """Information ratio as empyrical defines it: ``mean(r - f) / tracking_error(r, f)``.

    Per period, not annualised (multiply by ``sqrt(annualization)`` for the annual figure).
    NaN with fewer than two returns; +-inf when the active returns are equal and nonzero.
    """
    r, f = _pair(returns, factor_returns)
    return float(kr.excess_sharpe_nb(r, f))


def tracking_error(returns: Any, factor_returns: Any) -> float:
    """Std (ddof=1) of the active returns ``r - f``, NaNs skipped: ``excess_sharpe``'s denominator.

    Per period, not annualised. 0 when every active return is equal; NaN with fewer than two.
    """
    r, f = _pair(returns, factor_returns)
    return float(kr.tracking_error_nb(r, f))


def up_capture(
    returns: Any, factor_returns: Any, period: str = "daily", annualization: float | None = None
) -> float:
    """``annual_return(r) / annual_return(f)`` over the bars where the benchmark rose (f > 0).

    Bars where either return is NaN are skipped; NaN when the benchmark never rose.
    """
    r, f = _pair(returns, factor_returns)
    return float(kr.capture_nb(r, f, 1, _factor(period, annualization)))


def down_capture(
    returns: Any, factor_returns: Any, period: str = "daily", annualization: float | None = None
) -> float:
    """``annual_return(r) / annual_return(f)`` over the bars where the benchmark fell (f < 0).

    Bars where either return is NaN are skipped; NaN when the benchmark never fell.
    """
    r, f = _pair(returns, factor_returns)
    return float(kr.capture_nb(r, f, -1, _factor(period, annualization)))


def relative_metrics(
    returns: Any,
    factor_returns: Any,
    risk_free: float = 0,
    period: str = "daily",
    annualization: float | None = None,
) -> dict[str, float]:
    """Every ``RELATIVE_METRICS`` value of one pair of aligned return series, by name."""
    r, f = _pair(returns, factor_returns)
    offs = np.array([0, r.shape[0]], dtype=np.int64)
    out = kr.relative_metrics_seg_nb(
        r, f, offs, _finite("risk_free", risk_free), _factor(period, annualization)
    )
    return {name: float(out[i, 0]) for i, name in enumerate(RELATIVE_METRICS)}


def relative_metrics_batch(
    equity: Any,
    benchmark: Any,
    offsets: Any,
    *,
    annualization: float = 252,
    risk_free: float = 0.0,
) -> dict[str, np.ndarray]:
    """``RELATIVE_METRICS`` for each segment of a batch of equity curves against a benchmark.

    Parameters
    ----------
    equity, benchmark : array_like
        Concatenated equity curves and, bar for bar, the benchmark's value at the same
        timestamps (any scale: only its bar-to-bar returns are used).
    offsets : array_like of int
        Segment i is ``equity[offsets[i]:offsets[i+1]]``.

    Returns
    -------
    dict of str to ndarray
        One value per segment, equal to the functions above on
        ``returns_from_equity(segment)`` and the benchmark's returns over the same bars.
    """
    eq, bench = _pair(equity, benchmark, "equity", "benchmark")
    offs = check_offsets("relative_metrics_batch", offsets, eq.shape[0], "equity length")
    out = kr.relative_equity_seg_nb(
        eq, bench, offs, _finite("risk_free", risk_free), _factor("daily", annualization)
    )
    return {name: out[i] for i, name in enumerate(RELATIVE_METRICS)}


@dataclass(frozen=True)
class BenchmarkSeries:
    """A benchmark's value at each timestamp (int64 µs, sorted); only its returns matter."""

    name: str
    timestamp_us: np.ndarray
    value: np.ndarray

    def at(self, timestamp_us: Any) -> np.ndarray:
        """The value at each timestamp: the last one at or before it (a bar the benchmark
        lacks repeats its last value, a return of 0), NaN before its first."""
        ts = np.asarray(timestamp_us, dtype=np.int64)
        i = np.searchsorted(self.timestamp_us, ts, side="right") - 1
        out = self.value[np.maximum(i, 0)]
        return np.where(i >= 0, out, np.nan)


def symbol_benchmark(name: str, timestamp_us: Any, close: Any) -> BenchmarkSeries:
    """One symbol as the benchmark: its close is its value."""
    ts = np.ascontiguousarray(timestamp_us, dtype=np.int64)
    c = _returns(close, "close")
    if c.shape != ts.shape:
        raise ParameterError(f"benchmark {name!r}: {ts.shape[0]} timestamps, {c.shape[0]} closes")
    return BenchmarkSeries(name, ts, c)


def return_sums(
    timestamp_us: Any, close: Any, offsets: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct timestamp of a batch: the sum and count of its symbols' returns there.

    A symbol's return at a bar is its close over its previous bar's close, minus 1 (none at
    its first bar). Returns ``(timestamp_us, total, count)``, timestamps sorted.
    """
    c = _returns(close, "close")
    ts = np.ascontiguousarray(timestamp_us, dtype=np.int64)
    offs = check_offsets("return_sums", offsets, c.shape[0], "close length")
    has_prev = np.ones(c.shape[0], dtype=np.bool_)
    has_prev[offs[:-1][offs[:-1] < c.shape[0]]] = False
    ret = np.zeros(c.shape[0])
    ret[1:] = c[1:] / c[:-1] - 1.0
    times, where = np.unique(ts, return_inverse=True)
    total = np.bincount(where[has_prev], ret[has_prev], times.shape[0])
    count = np.bincount(where[has_prev], minlength=times.shape[0]).astype(np.int64)
    return times, total, count


def equal_weight_benchmark(
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], name: str = "equal_weight"
) -> BenchmarkSeries:
    """The universe's equal-weight buy-and-hold, rebalanced every bar, from ``return_sums``.

    Its return at a timestamp is the mean return of the symbols with a bar and a previous
    bar there (0 where none); its value starts at 1 and compounds those returns.
    """
    parts = list(parts)
    if not parts:
        return BenchmarkSeries(name, np.zeros(0, np.int64), np.zeros(0))
    times, where = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    total = np.bincount(where, np.concatenate([p[1] for p in parts]), times.shape[0])
    count = np.bincount(where, np.concatenate([p[2] for p in parts]), times.shape[0])
    mean = np.divide(total, count, out=np.zeros(times.shape[0]), where=count > 0)
    return BenchmarkSeries(name, times, np.cumprod(1.0 + mean))


def _pair(
    returns: Any, factor_returns: Any, what: str = "returns", other: str = "factor_returns"
) -> tuple[np.ndarray, np.ndarray]:
    r = _returns(returns, what)
    f = _returns(factor_returns, other)
    if r.shape != f.shape:
        raise ParameterError(
            f"{what} and {other} must be aligned arrays of equal length, got {r.shape[0]} "
            f"and {f.shape[0]}"
        )
    return r, f


def _returns(values: Any, what: str = "returns") -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ParameterError(f"{what} must be 1-D, got shape {arr.shape}")
    return arr


def _factor(period: str, annualization: float | None) -> float:
    if annualization is None:
        try:
            return float(ANNUALIZATION_FACTORS[period])
        except (KeyError, TypeError):
            raise ParameterError(
                f"period = {period!r} is not valid; choices: {', '.join(ANNUALIZATION_FACTORS)}"
            ) from None
    value = _finite("annualization", annualization)
    if value <= 0:
        raise ParameterError(
            f"annualization = {annualization!r} is out of range; valid range is (0, inf)"
        )
    return value


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _trade_columns(trades: Mapping[str, Any], n_seg: int | None) -> list[np.ndarray]:
    needed = _TRADE_INPUTS if n_seg is None else ("segment", *_TRADE_INPUTS)
    missing = [c for c in needed if c not in trades]
    if missing:
        raise ParameterError(f"trades: missing column {missing[0]!r}; needs {', '.join(needed)}")
    cols = []
    for name in _TRADE_INPUTS:
        dtype = np.float64 if name in ("net_pnl", "return_pct", "quantity") else np.int64
        cols.append(np.ascontiguousarray(trades[name], dtype=dtype))
    lengths = {c.shape[0] for c in cols}
    if n_seg is not None:
        seg = np.asarray(trades["segment"])
        lengths.add(seg.shape[0])
        if seg.shape[0] and (seg.min() < 0 or seg.max() >= n_seg):
            raise ParameterError(
                f"trades: segment values must lie in [0, {n_seg - 1}], "
                f"got {int(seg.min())}..{int(seg.max())}"
            )
    if len(lengths) > 1:
        raise ParameterError(f"trades: columns differ in length: {sorted(lengths)}")
    return cols
