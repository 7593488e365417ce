"""Batch packing: memory caps, balance across threads, refusals, determinism; and the
bytes-per-bar estimate against the memory a real batch task allocates."""

import threading
import time
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest

from compute import indicators, pipeline, synthetic
from compute.planner import (
    ALLOCATOR_RETENTION,
    BATCH_FIXED_BYTES,
    PAUSE_FRACTION,
    WORKER_BASELINE_BYTES,
    batch_cap,
    describe_plan,
    estimate_bytes_per_bar,
    plan_batches,
)

MIB = 2**20


def _plan(rows, **kw):
    # Packing tests use a worker with no process memory of its own; the cap tests below
    # cover worker_reserved.
    args = dict(
        bytes_per_bar=100,
        worker_memory=400 * MIB,
        n_threads=2,
        worker_reserved=0,
        batch_fixed=0,
        retention=0.0,
    )
    args.update(kw)
    return plan_batches(rows, **args)


def test_every_symbol_lands_in_exactly_one_batch_or_is_refused():
    rows = {f"S{i:03d}": 1000 + 37 * i for i in range(250)}
    plan = _plan(rows)
    seen = [s for b in plan.batches for s in b.symbols]
    assert sorted(seen + list(plan.refused)) == sorted(rows)
    assert len(seen) == len(set(seen))


def test_batches_stay_under_the_memory_cap():
    rows = {f"S{i:03d}": 200_000 for i in range(40)}  # 20 MB each at 100 B/bar
    plan = _plan(rows, worker_memory=200 * MIB, memory_fraction=0.25)  # cap 50 MiB
    assert plan.cap_bytes == 50 * MIB
    assert all(b.est_bytes <= plan.cap_bytes for b in plan.batches)
    assert max(len(b.symbols) for b in plan.batches) == 2


def test_small_universe_is_split_for_every_thread():
    rows = {f"S{i:02d}": 100 for i in range(60)}
    plan = _plan(rows, n_threads=4, min_batches_per_thread=3)
    assert len(plan.batches) >= 12


def test_symbol_too_large_is_refused_with_reason_and_never_batched():
    plan = _plan({"HUGE": 10_000_000, "OK": 10}, worker_memory=100 * MIB)
    assert "HUGE" in plan.refused
    assert "over the batch cap" in plan.refused["HUGE"]
    assert [b.symbols for b in plan.batches] == [("OK",)]


def test_max_symbols_per_batch_is_respected():
    rows = {f"S{i:04d}": 1 for i in range(1000)}
    plan = _plan(rows, n_threads=1, min_batches_per_thread=1, max_symbols_per_batch=64)
    assert max(len(b.symbols) for b in plan.batches) == 64


def test_plan_is_deterministic_and_ordered_by_symbol():
    rows = {f"S{i:03d}": (i * 7919) % 5000 + 1 for i in range(300)}
    a, b = _plan(rows), _plan(dict(reversed(list(rows.items()))))
    assert a == b
    flat = [s for batch in a.batches for s in batch.symbols]
    assert flat == sorted(flat)


def test_empty_universe_gives_no_batches():
    plan = _plan({})
    assert plan.batches == ()
    assert plan.refused == {}


@pytest.mark.parametrize(("outs", "strats"), [(0, 0), (10, 4), (30, 1)])
def test_estimate_grows_with_outputs_and_strategies(outs, strats):
    base = estimate_bytes_per_bar(outs, strats)
    assert estimate_bytes_per_bar(outs + 1, strats) > base
    assert estimate_bytes_per_bar(outs, strats + 1) > base


def test_annualization_is_252_for_daily_and_observed_for_hourly():
    from compute.planner import infer_annualization

    year_us = 365.25 * 86_400e6
    daily = infer_annualization(
        np.array([2521, 2600]), np.array([0, 0]), np.array([10 * year_us] * 2)
    )
    hourly = infer_annualization(np.array([8767]), np.array([0]), np.array([year_us]))
    assert daily == 252.0
    assert hourly == 8766.0
    assert infer_annualization(np.array([1]), np.array([0]), np.array([0])) == 252.0


# --- the cap: a fraction of the limit, and the room the worker process leaves ---------------


def test_cap_is_the_memory_fraction_when_the_worker_has_room():
    cap = batch_cap(2000 * MIB, memory_fraction=0.25, worker_reserved=300 * MIB)
    assert cap == 500 * MIB


def test_cap_leaves_room_for_the_worker_process_below_the_pause_threshold():
    cap = batch_cap(500 * MIB, memory_fraction=0.25, worker_reserved=320 * MIB, retention=0.0)
    assert cap == int(PAUSE_FRACTION * 500 * MIB - 320 * MIB)
    assert 320 * MIB + cap <= PAUSE_FRACTION * 500 * MIB


def test_cap_leaves_room_for_what_earlier_batches_leave_in_the_allocator():
    kept = batch_cap(600 * MIB, memory_fraction=1.0, worker_reserved=300 * MIB, retention=1.0)
    assert 300 * MIB + kept + 1.0 * kept <= PAUSE_FRACTION * 600 * MIB
    released = batch_cap(600 * MIB, memory_fraction=1.0, worker_reserved=300 * MIB, retention=0)
    assert released == 2 * kept


