"""Evaluate a chunk of combinations over a batch of symbols: shared series, one kernel call.

``evaluate_chunk`` (1) asks each combination which series it reads (``_ADAPTERS``: the
strategy's declared indicators, with parameters from ``Strategy.indicators``, or the past
means / z-scores that ``ma_crossover`` and ``zscore`` compute inline), (2) computes every
distinct series once for the whole batch, (3) calls ``compute.kernels.sweep.sweep_chunk_nb``
once, and returns its metric rows. Nothing per bar and per combination is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute import backtest, indicators, metrics, strategies
from compute.errors import ParameterError
from compute.kernels import sweep as k
from compute.sweep.space import Combos

__all__ = ["METRIC_NAMES", "evaluate_chunk", "full_windows", "series_count", "supported"]

# Columns of the kernel's metric rows, in order (the nightly metrics' names).
METRIC_NAMES = (*metrics.RETURN_METRICS, *metrics.TRADE_STATS)
assert len(METRIC_NAMES) == k.N_METRICS

Values = Mapping[str, Any]
# A series a combination reads: ("indicator", name, params tuple, output) or (table, window).
SeriesKey = tuple[Any, ...]


@dataclass(frozen=True)
class _Adapter:
    """How ``_target_nb`` runs a strategy: its kind, the series it reads, its scalars."""

    kind: int
    series: Callable[[Values], list[SeriesKey]]
    fvals: Callable[[Values], tuple[float, ...]]


def _declared(
    strategy: str, outputs: Sequence[tuple[str, str]]
) -> Callable[[Values], list[SeriesKey]]:
    """Series from the strategy's declared indicators (``Strategy.indicators``), by output."""
    strat = strategies.spec(strategy)

    def series(v: Values) -> list[SeriesKey]:
        needs = strat.indicators(v)
        return [("indicator", ind, tuple(needs[ind].items()), out) for ind, out in outputs]

    return series


_ADAPTERS: dict[str, _Adapter] = {
    "ma_crossover": _Adapter(
        k.MA_CROSSOVER,
        lambda v: [("past_mean", v["short_window"]), ("past_mean", v["long_window"])],
        lambda v: (),
    ),
    "zscore": _Adapter(
        k.ZSCORE, lambda v: [("past_zscore", v["window"])], lambda v: (v["threshold"],)
    ),
    "momentum": _Adapter(
        k.MOMENTUM,
        _declared("momentum", [("rsi", "real"), ("macd", "macd"), ("macd", "macdsignal")]),
        lambda v: (
            v["momentum_period"],
            v["momentum_weight"],
            v["rsi_lower"],
            v["rsi_upper"],
            v["rsi_weight"],
            v["macd_weight"],
        ),
    ),
    "bollinger": _Adapter(
        k.BOLLINGER,
        _declared("bollinger", [("bbands", "upperband"), ("bbands", "lowerband")]),
        lambda v: (v["lower"], v["upper"]),
    ),
}
_TABLES = {"past_mean": False, "past_zscore": True}  # past_table_nb's ``zscore``


def supported() -> list[str]:
    """Strategies a sweep can evaluate."""
    return sorted(_ADAPTERS)


def _adapter(strategy: str) -> _Adapter:
    try:
        return _ADAPTERS[strategies.spec(strategy).name]
    except KeyError:
        raise ParameterError(
            f"strategy {strategy!r} has no sweep kernel; sweepable: {', '.join(supported())}"
        ) from None


def _plan(strategy: str, combos: Combos) -> tuple[list[SeriesKey], np.ndarray, np.ndarray]:
    """Distinct series in first-use order, and each combination's rows and scalars."""
    adapter = _adapter(strategy)
    names = list(combos.params)
    cols = [combos.params[n].tolist() for n in names]
    index: dict[SeriesKey, int] = {}
    refs_rows, fval_rows = [], []
    for row in zip(*cols, strict=True):
        v = dict(zip(names, row, strict=True))
        refs_rows.append([index.setdefault(key, len(index)) for key in adapter.series(v)])
        fval_rows.append(adapter.fvals(v))
    n = len(combos)
    width = max((len(r) for r in refs_rows), default=0)
    refs = np.array(refs_rows, dtype=np.int64).reshape(n, width)
    fw = max((len(r) for r in fval_rows), default=0)
    fvals = np.array(fval_rows, dtype=np.float64).reshape(n, fw)
    return list(index), refs, fvals


def series_count(strategy: str, combos: Combos) -> int:
    """How many distinct series ``evaluate_chunk`` computes for ``combos`` (per batch)."""
    return len(_plan(strategy, combos)[0])


