"""One batch, end to end in memory: bars → indicators → targets → trades/equity → metrics.

``run_batch`` is what a Dask task calls between loading and writing. Its input is an Arrow
table of validated bars sorted by (symbol, timestamp); the symbols become segments of one
concatenated array per column (``offsets``), so every stage is one kernel call for the whole
batch. Its output is Arrow tables in the published schemas' column order plus per-stage
seconds. pyarrow is used only here, at the edges; everything between is numpy and numba.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from compute import backtest, indicators, metrics, portfolio, strategies

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class IndicatorRequest:
    """An indicator to compute and the column prefix its outputs are written under."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    prefix: str | None = None

    def columns(self) -> list[str]:
        """Stable output column names: ``<prefix>`` or ``<name>_<param values>``, then the
        output name unless it is TA-Lib's generic ``real``/``integer``."""
        spec = indicators.spec(self.name)
        values = spec.resolve(self.params)
        base = self.prefix or "_".join([spec.name, *(_fmt(v) for v in values.values())])
        generic = len(spec.outputs) == 1 and spec.outputs[0] in ("real", "integer")
        return [base if generic else f"{base}_{out}" for out in spec.outputs]


@dataclass(frozen=True)
class StrategyRequest:
    """A strategy and its parameters; ``label`` names it in the outputs."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name


@dataclass
class BatchResult:
    """Arrow tables for one batch and how long each stage took."""

    trades: pa.Table
    equity: pa.Table | None
    metrics: pa.Table
    indicators: pa.Table | None
    signals: pa.Table
    seconds: dict[str, float]
    n_bars: int
    n_symbols: int
    sleeves: pa.Table | None = None
    """Per (symbol, strategy): compute.portfolio.summarize_sleeves over the whole history
    (made with or without ``with_equity``): what the run's report is drawn from."""


