"""The run's benchmark (``metrics.benchmark``) for every sleeve's metrics, before the batches.

Wiring only (the arithmetic is ``compute.metrics``):

- a symbol of the input: the batch that holds it loads and validates its bars like any
  batch and returns its timestamps and closes (``symbol_benchmark``);
- ``equal_weight``: every batch loads and validates its bars and returns ``return_sums``
  (per timestamp of the batch, the sum and count of its symbols' returns: one value per
  timestamp, never rows); the flow merges them into ``equal_weight_benchmark``.

The series (one value per timestamp of the calendar) is handed to every ``BatchJob``, so a
batch's memory grows with the calendar's length, not with the universe.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa

from compute import metrics, pipeline
from compute.errors import ConfigError, DataError
from flows.tasks import BatchJob, _filesystem
from storage import bars, validate

EQUAL_WEIGHT = "equal_weight"


def _clean_bars(job: BatchJob, symbols: tuple[str, ...]) -> pa.Table:
    table = bars.load_bars(
        job.input_path,
        symbols=symbols,
        start=job.start,
        end=job.end,
        filesystem=_filesystem(job.input_options, job.input_path),
        allow_empty=True,
    )
    clean, _, _ = validate.validate_bars(table, job.min_bars)
    return clean.sort_by([("symbol", "ascending"), ("timestamp", "ascending")])


def _timestamps_us(table: pa.Table) -> np.ndarray:
    ts = table["timestamp"].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(ts.to_numpy(), dtype=np.int64)


def batch_return_sums(job: BatchJob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On a worker: ``compute.metrics.return_sums`` of one batch's validated bars."""
    clean = _clean_bars(job, job.symbols)
    _, offsets = pipeline.segments(clean)
    close = np.asarray(clean["close"].to_numpy(), dtype=np.float64)
    return metrics.return_sums(_timestamps_us(clean), close, offsets)


def symbol_series(job: BatchJob, symbol: str) -> metrics.BenchmarkSeries:
    """On a worker: one symbol's validated closes as the benchmark."""
    clean = _clean_bars(job, (symbol,))
    if clean.num_rows == 0:
        raise DataError(
            f"metrics.benchmark = {symbol!r}: the symbol has no valid bars in "
            f"{job.input_path} (quarantined, or fewer than {job.min_bars} bars)"
        )
    close = np.asarray(clean["close"].to_numpy(), dtype=np.float64)
    return metrics.symbol_benchmark(symbol, _timestamps_us(clean), close)


def attach_benchmark(client: Any, benchmark: str, jobs: list[BatchJob]) -> list[BatchJob]:
    """The jobs, each carrying the benchmark series of ``metrics.benchmark``."""
    if benchmark == EQUAL_WEIGHT:
        parts = client.gather(
            client.map(
                batch_return_sums, jobs, key=[f"benchmark-{j.run_id}-{j.batch}" for j in jobs]
            )
        )
        series = metrics.equal_weight_benchmark(parts, EQUAL_WEIGHT)
    else:
        holder = next((j for j in jobs if benchmark in j.symbols), None)
        if holder is None:
            n = sum(len(j.symbols) for j in jobs)
            raise ConfigError(
                f"config key 'metrics.benchmark' = {benchmark!r} is not a symbol of the run's "
                f"universe ({n} symbols); give one, or {EQUAL_WEIGHT!r}"
            )
        series = client.submit(
            symbol_series, holder, benchmark, key=f"benchmark-{holder.run_id}"
        ).result()
    return [dataclasses.replace(job, benchmark=series) for job in jobs]
