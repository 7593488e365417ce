"""Batch packing: memory caps, balance across threads, refusals, determinism."""

import pytest

from compute.planner import estimate_bytes_per_bar, plan_batches

MIB = 2**20


def _plan(rows, **kw):
    args = dict(bytes_per_bar=100, worker_memory=400 * MIB, n_threads=2)
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
    import numpy as np

    from compute.planner import infer_annualization

    year_us = 365.25 * 86_400e6
    daily = infer_annualization(
        np.array([2521, 2600]), np.array([0, 0]), np.array([10 * year_us] * 2)
    )
    hourly = infer_annualization(np.array([8767]), np.array([0]), np.array([year_us]))
    assert daily == 252.0
    assert hourly == 8766.0
    assert infer_annualization(np.array([1]), np.array([0]), np.array([0])) == 252.0
