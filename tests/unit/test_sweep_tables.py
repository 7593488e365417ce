"""Sweep summaries by hand: grid-neighbour stability, per-combination reduction, statistics."""

from __future__ import annotations

import numpy as np

from compute.sweep import parse_space
from flows.sweep_report import _neighbour_mean


def test_neighbour_mean_hand_computed():
    space = parse_space(
        {"name": "zscore", "params": {"window": [5, 10, 20], "threshold": [1.0, 2.0, 3.0]}}
    )
    ids = np.arange(9)  # window-major: id = 3 * window index + threshold index
    med = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan])
    got = _neighbour_mean(space, ids, med)
    assert got[0] == (2.0 + 4.0) / 2  # corner: right and below
    assert got[4] == (2.0 + 4.0 + 6.0 + 8.0) / 4  # centre: four neighbours
    assert got[5] == (3.0 + 5.0) / 2  # id 8 is NaN and left out
    sampled = parse_space(
        {
            "name": "zscore",
            "params": {"threshold": {"distribution": "uniform", "low": 1, "high": 2}},
            "samples": 4,
        }
    )
    assert np.isnan(_neighbour_mean(sampled, np.arange(4), np.ones(4))).all()


def test_summarise_chunk_hand_computed():
    import pyarrow as pa

    from compute.sweep.tables import space_statistics, summarise_chunk

    # two combinations x three symbols, rows in any order
    t = pa.table(
        {
            "sweep_id": ["s"] * 6,
            "symbol": ["a", "b", "c", "a", "b", "c"],
            "strategy": ["zscore"] * 6,
            "combo_id": [7, 7, 7, 2, 2, 2],
            "window": [10, 10, 10, 5, 5, 5],
            "sharpe_ratio": [1.0, 3.0, np.nan, -1.0, 0.5, 2.0],
            "total_return": [0.1, -0.2, 0.0, 0.3, 0.2, -0.1],
            "n_trades": [1, 2, 3, 4, 5, 6],
            "n_bars": [100] * 6,
            "block_moments": pa.FixedSizeListArray.from_arrays(
                pa.array(np.arange(6 * 2 * 5, dtype=float)), 10
            ),
        }
    )
    summary, ids, moments = summarise_chunk(t, 2)
    assert ids.tolist() == [2, 7]
    assert summary["window"].to_pylist() == [5, 10]
    assert summary["median_sharpe"].to_pylist() == [0.5, 2.0]  # NaN left out
    assert summary["mean_sharpe"].to_pylist() == [0.5, 2.0]
    assert summary["share_positive_return"].to_pylist() == [2 / 3, 1 / 3]
    assert summary["total_trades"].to_pylist() == [15, 6]
    assert summary["n_symbols"].to_pylist() == [3, 3]
    # moments pooled over symbols: combination 2 is rows 3..5 of the flat (6, 2, 5) array
    flat = np.arange(60, dtype=float).reshape(6, 2, 5)
    assert np.array_equal(moments[0], flat[3:].sum(axis=0))
    assert np.array_equal(moments[1], flat[:3].sum(axis=0))

    # statistics: 4 combinations of pooled returns over 2 blocks; the best by pooled Sharpe
    rng = np.random.default_rng(1)
    r = rng.normal(0.001, 0.01, (4, 2, 50))
    r[3] += 0.004
    mom = np.stack([np.full((4, 2), 50.0), *(np.sum(r**k, axis=2) for k in (1, 2, 3, 4))], axis=2)
    res = space_statistics(np.array([10, 11, 12, 13]), mom)
    assert res["best_combo_id"] == 13
    assert res["pbo_splits"] == 2
    assert 0.0 <= res["deflated_sharpe_ratio"] <= 1.0