def _fmt(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def segments(table: pa.Table) -> tuple[list[str], np.ndarray]:
    """Symbols in order and the offsets of their rows in ``table`` (sorted by symbol)."""
    col = table.column("symbol")
    if table.num_rows == 0:
        return [], np.zeros(1, dtype=np.int64)
    runs = pc.run_end_encode(col.combine_chunks().cast(pa.string()))
    ends = runs.run_ends.to_numpy().astype(np.int64)
    return runs.values.to_pylist(), np.concatenate([[0], ends])


def run_batch(
    table: pa.Table,
    *,
    run_id: str,
    indicator_requests: Sequence[IndicatorRequest],
    strategy_requests: Sequence[StrategyRequest],
    backtest_params: Mapping[str, Any],
    annualization: float,
    risk_free: float = 0.0,
    with_equity: bool = True,
    with_indicators: bool = True,
    emit_after_us: Mapping[str, int] | None = None,
    benchmark: metrics.BenchmarkSeries | None = None,
) -> BatchResult:
    """Compute every configured output for the symbols in ``table``.

    ``emit_after_us`` (symbol -> µs since the epoch, UTC): for these symbols the per-bar
    rows (equity, indicators) and trades are emitted only after that time (the trade still
    open at it ends later, so it is emitted in its new state). Everything is computed over
    the whole history (the kernels are causal), so the emitted rows equal those of a run over
    the whole history; metrics and signals always cover the whole history.

    ``benchmark``: the run's benchmark; each sleeve's metrics then get its ``RELATIVE_METRICS``
    against the benchmark's value at the sleeve's bars (null columns without one).
    """
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    symbols, offsets = segments(table)
    arrays = {f: np.ascontiguousarray(table.column(f).to_numpy(), dtype=np.float64) for f in FIELDS}
    ts = table.column("timestamp")
    seg_of_bar = np.repeat(np.arange(len(symbols), dtype=np.int32), np.diff(offsets))
    sym_dict = pa.array(symbols, pa.string())
    ts_us = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    after = np.full(len(symbols), np.iinfo(np.int64).min, dtype=np.int64)
    for i, symbol in enumerate(symbols):
        if emit_after_us and symbol in emit_after_us:
            after[i] = emit_after_us[symbol]
    bar_kept = ts_us > after[seg_of_bar]
    bench_at = None if benchmark is None else benchmark.at(ts_us)
    keep_bars = None if bar_kept.all() else pa.array(bar_kept)

    def labels(seg_index: np.ndarray) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(seg_index, pa.int32()), sym_dict)

    ind_cols: dict[str, np.ndarray] = {}
    for req in indicator_requests if with_indicators else ():
        out = indicators.compute_batch(req.name, arrays, offsets, **dict(req.params))
        ind_cols.update(zip(req.columns(), out.values(), strict=True))
    seconds["kernels"] = time.perf_counter() - clock

    trade_parts, equity_parts, metric_parts, signal_parts = [], [], [], []
    sleeve_parts = []
    t_bt = t_met = 0.0
    for req in strategy_requests:
        t0 = time.perf_counter()
        target = strategies.compute_batch(req.name, arrays, offsets, **dict(req.params))
        seconds["kernels"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        sim = backtest.simulate_batch(
            arrays["open"],
            arrays["high"],
            arrays["low"],
            arrays["close"],
            target,
            offsets,
            **dict(backtest_params),
        )
        t_bt += time.perf_counter() - t0
        t0 = time.perf_counter()
        met = metrics.metrics_batch(
            sim.equity, offsets, sim.trades, annualization=annualization, risk_free=risk_free
        )
        if bench_at is not None:
            met.update(
                metrics.relative_metrics_batch(
                    sim.equity, bench_at, offsets, annualization=annualization, risk_free=risk_free
                )
            )
        t_met += time.perf_counter() - t0
        trades = _trades_table(run_id, req.key, sim.trades, labels, ts, offsets)
        exit_us = ts_us[offsets[sim.trades["segment"]] + sim.trades["exit_index"]]
        new_trade = exit_us > after[np.asarray(sim.trades["segment"], dtype=np.int64)]
        trade_parts.append(trades if new_trade.all() else trades.filter(pa.array(new_trade)))
        signal_parts.append(
            _signals_table(run_id, req.key, target, sim.trades, symbols, offsets, ts, arrays)
        )
        equity = pa.table(
            {
                "run_id": pa.repeat(pa.scalar(run_id), table.num_rows),
                "symbol": labels(seg_of_bar),
                "strategy": pa.repeat(pa.scalar(req.key), table.num_rows),
                "timestamp": ts,
                "equity": sim.equity,
            }
        )
        if with_equity:
            equity_parts.append(equity if keep_bars is None else equity.filter(keep_bars))
        # the report's summaries cover each sleeve's whole history, emitted or not, and are
        # made whether the equity table is written or not (the report never reads it)
        sleeve_parts.append(portfolio.summarize_sleeves(equity, trades))
        bench_name = None if benchmark is None else benchmark.name
        metric_parts.append(_metrics_table(run_id, req.key, met, symbols, offsets, ts, bench_name))
    seconds["backtest"] = t_bt
    seconds["metrics"] = t_met

    ind_table = None
    if ind_cols:
        ind_table = pa.table(
            {
                "run_id": pa.repeat(pa.scalar(run_id), table.num_rows),
                "symbol": labels(seg_of_bar),
                "timestamp": ts,
                **ind_cols,
            }
        )
        if keep_bars is not None:
            ind_table = ind_table.filter(keep_bars)
    return BatchResult(
        trades=_concat(trade_parts),
        equity=_concat(equity_parts) if with_equity else None,
        metrics=_concat(metric_parts),
        indicators=ind_table,
        signals=_concat(signal_parts),
        sleeves=_concat(sleeve_parts),
        seconds=seconds,
        n_bars=table.num_rows,
        n_symbols=len(symbols),
    )


def _concat(parts: list[pa.Table]) -> pa.Table:
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")


def _trades_table(run_id, strategy, trades, labels, ts, offsets) -> pa.Table:
    seg = np.asarray(trades["segment"], dtype=np.int64)
    entry = offsets[seg] + np.asarray(trades["entry_index"], dtype=np.int64)
    exit_ = offsets[seg] + np.asarray(trades["exit_index"], dtype=np.int64)
    n = seg.shape[0]
    reasons = pa.array(backtest.EXIT_REASONS, pa.string())
    return pa.table(
        {
            "run_id": pa.repeat(pa.scalar(run_id), n),
            "symbol": labels(seg.astype(np.int32)),
            "strategy": pa.repeat(pa.scalar(strategy), n),
            "side": np.where(np.asarray(trades["side"]) > 0, "long", "short"),
            "entry_time": ts.take(pa.array(entry)),
            "entry_price": trades["entry_price"],
            "exit_time": ts.take(pa.array(exit_)),
            "exit_price": trades["exit_price"],
            "quantity": trades["quantity"],
            "gross_pnl": trades["gross_pnl"],
            "fees": trades["fees"],
            "net_pnl": trades["net_pnl"],
            "return_pct": trades["return_pct"],
            "bars_held": np.asarray(trades["bars_held"], dtype=np.int64),
            "exit_reason": pa.DictionaryArray.from_arrays(
                pa.array(np.asarray(trades["exit_reason"], dtype=np.int32)), reasons
            ).cast(pa.string()),
        }
    )


def _signals_table(run_id, strategy, target, trades, symbols, offsets, ts, arrays) -> pa.Table:
    """Per symbol: the target decided at the last bar's close and the position held then."""
    n = len(symbols)
    last = offsets[1:] - 1
    side = np.full(n, "flat", dtype=object)
    quantity = np.zeros(n)
    entry_price = np.full(n, np.nan)
    entry_index = np.full(n, -1, dtype=np.int64)
    is_open = np.asarray(trades["exit_reason"]) == backtest.EXIT_REASONS.index("open")
    seg = np.asarray(trades["segment"], dtype=np.int64)[is_open]
    side[seg] = np.where(np.asarray(trades["side"])[is_open] > 0, "long", "short")
    quantity[seg] = np.asarray(trades["quantity"])[is_open]
    entry_price[seg] = np.asarray(trades["entry_price"])[is_open]
    entry_index[seg] = offsets[seg] + np.asarray(trades["entry_index"], dtype=np.int64)[is_open]
    held = entry_index >= 0
    entry_time = pc.if_else(
        pa.array(held), ts.take(pa.array(np.where(held, entry_index, 0))), pa.scalar(None, ts.type)
    )
    return pa.table(
        {
            "run_id": pa.repeat(pa.scalar(run_id), n),
            "symbol": pa.array(symbols, pa.string()),
            "strategy": pa.repeat(pa.scalar(strategy), n),
            "last_timestamp": ts.take(pa.array(last)),
            "last_close": arrays["close"][last],
            "target": np.asarray(target, dtype=np.float64)[last],
            "side": pa.array(side.tolist(), pa.string()),
            "quantity": quantity,
            "entry_time": entry_time,
            "entry_price": pc.if_else(pa.array(held), pa.array(entry_price), None),
        }
    )


def _metrics_table(run_id, strategy, met, symbols, offsets, ts, benchmark=None) -> pa.Table:
    n = len(symbols)
    cols: dict[str, Any] = {
        "run_id": pa.repeat(pa.scalar(run_id), n),
        "symbol": pa.array(symbols, pa.string()),
        "strategy": pa.repeat(pa.scalar(strategy), n),
        "n_bars": np.diff(offsets),
    }
    for key, values in met.items():
        if key in ("max_drawdown_peak", "max_drawdown_trough"):
            idx = np.asarray(values, dtype=np.int64)
            valid = idx >= 0
            pos = offsets[:-1] + np.where(valid, idx, 0)
            cols[key] = pc.if_else(
                pa.array(valid), ts.take(pa.array(pos)), pa.scalar(None, ts.type)
            )
        else:
            cols[key] = values
    cols["benchmark"] = pa.array([benchmark] * n, pa.string())
    for key in metrics.RELATIVE_METRICS:  # null without a benchmark
        cols.setdefault(key, pa.nulls(n, pa.float64()))
    return pa.table(cols)
