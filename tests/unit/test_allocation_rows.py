"""compute.allocation.rows_by_time: a batch's staged rows in time order, a group at a time."""

from __future__ import annotations

import numpy as np
import pytest

from compute import allocation
from compute.allocation import PortfolioRules
from compute.errors import ParameterError

DAY_US = 86_400_000_000


def _rows() -> dict[str, np.ndarray]:
    # three symbols with different calendars (one starts late, one misses a day)
    ts = [np.arange(6), np.arange(2, 6), np.array([0, 1, 3, 4, 5])]
    offsets = np.r_[0, np.cumsum([t.size for t in ts])]
    stamps = np.concatenate(ts).astype(np.int64) * DAY_US
    close = 10.0 + np.arange(stamps.size, dtype=np.float64)
    return allocation.batch_rows(
        stamps,
        close - 0.5,
        close,
        np.full(close.size, 1e3),
        close / 10,
        offsets,
        [7, 2, 5],
        PortfolioRules(top=1),
    )


@pytest.mark.parametrize("group_rows", [1, 4, 7, 15, 100])
def test_groups_join_into_the_stable_time_sort_of_the_rows(group_rows):
    rows = _rows()
    groups = list(allocation.rows_by_time(rows, group_rows))
    order = np.argsort(rows["timestamp"], kind="stable")
    assert [len(g["timestamp"]) for g in groups[:-1]] == [group_rows] * (len(groups) - 1)
    assert 0 < len(groups[-1]["timestamp"]) <= group_rows
    for name in allocation.ROW_FIELDS:
        joined = np.concatenate([g[name] for g in groups])
        np.testing.assert_array_equal(joined, rows[name][order], err_msg=name)
    # within a time the symbols keep their batch order: the walk's tie-break is unaffected
    first = groups[0]
    assert first["symbol"][: min(group_rows, 2)].tolist() == [7, 5][: min(group_rows, 2)]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_group_rows_must_be_a_positive_integer(bad):
    with pytest.raises(ParameterError, match="group_rows"):
        list(allocation.rows_by_time(_rows(), bad))


def test_features_no_rule_reads_are_not_computed():
    close = np.array([10.0, 11, 12, 11, 10, 12])
    volume = np.full(6, 1e3)
    plain = allocation.symbol_features(close, volume, [0, 6], PortfolioRules(top=1))
    assert sorted(plain) == ["vol"]
    assert np.isnan(plain["vol"]).all()
    filtered = allocation.symbol_features(
        close, volume, [0, 6], PortfolioRules(top=1, min_dollar_volume=1.0, min_history=2)
    )
    assert sorted(filtered) == ["adv", "history", "vol"]
    assert filtered["history"].tolist() == [1, 2, 3, 4, 5, 6]