def test_cap_is_shared_by_the_threads_of_a_worker():
    one = batch_cap(1000 * MIB, memory_fraction=1.0, worker_reserved=200 * MIB)
    two = batch_cap(
        1000 * MIB, memory_fraction=1.0, worker_reserved=200 * MIB, threads_per_worker=2
    )
    assert two == one // 2


def test_a_batch_costs_its_fixed_buffers_plus_its_bars():
    plan = _plan({"A": 1000, "B": 3000}, batch_fixed=5 * MIB, n_threads=1, min_batches_per_thread=1)
    assert [b.est_bytes for b in plan.batches] == [5 * MIB + 4000 * 100]
    plan = _plan({"A": 10}, batch_fixed=5 * MIB, worker_memory=20 * MIB)  # cap 5 MiB
    assert plan.batches == ()
    assert "no room for a batch" in plan.refused["A"]


def test_plan_uses_the_default_worker_baseline():
    plan = plan_batches(
        {"A": 10}, bytes_per_bar=100, worker_memory=600 * MIB, n_threads=2, memory_fraction=1.0
    )
    room = PAUSE_FRACTION * 600 * MIB - WORKER_BASELINE_BYTES
    assert plan.cap_bytes == int(room / (1 + ALLOCATOR_RETENTION))


def test_limit_too_small_for_any_batch_refuses_every_symbol_and_names_a_workable_limit():
    plan = plan_batches({"A": 10, "B": 20}, bytes_per_bar=100, worker_memory=300 * MIB, n_threads=2)
    assert plan.batches == ()
    assert sorted(plan.refused) == ["A", "B"]
    message = plan.refused["A"]
    assert "300 MiB leaves no room for a batch" in message
    assert "--memory-limit" in message


def test_a_memory_fraction_too_small_for_any_batch_is_named_with_a_workable_fraction():
    plan = plan_batches(
        {"A": 10}, bytes_per_bar=100, worker_memory=2000 * MIB, n_threads=2, memory_fraction=0.01
    )
    assert plan.no_room
    assert plan.refused["A"].startswith(
        "batches.memory_fraction = 0.01 of the worker memory limit of 2000 MiB leaves no room"
    )
    assert "raise batches.memory_fraction to at least 0.04" in plan.refused["A"]
    enough = plan_batches(
        {"A": 10}, bytes_per_bar=100, worker_memory=2000 * MIB, n_threads=2, memory_fraction=0.04
    )
    assert [b.symbols for b in enough.batches] == [("A",)]


def test_refusal_of_a_large_symbol_names_the_cap_and_time_chunking():
    plan = _plan({"HUGE": 10_000_000}, worker_memory=100 * MIB)
    assert "over the batch cap of 25 MiB" in plan.refused["HUGE"]
    assert "time chunks" in plan.refused["HUGE"]
    assert "so it is quarantined" in plan.refused["HUGE"]
    assert not plan.no_room


def test_refusal_names_the_setting_that_binds_the_cap():
    by_fraction = _plan({"HUGE": 10_000_000}, worker_memory=100 * MIB)  # 0.25 x 100 MiB
    assert by_fraction.refused["HUGE"].endswith(
        "raise batches.memory_fraction or the worker memory limit (--memory-limit)"
    )
    by_room = plan_batches(  # 0.8 x 600 - 320 MiB, over 2 for retention: 80 MiB < 0.25 x 600
        {"HUGE": 10_000_000}, bytes_per_bar=100, worker_memory=600 * MIB, n_threads=2
    )
    assert by_room.refused["HUGE"].endswith("raise the worker memory limit (--memory-limit)")


def test_no_room_is_set_only_when_the_limit_leaves_no_room_for_any_batch():
    none = plan_batches({"A": 10}, bytes_per_bar=100, worker_memory=300 * MIB, n_threads=2)
    assert none.no_room
    assert none.reason == none.refused["A"]
    some = plan_batches({"A": 10}, bytes_per_bar=100, worker_memory=600 * MIB, n_threads=2)
    assert not some.no_room
    line = describe_plan(none, n_workers=1, threads_per_worker=1)
    assert line.endswith("; the limit leaves no room for any batch")


def test_plan_dict_names_each_batchs_first_and_last_symbol_and_the_worker_limit():
    rows = {f"S{i:02d}": 100 for i in range(10)}
    plan = _plan(rows, n_threads=1, min_batches_per_thread=2)
    as_dict = plan.to_dict()
    assert as_dict["worker_memory"] == 400 * MIB
    assert [(b["first_symbol"], b["last_symbol"]) for b in as_dict["batches"]] == [
        ("S00", "S04"),
        ("S05", "S09"),
    ]


