"""A universe whose working set is several times the cluster's memory runs within the limits.

Two workers of 600 MB each (1.2 GB together) process 4 million one-minute bars with four
strategies and equity curves. Held at once, that is 3.0 GB by the planner's estimate
(760 B/bar) and about 2.3 GB by the calibrated measurement (numpy and Arrow peaks of a
batch: ~570 B/bar, bench/RESULTS.md), two to two and a half times the cluster's memory,
of which each worker process needs ~300 MiB for itself. The planner cuts the universe into
batches that fit below each worker's pause threshold next to that, so the run must finish
with no worker restarted and every worker's peak resident memory under its limit, clear of
the 95% at which Dask's nanny kills a worker.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from compute import pipeline, synthetic
from flows.nightly import run_nightly
from flows.settings import load_settings
from storage.bars import write_bars

pytestmark = pytest.mark.slow

N_SYMBOLS, N_BARS = 160, 25_000
WORKERS, LIMIT = 2, 600 * 10**6
STRATEGIES = ["momentum", "zscore", "ma_crossover", "bollinger"]
TERMINATE_FRACTION = 0.95  # distributed.worker.memory.terminate


@pytest.fixture(scope="module")
def minute_universe(tmp_path_factory):
    root = tmp_path_factory.mktemp("ltm") / "bars"

    def chunks():
        names = synthetic.symbol_names(N_SYMBOLS)
        for start in range(0, N_SYMBOLS, 20):
            parts = [
                synthetic.generate_symbol(N_BARS, 17, freq="1min", index=i)
                for i in range(start, start + 20)
            ]
            yield pa.table(
                {
                    "symbol": pa.array(np.repeat(names[start : start + 20], N_BARS), pa.string()),
                    "timestamp": pa.array(
                        np.concatenate([p["timestamp"] for p in parts]),
                        pa.timestamp("us", tz="UTC"),
                    ),
                    **{
                        f: np.concatenate([p[f] for p in parts])
                        for f in ("open", "high", "low", "close", "volume")
                    },
                }
            )

    write_bars(chunks(), root)
    return root


def _warm_kernel_cache() -> None:
    """Compile the strategies' kernels here, so workers load them instead of compiling
    (compiling in a worker costs more memory than a batch)."""
    bars = synthetic.generate_symbol(300, 1, freq="1min")
    table = pa.table(
        {
            "symbol": pa.array(["W"] * 300, pa.string()),
            "timestamp": pa.array(bars["timestamp"], pa.timestamp("us", tz="UTC")),
            **{f: bars[f] for f in ("open", "high", "low", "close", "volume")},
        }
    )
    pipeline.run_batch(
        table,
        run_id="warm",
        indicator_requests=[],
        strategy_requests=[pipeline.StrategyRequest(s) for s in STRATEGIES],
        backtest_params={"direction": "long_short", "fees_bps": 1.0},
        annualization=525_600.0,
    )


@pytest.fixture(scope="module")
def capped_run(prefect_harness, minute_universe, tmp_path_factory):
    _warm_kernel_cache()
    settings = load_settings(
        None,
        overrides={
            "input.path": str(minute_universe),
            "output.path": str(tmp_path_factory.mktemp("ltm-out")),
            "run.run_date": "2026-11-23",
            "run.report": False,
            "cluster.n_workers": WORKERS,
            "cluster.threads_per_worker": 1,
            "cluster.memory_limit": "600MB",
            "cluster.dashboard_address": "127.0.0.1:0",
            "strategies": [{"name": s} for s in STRATEGIES],
            "output.write_equity": True,
            "metrics.annualization": 525_600,
        },
    )
    return run_nightly(settings, echo=lambda _m: None, progress=False)


def test_the_working_set_is_several_times_the_cluster_memory(capped_run):
    plan = capped_run.plan
    working_set = plan["bytes_per_bar"] * N_SYMBOLS * N_BARS
    assert working_set > 2 * WORKERS * LIMIT
    assert len(plan["batches"]) >= 10
    assert all(b["est_bytes"] <= plan["cap_bytes"] for b in plan["batches"])


def test_the_run_succeeds_with_every_bar_processed(capped_run):
    assert capped_run.status == "succeeded"
    assert capped_run.n_symbols == N_SYMBOLS
    assert capped_run.n_bars == N_SYMBOLS * N_BARS
    assert capped_run.n_rows_quarantined == 0


def test_no_worker_restarted(capped_run):
    # peak_rss is keyed by host:pid of the worker process that ran batches; a restarted
    # worker comes back as a new process and would add a key.
    assert 1 <= len(capped_run.peak_rss) <= WORKERS, sorted(capped_run.peak_rss)
