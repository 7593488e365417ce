"""A universe whose working set is several times the cluster's memory runs within the limits.

Two workers of 600 MB each (1.2 GB together) process 4 million one-minute bars with four
strategies and equity curves. Held at once, that is 3.0 GB by the planner's estimate
(760 B/bar) and about 2.3 GB by the calibrated measurement (numpy and Arrow peaks of a
batch: ~570 B/bar, bench/RESULTS.md), two to two and a half times the cluster's memory,
of which each worker process needs ~300 MiB for itself. The planner cuts the universe into
batches that fit below each worker's pause threshold next to that, so the run must finish
with no worker restarted and every worker's peak resident memory under its limit, clear of
the 95% at which Dask's nanny kills a worker.

The flow compiles every kernel the run uses in its own process before the first batch
(flows.nightly.warm_kernels), and this test relies on that: a worker that compiles keeps
over 100 MiB of compiler memory resident, which parks it above Dask's pause threshold
(measured: with workers compiling, a run made no progress for 14 minutes, both workers at
~510 MiB; with the warm-up, they peak at 380-410 MiB). ``peak_rss`` is each worker's own
peak (``VmHWM``, flows.tasks); the ``ru_maxrss`` it replaced also counted the peak of the
process that spawned the worker.

The run also holds a shared-cash portfolio over the whole universe (issue 15: "it must run
on the larger-than-memory test's setting"): its rows are staged by batch and its walk goes
through the 25,000-bar calendar in chunks sized from the worker's limit (1,953 bars), after
the batches, on the same two workers. The workers' peaks include that phase (read
from each worker after it), and the published portfolio must equal one in-process walk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from compute import synthetic
from flows.launch import run_nightly
from flows.settings import load_settings
from storage.bars import write_bars

pytestmark = pytest.mark.slow

N_SYMBOLS, N_BARS = 160, 25_000
WORKERS, LIMIT = 2, 600 * 10**6
STRATEGIES = ["momentum", "zscore", "ma_crossover", "bollinger"]
PORTFOLIO = {
    "label": "rotation",
    "score": {"indicator": "roc", "params": {"timeperiod": 90}},
    "top": 10,
    "rebalance": "every_bar",
    "drift": 0.02,
    "min_history": 90,
}
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


@pytest.fixture(scope="module")
def ltm_out(tmp_path_factory):
    return tmp_path_factory.mktemp("ltm-out")


@pytest.fixture(scope="module")
def capped_run(prefect_harness, minute_universe, ltm_out):
    settings = load_settings(
        None,
        overrides={
            "input.path": str(minute_universe),
            "output.path": str(ltm_out),
            "run.run_date": "2026-11-23",
            "run.report": False,
            "cluster.n_workers": WORKERS,
            "cluster.threads_per_worker": 1,
            "cluster.memory_limit": "600MB",
            "cluster.dashboard_address": "127.0.0.1:0",
            "strategies": [{"name": s} for s in STRATEGIES],
            "indicators": [],  # the planner estimate above counts no indicators
            "output.write_equity": True,
            "metrics.annualization": 525_600,
            "portfolio": [PORTFOLIO],
        },
    )
    return run_nightly(settings, echo=lambda _m: None, progress=False)


def test_the_working_set_is_several_times_the_cluster_memory(capped_run):
    plan = capped_run.plan
    assert plan["worker_memory"] == LIMIT
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


def test_every_worker_peaked_under_its_limit_and_far_from_being_killed(capped_run):
    # Dask's nanny kills a worker whose memory passes 95% of its limit; VmHWM also sees
    # short peaks that Dask's 100 ms sampling may miss.
    for worker, peak in capped_run.peak_rss.items():
        assert peak < LIMIT, f"{worker} peaked at {peak / 2**20:.0f} MiB"
        assert peak < TERMINATE_FRACTION * LIMIT, f"{worker} peaked at {peak / 2**20:.0f} MiB"


def test_the_portfolio_walked_in_chunks_equals_one_process(capped_run, minute_universe, ltm_out):
    from compute import allocation
    from flows import portfolio as fp
    from flows.settings import load_settings, portfolio_rules
    from storage.bars import load_bars

    assert [p["portfolio"] for p in capped_run.portfolios] == ["rotation"]
    assert fp.chunk_bars(N_SYMBOLS, N_BARS, LIMIT) < N_BARS // 4  # several chained walk tasks
    got = fp.read_portfolio_table(str(ltm_out), "portfolio_equity", "rotation", capped_run.run_key)
    got = got.sort_by("timestamp")
    settings = load_settings(None, overrides={"portfolio": [PORTFOLIO]})
    rules = portfolio_rules(settings.portfolio[0], settings.backtest)
    table = load_bars(str(minute_universe)).sort_by(
        [("symbol", "ascending"), ("timestamp", "ascending")]
    )
    offsets = np.arange(0, N_SYMBOLS * N_BARS + 1, N_BARS)
    cols = {f: table[f].to_numpy() for f in ("open", "high", "low", "close", "volume")}
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    del table
    score = allocation.compute_score(PORTFOLIO["score"], cols, offsets)
    ref = allocation.simulate_portfolio(
        ts, cols["open"], cols["close"], cols["volume"], score, offsets, rules
    )
    assert got.num_rows == N_BARS
    np.testing.assert_array_equal(got["equity"].to_numpy(), ref.result.bars["equity"])
    np.testing.assert_array_equal(got["cash"].to_numpy(), ref.result.bars["cash"])
    orders = fp.read_portfolio_table(
        str(ltm_out), "portfolio_orders", "rotation", capped_run.run_key
    )
    assert orders.num_rows == ref.result.orders["bar"].shape[0] > 100
