"""What runs on a Dask worker: one batch from input to staged outputs.

``process_batch`` is a short adapter: load the batch's bars (storage), validate them
(storage), compute everything (compute.pipeline), stage the outputs (storage), and return a
small summary (counts, quarantine records, seconds per stage, the worker's peak RSS), never
data. Staged file names depend only on (run id, table, batch), so a task that Dask runs twice
after a worker dies overwrites its own files and the run's results do not change. A barpipe
error (bad data, storage) comes back as the summary's ``error`` instead of being raised, so
Dask does not retry what would fail the same way again.

``pause_for_test`` (storage.faults) is the test-only hook that holds a task at ``batch``
(after it staged its outputs) so the fault tests can kill it there.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from compute import pipeline
from compute.errors import BarpipeError
from flows.settings import OutputConfig
from storage import bars, outputs, state, validate
from storage.faults import pause_for_test


@dataclass(frozen=True)
class BatchJob:
    """Everything a worker needs for one batch, as plain picklable values.

    ``output`` is the run's output settings section, passed whole rather than field by field
    (where to stage, file size, whether equity is written), so a setting added there reaches
    the worker without touching this class.
    """

    run_id: str
    batch: int
    symbols: tuple[str, ...]
    input_path: str
    input_options: dict[str, Any]
    output: OutputConfig
    start: str | None
    end: str | None
    min_bars: int
    indicators: tuple[pipeline.IndicatorRequest, ...]
    strategies: tuple[pipeline.StrategyRequest, ...]
    backtest: dict[str, Any]
    annualization: float
    risk_free: float
    write_indicators: bool = False  # output.write_indicators, and the run has indicators

    @property
    def write_equity(self) -> bool:
        return self.output.write_equity

    # per symbol of the batch already published: (last bar µs UTC, n bars, fingerprint)
    published: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    full: bool = True  # recompute and publish every symbol whole
    benchmark: Any = None  # compute.metrics.BenchmarkSeries of metrics.benchmark (flows.benchmark)


def peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` on Linux, else ``ru_maxrss``.

    ``ru_maxrss`` survives ``execve``, so in a worker spawned by a large process it reports
    the parent's peak until the worker exceeds it; ``VmHWM`` is the worker's own.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class BatchSummary:
    """What a batch reports back to the flow."""

    batch: int
    n_rows_in: int = 0
    n_rows_processed: int = 0
    n_rows_quarantined: int = 0
    n_symbols: int = 0
    n_trades: int = 0
    trades_by_side: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: int = 0
    worker: str = ""
    report_sleeves: bytes = b""
    """The report's per-sleeve summaries (compute.portfolio) as an Arrow IPC stream: tens of
    KiB per sleeve at most, so the flow never reads the equity or trades tables."""
    # what the night does with each symbol (storage.state): published whole, extended, skipped
    whole: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    states: dict[str, tuple[int, int, str]] = field(default_factory=dict)


def _filesystem(options: dict[str, Any], path: str) -> Any:
    """An fsspec filesystem built with ``options`` for URLs that need them, else None."""
    if not options or "://" not in path:
        return None
    import fsspec

    return fsspec.filesystem(path.split("://", 1)[0], **options)


def _ipc(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def warm_up(job: BatchJob) -> None:
    """Run the job's computation once on a small synthetic symbol (compiles or loads every
    kernel it uses)."""
    from compute import synthetic

    n = max(2 * job.min_bars, 500)
    generated = synthetic.generate_symbol(n, 1, freq="1min")
    table = pa.table(
        {
            "symbol": pa.array(["WARMUP"] * n, pa.string()),
            "timestamp": pa.array(generated["timestamp"], pa.timestamp("us", tz="UTC")),
            **{f: generated[f] for f in ("open", "high", "low", "close", "volume")},
        }
    )
    pipeline.run_batch(
        table,
        run_id="warm-up",
        indicator_requests=job.indicators,
        strategy_requests=job.strategies,
        backtest_params=job.backtest,
        annualization=job.annualization,
        risk_free=job.risk_free,
        with_equity=job.write_equity,
        with_indicators=job.write_indicators,
        benchmark=job.benchmark,
    )


_WARMED: set[str] = set()  # in a worker process: the computations already warmed


def warm_worker(job: BatchJob) -> bool:
    """On a worker: ``warm_up`` once per process and computation; True if it ran now."""
    key = repr((job.indicators, job.strategies, job.backtest, job.write_equity,
                job.write_indicators, job.benchmark is not None))  # fmt: skip
    if key in _WARMED:
        return False
    warm_up(job)
    _WARMED.add(key)
    return True


def process_batch(job: BatchJob) -> dict[str, Any]:
    """Load, validate, compute and stage one batch; return its ``BatchSummary`` as a dict.

    A ``BarpipeError`` is returned as ``{"batch", "error", "error_type"}`` (see the module
    docstring); anything else is raised for Dask to retry.
    """
    try:
        summary = _process(job)
    except BarpipeError as err:
        return {"batch": job.batch, "error": str(err), "error_type": type(err).__name__}
    pause_for_test("batch", f"{job.run_id} {job.batch}")
    return summary


def _stage(job: BatchJob, tables: dict[str, pa.Table]) -> None:
    out = job.output
    fs = _filesystem(out.storage_options, out.path)
    for name, data in tables.items():
        if data.num_columns:
            outputs.write_staged(
                data, out.path, job.run_id, name, job.batch, fs,
                target_file_mib=out.target_file_mib,
            )  # fmt: skip


def _process(job: BatchJob) -> dict[str, Any]:
    summary = BatchSummary(batch=job.batch)
    clock = time.perf_counter()
    table = bars.load_bars(
        job.input_path,
        symbols=job.symbols,
        start=job.start,
        end=job.end,
        filesystem=_filesystem(job.input_options, job.input_path),
        allow_empty=True,
    )
    summary.seconds["load"] = time.perf_counter() - clock
    summary.n_rows_in = table.num_rows

    clock = time.perf_counter()
    clean, records, notes = validate.validate_bars(table, job.min_bars)
    del table
    summary.seconds["validate"] = time.perf_counter() - clock
    summary.notes = [asdict(n) for n in notes]
    summary.quarantine = [asdict(r) for r in records]
    summary.n_rows_quarantined = sum(r.n_rows for r in records)
    summary.n_rows_processed = clean.num_rows

    night = state.classify(
        clean,
        *pipeline.segments(clean),
        {k: state.SymbolState(*v) for k, v in job.published.items()},
        full=job.full,
    )
    summary.whole, summary.unchanged = night.whole, night.unchanged
    summary.extended = list(night.cutoff_us)
    summary.states = {k: (v.last_us, v.n_bars, v.fingerprint) for k, v in night.states.items()}
    if night.unchanged:
        clean = clean.filter(pc.is_in(clean["symbol"], pa.array(night.compute, pa.string())))
    if not night.compute and night.unchanged:  # nothing new in this batch
        summary.n_symbols = len(night.unchanged)
        _stage(job, {"quarantine": validate.quarantine_table(records, job.run_id)})
        summary.peak_rss_bytes = peak_rss_bytes()
        summary.worker = f"{socket.gethostname()}:{os.getpid()}"
        return asdict(summary)
    result = pipeline.run_batch(
        clean,
        run_id=job.run_id,
        indicator_requests=job.indicators,
        strategy_requests=job.strategies,
        backtest_params=job.backtest,
        annualization=job.annualization,
        risk_free=job.risk_free,
        with_equity=job.write_equity,
        with_indicators=job.write_indicators,
        emit_after_us=night.cutoff_us,
        benchmark=job.benchmark,
    )
    summary.seconds.update(result.seconds)
    summary.n_symbols = result.n_symbols + len(night.unchanged)
    summary.n_trades = result.trades.num_rows
    if result.trades.num_rows:
        sides, counts = np.unique(
            result.trades["side"].to_numpy(zero_copy_only=False), return_counts=True
        )
        summary.trades_by_side = {str(s): int(c) for s, c in zip(sides, counts, strict=True)}

    clock = time.perf_counter()
    if result.sleeves is not None and result.sleeves.num_rows:
        summary.report_sleeves = _ipc(result.sleeves)
    staged = {
        "trades": result.trades,
        "metrics": result.metrics,
        "signals": result.signals,
        "quarantine": validate.quarantine_table(records, job.run_id),
    }
    if result.equity is not None:
        staged["equity"] = result.equity
    if result.indicators is not None:
        staged["indicators"] = result.indicators
    _stage(job, staged)
    summary.seconds["write"] = time.perf_counter() - clock
    summary.peak_rss_bytes = peak_rss_bytes()
    summary.worker = f"{socket.gethostname()}:{os.getpid()}"
    return asdict(summary)
