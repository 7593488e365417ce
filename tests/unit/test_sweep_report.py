"""Stability of a combination against its grid neighbours, computed by hand on a 3 x 3 grid."""

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
