"""Batch planning: pack symbols into batches sized from a worker's memory.

Steps:
1. ``estimate_bytes_per_bar`` prices one bar of one symbol through the whole batch task:
   the loaded Arrow table and its float64 copies, every indicator output, and per strategy
   the target, the backtest's equity and scratch, and the output tables built from them.
2. ``plan_batches`` turns row counts per symbol into batches whose estimated bytes stay
   under ``memory_fraction`` of a worker's limit, and splits the work into at least
   ``min_batches_per_thread`` batches per worker thread so the cluster stays balanced.
   A symbol that alone exceeds the cap cannot be processed safely and is returned in
   ``refused`` with the reason, never sent to a worker.
Planning is deterministic: the same rows and limits give the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Per bar: timestamp (int64) + OHLCV (5 float64) as Arrow, then as numpy copies for kernels.
_INPUT_BYTES = 6 * 8
# Per strategy and bar: target, position/equity/cash scratch in the backtest, and the equity
# output table (timestamp, equity, dictionary-encoded labels).
_STRATEGY_BYTES = 8 * 8
# Peak overhead over the plain sum: temporaries inside pyarrow/numpy and allocator slack.
_SAFETY = 1.5


@dataclass(frozen=True)
class Batch:
    """Symbols processed together by one task, with the estimate that sized it."""

    index: int
    symbols: tuple[str, ...]
    n_bars: int
    est_bytes: int


@dataclass(frozen=True)
class Plan:
    """The batches, the symbols refused for size, and why the plan looks the way it does."""

    batches: tuple[Batch, ...]
    refused: Mapping[str, str] = field(default_factory=dict)
    bytes_per_bar: int = 0
    cap_bytes: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "bytes_per_bar": self.bytes_per_bar,
            "cap_bytes": self.cap_bytes,
            "reason": self.reason,
            "refused": dict(self.refused),
            "batches": [
                {
                    "index": b.index,
                    "n_symbols": len(b.symbols),
                    "n_bars": b.n_bars,
                    "est_bytes": b.est_bytes,
                }
                for b in self.batches
            ],
        }


def estimate_bytes_per_bar(n_indicator_outputs: int, n_strategies: int) -> int:
    """Estimated peak bytes one bar costs inside a batch task."""
    raw = 2 * _INPUT_BYTES + 8 * n_indicator_outputs + _STRATEGY_BYTES * n_strategies
    return int(math.ceil(raw * _SAFETY))


def plan_batches(
    rows: Mapping[str, int],
    *,
    bytes_per_bar: int,
    worker_memory: int,
    n_threads: int,
    memory_fraction: float = 0.25,
    min_batches_per_thread: int = 3,
    max_symbols_per_batch: int = 500,
) -> Plan:
    """Pack ``rows`` (bars per symbol) into batches; see the module docstring."""
    cap = int(worker_memory * memory_fraction)
    refused = {
        s: (
            f"{n} bars need ~{n * bytes_per_bar / 2**20:.0f} MiB, over the batch cap of "
            f"{cap / 2**20:.0f} MiB ({memory_fraction:g} of {worker_memory / 2**20:.0f} MiB "
            "per worker); raise the worker memory limit or batches.memory_fraction"
        )
        for s, n in sorted(rows.items())
        if n * bytes_per_bar > cap
    }
    todo = [(s, n) for s, n in sorted(rows.items()) if s not in refused]
    total = sum(n for _, n in todo) * bytes_per_bar
    wanted = max(1, n_threads * min_batches_per_thread)
    # Balance first (enough batches for every thread), memory second (never above the cap).
    target = max(1, min(cap, math.ceil(total / wanted))) if todo else cap
    batches: list[Batch] = []
    current: list[str] = []
    bars = 0
    for symbol, n in todo:
        cost = n * bytes_per_bar
        if current and (
            (bars * bytes_per_bar + cost > target) or len(current) >= max_symbols_per_batch
        ):
            batches.append(_batch(len(batches), current, bars, bytes_per_bar))
            current, bars = [], 0
        current.append(symbol)
        bars += n
    if current:
        batches.append(_batch(len(batches), current, bars, bytes_per_bar))
    reason = (
        f"{len(todo)} symbols, {total / 2**20:.1f} MiB estimated at {bytes_per_bar} B/bar; "
        f"batch target {target / 2**20:.1f} MiB = min(cap {cap / 2**20:.1f} MiB, total / "
        f"{wanted} for {n_threads} threads x {min_batches_per_thread}); "
        f"at most {max_symbols_per_batch} symbols per batch"
    )
    return Plan(tuple(batches), refused, bytes_per_bar, cap, reason)


def _batch(index: int, symbols: Sequence[str], bars: int, bytes_per_bar: int) -> Batch:
    return Batch(index, tuple(symbols), bars, bars * bytes_per_bar)


def infer_annualization(n_rows: np.ndarray, first_us: np.ndarray, last_us: np.ndarray) -> float:
    """Bars per year from the input's row counts and time spans (microseconds since epoch).

    The median over symbols of observed bars per calendar year; anything between 200 and 270
    (daily bars on trading days or weekdays) is taken as the usual 252.
    """
    n = np.asarray(n_rows, dtype=np.float64)
    span_years = (
        np.asarray(last_us, dtype=np.float64) - np.asarray(first_us, dtype=np.float64)
    ) / (365.25 * 86_400e6)
    ok = (n > 1) & (span_years > 0)
    if not ok.any():
        return 252.0
    per_year = float(np.median((n[ok] - 1) / span_years[ok]))
    return 252.0 if 200 <= per_year <= 270 else round(per_year, 1)
