"""Batch planning: pack symbols into batches sized from a worker's memory.

Steps:
1. ``estimate_bytes_per_bar`` prices one bar of one symbol through the whole batch task:
   the loaded and validated Arrow table with its numpy views, per strategy the target,
   the backtest's equity and scratch and the trades, the equity output table when it is
   written, and every computed indicator output. The constants are calibrated against
   measured batches (``python -m bench.memory --calibrate-only``; bench/RESULTS.md).
2. ``plan_batches`` turns row counts per symbol into batches whose estimated bytes stay
   under a cap: ``memory_fraction`` of a worker's limit, and never more than the room the
   worker has left below Dask's pause threshold once its own process memory
   (``worker_reserved``) and the allocator pages earlier batches leave behind
   (``retention``) are counted, shared by its threads. A batch costs ``batch_fixed``
   (reader and writer buffers) plus its bars times the estimate. It splits the work into at
   least ``min_batches_per_thread`` batches per worker thread so the cluster stays
   balanced. A symbol that alone exceeds the cap cannot be processed safely and is
   returned in ``refused`` with the reason, never sent to a worker (the flow quarantines
   it); so is every symbol when the limit leaves no room for any batch (``no_room``: the
   flow fails the run, since nothing could run).
3. ``describe_plan`` says in one line what the plan does with the cluster.
Planning is deterministic: the same rows and limits give the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Bytes per bar, calibrated by bench/memory.py: the peak of numpy's allocations (tracemalloc)
# plus the peak of Arrow's, over batches of 50k-800k bars (the two peaks do not coincide, so
# their sum over-counts a little). Measured per bar: 89 for the inputs, 32 per strategy,
# 89 more per strategy whose equity is written, 9 per computed indicator output, and up to
# 15 MiB per batch whatever its size.
_BASE_BYTES = 112  # the Arrow table as loaded and as validated, numpy views, segment labels
_STRATEGY_BYTES = 32  # target, equity array, backtest scratch, trades and metrics tables
_EQUITY_BYTES = 92  # the equity table (run id, symbol, strategy, time, value) and its staged copy
_OUTPUT_BYTES = 10  # one float64 indicator output and its column in the indicators table
# Allocator slack and fragmentation over the live bytes (resident memory of a worker).
_SAFETY = 1.25

# Per batch, whatever its size: Parquet read-ahead and decompression buffers, write buffers.
BATCH_FIXED_BYTES = 32 * 2**20
# A Dask worker process with barpipe imported and its kernels loaded, before any batch
# (measured: ~210 MiB after the imports, ~280 MiB after the first batch; bench/RESULTS.md).
WORKER_BASELINE_BYTES = 320 * 2**20
# Dask pauses a worker whose process memory passes this fraction of its limit
# (distributed.worker.memory.pause); batches must fit below it, not below the limit.
PAUSE_FRACTION = 0.8
# What a worker still holds after a batch, as a fraction of the batch: Arrow's default
# (mimalloc) pool keeps its pages, so the next batch starts on top of them. Measured on
# 2 x 600 MB workers: ~130 MiB kept after batches estimated at 137 MiB, and workers parked
# at the pause threshold without it (bench/RESULTS.md). 0 is right once workers release
# that memory after each batch (pyarrow's ``default_memory_pool().release_unused()``) or
# run with ``ARROW_DEFAULT_MEMORY_POOL=system``.
ALLOCATOR_RETENTION = 1.0


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
    worker_memory: int = 0
    no_room: bool = False
    """True when the worker limit leaves no room for any batch: every symbol is refused."""

    def to_dict(self) -> dict[str, object]:
        return {
            "bytes_per_bar": self.bytes_per_bar,
            "cap_bytes": self.cap_bytes,
            "worker_memory": self.worker_memory,
            "reason": self.reason,
            "no_room": self.no_room,
            "refused": dict(self.refused),
            "batches": [
                {
                    "index": b.index,
                    "n_symbols": len(b.symbols),
                    "n_bars": b.n_bars,
                    "est_bytes": b.est_bytes,
                    "first_symbol": b.symbols[0] if b.symbols else None,
                    "last_symbol": b.symbols[-1] if b.symbols else None,
                }
                for b in self.batches
            ],
        }


def estimate_bytes_per_bar(
    n_indicator_outputs: int, n_strategies: int, *, with_equity: bool = True
) -> int:
    """Estimated peak bytes one bar costs inside a batch task (resident memory).

    ``n_indicator_outputs`` counts the indicator outputs the task computes (0 when the run
    does not write indicators); ``with_equity`` is whether equity curves are written.
    """
    per_strategy = _STRATEGY_BYTES + (_EQUITY_BYTES if with_equity else 0)
    raw = _BASE_BYTES + per_strategy * n_strategies + _OUTPUT_BYTES * n_indicator_outputs
    return int(math.ceil(raw * _SAFETY))


def batch_cap(
    worker_memory: int,
    *,
    memory_fraction: float = 0.25,
    worker_reserved: int = WORKER_BASELINE_BYTES,
    threads_per_worker: int = 1,
    retention: float = ALLOCATOR_RETENTION,
) -> int:
    """Largest estimated bytes of one batch on a worker with limit ``worker_memory``.

    The smaller of ``memory_fraction`` of the limit and the room below Dask's pause
    threshold left by the worker's own process (``worker_reserved``), shared by the batches
    its ``threads_per_worker`` threads run at once, each also leaving behind ``retention``
    times its size in allocator pages. 0 when there is no room at all.
    """
    room = PAUSE_FRACTION * worker_memory - worker_reserved
    per_batch = max(threads_per_worker, 1) * (1.0 + max(retention, 0.0))
    return max(0, int(min(worker_memory * memory_fraction, room / per_batch)))


def plan_batches(
    rows: Mapping[str, int],
    *,
    bytes_per_bar: int,
    worker_memory: int,
    n_threads: int,
    memory_fraction: float = 0.25,
    min_batches_per_thread: int = 3,
    max_symbols_per_batch: int = 500,
    worker_reserved: int = WORKER_BASELINE_BYTES,
    threads_per_worker: int = 1,
    batch_fixed: int = BATCH_FIXED_BYTES,
    retention: float = ALLOCATOR_RETENTION,
) -> Plan:
    """Pack ``rows`` (bars per symbol) into batches; see the module docstring."""
    cap = batch_cap(
        worker_memory,
        memory_fraction=memory_fraction,
        worker_reserved=worker_reserved,
        threads_per_worker=threads_per_worker,
        retention=retention,
    )
    mib = 2**20
    limits = (
        f"{memory_fraction:g} of {worker_memory / mib:.0f} MiB per worker, and at most "
        f"{PAUSE_FRACTION:g} x {worker_memory / mib:.0f} - {worker_reserved / mib:.0f} MiB "
        f"the worker process uses, over {threads_per_worker} thread(s) whose batches "
        f"each leave {retention:g}x their size in allocator pages"
    )
    if cap <= batch_fixed:
        smallest = batch_fixed + 32 * mib  # a batch's buffers and a few MiB of bars
        least = min_worker_memory(
            threads_per_worker,
            worker_reserved=worker_reserved,
            batch_fixed=batch_fixed,
            retention=retention,
        )
        limit_why = (
            f"a worker process uses about {worker_reserved / mib:.0f} MiB by itself "
            f"and Dask pauses it at {PAUSE_FRACTION:.0%} of its limit; give workers at least "
            f"{least / mib:.0f} MiB (--memory-limit)"
        )
        fraction = math.ceil(100 * smallest / worker_memory) / 100 if worker_memory else 2.0
        if cap == int(worker_memory * memory_fraction) and fraction <= 1 <= worker_memory / least:
            why = (  # only the fraction is too small: say so, not that the limit is
                f"batches.memory_fraction = {memory_fraction:g} of the worker memory limit of "
                f"{worker_memory / mib:.0f} MiB leaves no room for a batch, whose buffers "
                f"alone take {batch_fixed / mib:.0f} MiB: raise batches.memory_fraction to at "
                f"least {fraction:g} (or the worker memory limit, --memory-limit)"
            )
        else:
            why = (
                f"the worker memory limit of {worker_memory / mib:.0f} MiB leaves no room "
                f"for a batch: {limit_why}"
            )
        return Plan(
            (), {s: why for s in sorted(rows)}, bytes_per_bar, cap, why, worker_memory, True
        )
    room = cap - batch_fixed  # for the bars, once the batch's fixed buffers are counted
    # name the setting that binds the cap: raising the other one changes nothing
    raise_what = (
        "batches.memory_fraction or the worker memory limit (--memory-limit)"
        if cap >= int(worker_memory * memory_fraction)
        else "the worker memory limit (--memory-limit)"
    )
    refused = {
        s: (
            f"{n} bars need ~{(n * bytes_per_bar + batch_fixed) / mib:.0f} MiB, over the "
            "batch cap of "
            f"{cap / mib:.0f} MiB ({limits}); it would have to be processed in time chunks, "
            f"which barpipe does not do yet, so it is quarantined: raise {raise_what}"
        )
        for s, n in sorted(rows.items())
        if n * bytes_per_bar > room
    }
    todo = [(s, n) for s, n in sorted(rows.items()) if s not in refused]
    total = sum(n for _, n in todo) * bytes_per_bar
    wanted = max(1, n_threads * min_batches_per_thread)
    # Balance first (enough batches for every thread), memory second (never above the cap).
    target = max(1, min(room, math.ceil(total / wanted))) if todo else room
    batches: list[Batch] = []
    current: list[str] = []
    bars = 0
    for symbol, n in todo:
        cost = n * bytes_per_bar
        if current and (
            (bars * bytes_per_bar + cost > target) or len(current) >= max_symbols_per_batch
        ):
            batches.append(_batch(len(batches), current, bars, bytes_per_bar, batch_fixed))
            current, bars = [], 0
        current.append(symbol)
        bars += n
    if current:
        batches.append(_batch(len(batches), current, bars, bytes_per_bar, batch_fixed))
    reason = (
        f"{len(todo)} symbols, {total / mib:.1f} MiB estimated at {bytes_per_bar} B/bar "
        f"plus {batch_fixed / mib:.0f} MiB per batch; bars per batch up to {target / mib:.1f} "
        f"MiB = min(cap {cap / mib:.1f} MiB - {batch_fixed / mib:.0f}, total / "
        f"{wanted} for {n_threads} threads x {min_batches_per_thread}); the cap is {limits}; "
        f"at most {max_symbols_per_batch} symbols per batch"
    )
    return Plan(tuple(batches), refused, bytes_per_bar, cap, reason, worker_memory)


def min_worker_memory(
    threads_per_worker: int = 1,
    *,
    worker_reserved: int = WORKER_BASELINE_BYTES,
    batch_fixed: int = BATCH_FIXED_BYTES,
    retention: float = ALLOCATOR_RETENTION,
) -> int:
    """The smallest worker memory limit whose pause threshold leaves room, besides the
    worker process itself, for one small batch (its buffers and 32 MiB of bars) per thread."""
    smallest = batch_fixed + 32 * 2**20
    per_thread = (1 + max(retention, 0.0)) * smallest
    return math.ceil((worker_reserved + max(threads_per_worker, 1) * per_thread) / PAUSE_FRACTION)


def describe_plan(plan: Plan, *, n_workers: int, threads_per_worker: int) -> str:
    """One line for the console: batches, their largest estimate, the cluster, refusals."""
    mib = 2**20
    largest = max((b.est_bytes for b in plan.batches), default=0)
    line = (
        f"plan: {len(plan.batches)} batch(es) of <= {largest / mib:.1f} MiB "
        f"(cap {plan.cap_bytes / mib:.1f} MiB, {plan.bytes_per_bar} B/bar) for "
        f"{n_workers} worker(s) x {threads_per_worker} thread(s) "
        f"({plan.worker_memory / mib:.0f} MiB limit)"
    )
    if plan.no_room:
        line += "; the limit leaves no room for any batch"
    elif plan.refused:
        line += f"; {len(plan.refused)} symbol(s) refused as too large for a worker"
    return line


def _batch(index: int, symbols: Sequence[str], bars: int, bytes_per_bar: int, fixed: int) -> Batch:
    return Batch(index, tuple(symbols), bars, fixed + bars * bytes_per_bar)


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
