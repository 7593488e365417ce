"""Walk-forward: fold plans, selection against a brute-force argmax, stitched equity, and
per-block moments for PBO."""

from __future__ import annotations

import numpy as np
import pytest

from compute import backtest, metrics, stats, strategies
from compute.errors import ParameterError
from compute.sweep import evaluate_chunk, parse_space
from compute.sweep.walkforward import Fold, fold_windows, plan_folds, stitch_equity, walk_forward
from tests.datasets import real_daily, synthetic_rough

FIELDS = ("open", "high", "low", "close", "volume")
BASE = {"fees_bps": 2.0}


def _batch():
    a = {f: v[-1000:] for f, v in real_daily("MSFT").items()}
    b = {f: v[300:1100] for f, v in synthetic_rough(1300, seed=4).items()}
    arrays = {f: np.concatenate([a[f], b[f]]) for f in FIELDS}
    offsets = np.array([0, 1000, 1800], dtype=np.int64)
    # the second symbol starts 200 days later (a different calendar)
    ts = np.concatenate([np.arange(1000), np.arange(200, 1000)]).astype(np.int64) * 86_400
    return arrays, offsets, ts


ARRAYS, OFFSETS, TS = _batch()
TIMELINE = np.unique(TS)
SPACE = parse_space(
    {
        "name": "ma_crossover",
        "params": {"short_window": [3, 5, 10, 20], "long_window": [15, 30, 60]},
        "constraints": ["short_window < long_window"],
    }
)