def test_describe_plan_says_batches_cap_cluster_and_refusals_in_one_line():
    plan = _plan({"A": 1000, "B": 1000, "HUGE": 10_000_000}, worker_memory=100 * MIB)
    line = describe_plan(plan, n_workers=2, threads_per_worker=1)
    assert line.startswith("plan: 2 batch(es) of <= 0.1 MiB (cap 25.0 MiB, 100 B/bar)")
    assert "for 2 worker(s) x 1 thread(s) (100 MiB limit)" in line
    assert line.endswith("; 1 symbol(s) refused as too large for a worker")
    assert "\n" not in line


def test_batches_never_exceed_the_cap_unless_one_symbol_fills_it():
    rng = np.random.default_rng(4)
    rows = {f"S{i:03d}": int(n) for i, n in enumerate(rng.integers(1, 400_000, 300))}
    plan = _plan(rows, worker_memory=160 * MIB, n_threads=4)
    assert all(b.est_bytes <= plan.cap_bytes for b in plan.batches)
    assert len(plan.batches) >= 4 * 3


def test_plan_reason_says_how_the_cap_was_chosen():
    plan = _plan({"A": 1000})
    assert "B/bar" in plan.reason
    assert "per worker" in plan.reason
    assert plan.to_dict()["cap_bytes"] == plan.cap_bytes


# --- the estimate against a measured batch task ---------------------------------------------


def test_equity_and_computed_outputs_add_to_the_estimate():
    base = estimate_bytes_per_bar(0, 1, with_equity=False)
    assert estimate_bytes_per_bar(0, 1, with_equity=True) > base
    assert estimate_bytes_per_bar(3, 1, with_equity=False) > base


@pytest.fixture(scope="module")
def minute_bars(tmp_path_factory):
    from storage.bars import write_bars

    root = tmp_path_factory.mktemp("planner") / "bars"
    n = 50_000

    def chunks():
        for i, name in enumerate(synthetic.symbol_names(5)):
            b = synthetic.generate_symbol(n, 9, freq="1min", index=i)
            yield pa.table(
                {
                    "symbol": pa.array([name] * n, pa.string()),
                    "timestamp": pa.array(b["timestamp"], pa.timestamp("us", tz="UTC")),
                    **{f: b[f] for f in ("open", "high", "low", "close", "volume")},
                }
            )

    write_bars(chunks(), root)
    return root


def _job(root, out, batch, symbols, strategies, equity, inds):
    from flows.settings import OutputConfig
    from flows.tasks import BatchJob

    return BatchJob(
        run_id="calibration",
        batch=batch,
        symbols=tuple(symbols),
        input_path=str(root),
        input_options={},
        output=OutputConfig(path=str(out), write_equity=equity),
        start=None,
        end=None,
        min_bars=40,
        indicators=tuple(pipeline.IndicatorRequest(n) for n in inds),
        strategies=tuple(pipeline.StrategyRequest(s) for s in strategies),
        backtest={"direction": "long_short", "fees_bps": 1.0, "slippage_bps": 1.0},
        annualization=525_600.0,
        risk_free=0.0,
        write_indicators=bool(inds),
    )


def _measured_peak(job) -> tuple[int, int]:
    """Rows in, and numpy's peak allocations plus Arrow's peak allocated bytes."""
    from flows.tasks import process_batch

    arrow_base = pa.total_allocated_bytes()
    arrow_peak = [arrow_base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            arrow_peak[0] = max(arrow_peak[0], pa.total_allocated_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    tracemalloc.start()
    thread.start()
    try:
        summary = process_batch(job)
    finally:
        stop.set()
        thread.join()
        _, numpy_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return summary["n_rows_in"], numpy_peak + arrow_peak[0] - arrow_base


@pytest.mark.parametrize(
    ("strategies", "equity", "inds"),
    [
        (["momentum"], True, []),
        (["momentum", "zscore", "ma_crossover", "bollinger"], True, []),
        (["momentum", "zscore", "ma_crossover", "bollinger"], False, []),
        (["zscore"], False, ["macd", "bbands", "rsi"]),
    ],
    ids=["momentum-equity", "four-equity", "four-no-equity", "zscore-indicators"],
)
def test_estimate_covers_a_measured_batch_without_being_loose(
    minute_bars, tmp_path, strategies, equity, inds
):
    from flows.tasks import process_batch

    symbols = synthetic.symbol_names(5)
    process_batch(_job(minute_bars, tmp_path, 0, symbols[:1], strategies, equity, inds))  # warm
    n_bars, measured = _measured_peak(
        _job(minute_bars, tmp_path, 1, symbols[1:], strategies, equity, inds)
    )
    n_outputs = sum(len(indicators.spec(n).outputs) for n in inds)
    per_bar = estimate_bytes_per_bar(n_outputs, len(strategies), with_equity=equity)
    estimate = BATCH_FIXED_BYTES + per_bar * n_bars
    assert n_bars == 4 * 50_000
    assert measured <= estimate, f"measured {measured / n_bars:.0f} B/bar > estimate"
    assert estimate <= 2.5 * measured, f"estimate {estimate / measured:.1f}x the measurement"