def _series(
    keys: list[SeriesKey], arrays: Mapping[str, np.ndarray], offsets: np.ndarray
) -> np.ndarray:
    n = arrays["close"].shape[0]
    out = np.empty((max(len(keys), 1), n))
    indicator_cache: dict[tuple[str, tuple[Any, ...]], dict[str, np.ndarray]] = {}
    by_table: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        if key[0] == "indicator":
            _, name, params, output = key
            if (name, params) not in indicator_cache:
                indicator_cache[(name, params)] = indicators.compute_batch(
                    name, arrays, offsets, **dict(params)
                )
            out[row] = indicator_cache[(name, params)][output]
        else:
            by_table.setdefault(key[0], []).append(row)
    for table, rows in by_table.items():
        windows = np.array([keys[r][1] for r in rows], dtype=np.int64)
        out[rows] = k.past_table_nb(arrays["close"], offsets, windows, _TABLES[table])
    return out


def full_windows(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One window per segment covering all of it (the nightly run)."""
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    return np.zeros((1, lengths.shape[0]), dtype=np.int64), lengths.reshape(1, -1)


def evaluate_chunk(
    arrays: Mapping[str, np.ndarray],
    offsets: np.ndarray,
    combos: Combos,
    *,
    strategy: str | None = None,
    backtest_params: Mapping[str, Any] = (),
    annualization: float = 252,
    risk_free: float = 0.0,
    windows: tuple[np.ndarray, np.ndarray] | None = None,
    n_blocks: int = 0,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Metric rows of every combination of ``combos`` on every segment of a batch.

    Parameters
    ----------
    arrays : mapping
        ``open, high, low, close`` (and ``volume``) of the batch, concatenated.
    offsets : ndarray
        Segment boundaries, as in ``compute.pipeline``.
    combos : Combos
        A chunk of a ``Space``.
    strategy : str, optional
        The strategy to run (``combos.strategy`` is the space's label).
    backtest_params : mapping
        The run's backtest settings (``simulate`` keywords); a combination's own
        ``stop_loss``, ``take_profit``, ``fraction`` and ``direction`` override them.
    annualization, risk_free : float
        As for the nightly ``metrics_batch``.
    windows : (start, end), optional
        int64 arrays ``(n_windows, n_segments)`` of local bar ranges to evaluate on (the
        target is computed over the whole segment); default one window per whole segment.
    n_blocks : int
        With n_blocks > 0, also return each row's bar-return moments in ``n_blocks`` time
        blocks (count and sums of r, r², r³, r⁴) for ``compute.stats.pbo_from_moments``
        and ``compute.stats.pooled_moments``.

    Returns
    -------
    ndarray, or (ndarray, ndarray) with ``n_blocks``
        float64 ``(len(combos), n_windows, n_segments, len(METRIC_NAMES))``; the moments
        ``(len(combos), n_windows, n_segments, n_blocks, 5)``.
    """
    name = strategy or combos.strategy
    adapter = _adapter(name)
    offs = np.ascontiguousarray(offsets, dtype=np.int64)
    bars = {
        f: np.ascontiguousarray(arrays[f], dtype=np.float64)
        for f in ("open", "high", "low", "close")
    }
    bars.update({f: v for f, v in arrays.items() if f not in bars})
    settings = _settings(backtest_params)
    keys, refs, fvals = _plan(name, combos)
    series = _series(keys, bars, offs)
    start, end = windows if windows is not None else full_windows(offs)
    bt = combos.backtest
    direction = bt["direction"]
    bad = sorted({d for d in direction.tolist() if d not in backtest.DIRECTIONS})
    if bad:
        raise ParameterError(
            f"direction = {bad[0]!r} is not valid; choices: {', '.join(backtest.DIRECTIONS)}"
        )
    rows, moments = k.sweep_chunk_nb(
        adapter.kind,
        bars["open"],
        bars["high"],
        bars["low"],
        bars["close"],
        offs,
        series,
        refs,
        fvals,
        np.ascontiguousarray(bt["fraction"], dtype=np.float64),
        np.array([d == "long_short" for d in direction.tolist()], dtype=np.bool_),
        np.ascontiguousarray(bt["stop_loss"], dtype=np.float64),
        np.ascontiguousarray(bt["take_profit"], dtype=np.float64),
        np.ascontiguousarray(start, dtype=np.int64),
        np.ascontiguousarray(end, dtype=np.int64),
        settings["init_cash"],
        settings["fees_bps"] / 1e4,
        settings["slippage_bps"] / 1e4,
        settings["sizing"] == "kelly",
        float(annualization),
        float(risk_free),
        0.0,
        False,
        int(n_blocks),
    )
    return (rows, moments) if n_blocks else rows


def _settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's backtest settings, validated by ``compute.backtest`` itself."""
    p = {**backtest.simulate.__kwdefaults__, **dict(params)}
    unknown = sorted(set(p) - set(backtest.simulate.__kwdefaults__))
    if unknown:
        raise ParameterError(f"backtest: unknown parameter {unknown[0]!r}")
    bar = np.ones(1)
    backtest.simulate(bar, bar, bar, bar, bar * np.nan, **p)
    return p