def test_plan_folds_hand_computed():
    assert plan_folds(100, 30, 20) == [
        Fold(0, 0, 30, 30, 50),
        Fold(1, 20, 50, 50, 70),
        Fold(2, 40, 70, 70, 90),
    ]
    anchored = plan_folds(100, 30, 20, 25, anchored=True, purge=5, embargo=2)
    assert anchored == [Fold(0, 0, 25, 32, 52), Fold(1, 0, 50, 57, 77)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bars": 100, "train": 30, "test": 20, "step": 10}, "step must be an integer >= test"),
        ({"n_bars": 40, "train": 30, "test": 20}, "hold no fold"),
        ({"n_bars": 100, "train": 30, "test": 20, "purge": 29}, "fewer than 2 training bars"),
        ({"n_bars": 100, "train": 30, "test": 1}, "test must be an integer >= 2"),
    ],
)
def test_plan_folds_refuses_bad_plans(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        plan_folds(**kwargs)


def test_fold_windows_follow_each_symbols_calendar():
    folds = plan_folds(TIMELINE.shape[0], 300, 200)
    start, end = fold_windows(TS, OFFSETS, TIMELINE, folds)
    assert len(folds) == 3
    # symbol 0 has every day; symbol 1 starts on day 200
    assert start[:3, 0].tolist() == [0, 200, 400]
    assert end[:3, 0].tolist() == [300, 500, 700]
    assert start[:3, 1].tolist() == [0, 0, 200]
    assert end[:3, 1].tolist() == [100, 300, 500]
    assert start[3:, 1].tolist() == [100, 300, 500]
    assert end[3:, 1].tolist() == [300, 500, 700]


@pytest.mark.parametrize("selection", ["per_symbol", "universe"])
def test_selection_equals_brute_force_argmax_whatever_the_chunking(selection):
    folds = plan_folds(TIMELINE.shape[0], 300, 200)
    windows = fold_windows(TS, OFFSETS, TIMELINE, folds)
    combos = SPACE.chunk(0, 1000)
    rows = evaluate_chunk(ARRAYS, OFFSETS, combos, backtest_params=BASE, windows=windows)
    sharpe = np.nan_to_num(rows[:, :3, :, 3], nan=-np.inf)
    if selection == "universe":
        med = np.median(sharpe, axis=2)
        want = np.repeat(np.argmax(med, axis=0)[:, None], 2, axis=1)
    else:
        want = np.argmax(sharpe, axis=0)
    results = [
        walk_forward(
            ARRAYS,
            OFFSETS,
            windows,
            SPACE,
            selection=selection,
            chunk_size=size,
            backtest_params=BASE,
        )
        for size in (2, 5, 1000)
    ]
    for res in results:
        assert np.array_equal(res.chosen, combos.ids[want])
        assert res.n_combinations == len(combos)
        for f in range(3):
            for s in range(2):
                assert np.array_equal(
                    res.out_of_sample[f, s], rows[want[f, s], 3 + f, s], equal_nan=True
                )
                assert np.array_equal(res.in_sample[f, s], rows[want[f, s], f, s], equal_nan=True)
    if selection == "universe":
        assert np.all(results[0].chosen[:, 0] == results[0].chosen[:, 1])


def test_stitched_equity_chains_the_out_of_sample_windows():
    folds = plan_folds(TIMELINE.shape[0], 300, 200)
    windows = fold_windows(TS, OFFSETS, TIMELINE, folds)
    res = walk_forward(ARRAYS, OFFSETS, windows, SPACE, backtest_params=BASE)
    curves = stitch_equity(ARRAYS, OFFSETS, windows, res, "ma_crossover", BASE)
    start, end = windows
    for s, (idx, eq) in enumerate(curves):
        assert idx.tolist() == [i for f in range(3) for i in range(start[3 + f, s], end[3 + f, s])]
        assert eq[0] == 10_000.0
        # the final value compounds the folds' out-of-sample total returns from the kernel
        growth = np.prod(1.0 + res.out_of_sample[:, s, 0])
        assert eq[-1] == pytest.approx(10_000.0 * growth, rel=1e-12)


def test_block_moments_match_the_nightly_equity():
    combos = SPACE.chunk(0, 4)
    rows, mom = evaluate_chunk(ARRAYS, OFFSETS, combos, backtest_params=BASE, n_blocks=4)
    assert mom.shape == (len(combos), 1, 2, 4, 5)
    for c in range(len(combos)):
        params, bt = combos.row(c)
        for s in range(2):
            seg = {f: ARRAYS[f][OFFSETS[s] : OFFSETS[s + 1]] for f in FIELDS}
            target = strategies.compute("ma_crossover", seg, **params)
            sim = backtest.simulate(*(seg[f] for f in FIELDS[:4]), target, **BASE, **bt)
            r = metrics.returns_from_equity(sim.equity)
            size = r.shape[0] // 4
            blocks = r[r.shape[0] - 4 * size :].reshape(4, size)
            assert np.array_equal(mom[c, 0, s, :, 0], np.full(4, size))
            assert np.allclose(mom[c, 0, s, :, 1], blocks.sum(axis=1), rtol=1e-12, atol=1e-15)
            for k in (2, 3, 4):
                want = (blocks**k).sum(axis=1)
                assert np.allclose(mom[c, 0, s, :, k], want, rtol=1e-12, atol=1e-30)
            sharpe, skew, kurt, n = stats.moments(blocks.ravel())
            pooled = stats.pooled_moments(*mom[c, 0, s].sum(axis=0))
            assert pooled[3] == n
            assert np.allclose(pooled[:3], (sharpe, skew, kurt), rtol=1e-9, equal_nan=True)
    # and they feed PBO directly: trials are the combinations, on one symbol
    res = stats.pbo_from_moments(*(mom[:, 0, 0, :, k].T for k in range(3)))
    assert res.n_splits == 6
    assert 0.0 <= res.pbo <= 1.0


def test_universe_choice_from_split_batches_equals_one_batch():
    """The two-pass universe selection (scores per batch, medians per chunk over every
    symbol, choice over chunks) picks what ``walk_forward`` picks on one batch, and with the
    choice fixed each symbol gets the same rows."""
    import pyarrow as pa

    from compute.sweep import tables
    from compute.sweep.walkforward import choose_universe

    folds = plan_folds(TIMELINE.shape[0], 300, 100, 150)
    windows = fold_windows(TS, OFFSETS, TIMELINE, folds)
    whole = walk_forward(ARRAYS, OFFSETS, windows, SPACE, selection="universe", chunk_size=4)
    bounds = [
        tuple(int(TIMELINE[i]) * 10**6 if i < TIMELINE.shape[0] else int(TIMELINE[-1] + 1) * 10**6
              for i in (f.train_start, f.train_end, f.test_start, f.test_end))
        for f in folds
    ]  # fmt: skip
    stamps = pa.chunked_array([pa.array(TS * 10**6, pa.timestamp("us", tz="UTC"))])
    halves = []
    for s in range(2):  # each symbol its own batch
        lo, hi = OFFSETS[s], OFFSETS[s + 1]
        one = {f: v[lo:hi] for f, v in ARRAYS.items()}
        offs = np.array([0, hi - lo], dtype=np.int64)
        halves.append((one, offs, stamps[lo:hi]))
    scores = [
        list(tables.walkforward_scores(SPACE, [f"S{s}"], offs, one, ts, bounds, chunk_size=4))
        for s, (one, offs, ts) in enumerate(halves)
    ]
    medians = [
        tables.universe_chunk([scores[0][k], scores[1][k]], len(folds))
        for k in range(len(scores[0]))
    ]
    chosen = choose_universe(medians, len(folds))
    assert (chosen >= 0).all()
    np.testing.assert_array_equal(chosen, whole.chosen[:, 0])
    np.testing.assert_array_equal(chosen, whole.chosen[:, 1])
    for s, (one, offs, _) in enumerate(halves):
        mine = fold_windows(TS[OFFSETS[s] : OFFSETS[s + 1]], offs, TIMELINE, folds)
        res = walk_forward(one, offs, mine, SPACE, chunk_size=4, chosen=chosen)
        np.testing.assert_array_equal(res.in_sample[:, 0], whole.in_sample[:, s])
        np.testing.assert_array_equal(res.out_of_sample[:, 0], whole.out_of_sample[:, s])


def test_universe_choice_ties_go_to_the_lowest_id_and_nothing_finite_is_none():
    from compute.sweep.walkforward import choose_universe

    nan = np.nan
    chunks = [
        (np.array([0, 1]), np.array([[1.0, nan], [2.0, nan]])),
        (np.array([4, 5]), np.array([[2.0, nan], [0.5, nan]])),  # 4 ties with 1: 1 stays
    ]
    np.testing.assert_array_equal(choose_universe(chunks, 2), [1, -1])
