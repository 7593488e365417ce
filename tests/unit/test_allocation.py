"""Portfolio rules computed by hand, chunking, schedules and validation.

The rules vectorbt also has are checked against it in test_allocation_vs_vectorbt.py; here
are the ones it has no equivalent for (drift, caps, filters, ties, signal-change
rebalancing) and the walk's own guarantees (chunking changes nothing, state in and out).
"""

from __future__ import annotations

import numpy as np
import pytest

from compute import allocation
from compute.allocation import PortfolioRules, PortfolioState
from compute.errors import ParameterError

NAN = np.nan
DELAYED = allocation.ORDER_REASONS.index("delayed")
REBALANCE = allocation.ORDER_REASONS.index("rebalance")


def _walk(open_, close, score, rebalance, rules, *, eligible=None, vol=None, state=None):
    open_ = np.asarray(open_, dtype=float)
    close = np.asarray(close, dtype=float)
    score = np.asarray(score, dtype=float)
    if eligible is None:
        eligible = ~np.isnan(close)
    if vol is None:
        vol = np.ones_like(close)
    if state is None:
        state = PortfolioState.initial(close.shape[1], rules.init_cash)
    return allocation.walk_chunk(open_, close, score, eligible, vol, rebalance, state, rules)


def _orders(result):
    o = result.orders
    return [
        (int(o["bar"][i]), int(o["symbol"][i]), int(o["side"][i]), float(o["quantity"][i]))
        for i in range(o["bar"].shape[0])
    ]


def test_buys_that_would_overdraw_are_cut_to_the_cash_left():
    # two buys of equal value; the second (higher symbol index) no longer fits after fees
    rules = PortfolioRules(top=2, rebalance="every_bar", fees_bps=100, init_cash=1000)
    open_ = [[10.0, 20.0], [10.0, 20.0]]
    res, state = _walk(open_, open_, [[1.0, 1.0], [1.0, 1.0]], [True, False], rules)
    o = res.orders
    assert o["bar"].tolist() == [1, 1]
    assert o["symbol"].tolist() == [0, 1]
    assert o["quantity"][0] == 50.0  # 500 of A, fee 5: cash 495 left
    assert o["fees"][0] == pytest.approx(5.0, rel=1e-15)
    spend = 495.0 / 1.01
    assert o["quantity"][1] == pytest.approx(spend / 20.0, rel=1e-15)
    assert o["requested_quantity"][1] == 25.0
    assert o["fees"][1] == pytest.approx(495.0 - spend, rel=1e-12)
    assert state.cash == 0.0
    assert res.bars["cash"].tolist() == [1000.0, 0.0]


def test_sells_fill_before_buys_and_release_cash():
    rules = PortfolioRules(top=1, rebalance="every_bar", init_cash=1000)
    open_ = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]])
    score = np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 2.0]])  # switch from A to B at bar 1
    res, state = _walk(open_, open_, score, [True, True, False], rules)
    assert _orders(res) == [(1, 0, 1, 100.0), (2, 0, -1, 100.0), (2, 1, 1, 100.0)]
    assert state.position.tolist() == [0.0, 100.0]


def test_a_symbol_without_a_bar_keeps_its_position_and_fills_at_its_next_bar():
    rules = PortfolioRules(top=1, rebalance="every_bar", init_cash=1000)
    open_ = np.array([[10.0, 10.0], [10.0, 10.0], [11.0, NAN], [12.0, 12.0]])
    close = open_.copy()
    score = np.array([[1.0, 2.0], [2.0, 1.0], [2.0, NAN], [2.0, 1.0]])
    res, state = _walk(open_, close, score, [True, True, False, False], rules)
    # bar 1: all cash into B (100 units). Decided at bar 1: A instead of B. At bar 2 B has no
    # bar: it stays held (marked at its last close, 10) and A's buy finds no cash, so it is
    # skipped. B is sold at its next bar, 3, at that bar's open, as a delayed order.
    assert _orders(res) == [(1, 1, 1, 100.0), (3, 1, -1, 100.0)]
    assert res.orders["reason"].tolist() == [REBALANCE, DELAYED]
    assert res.bars["n_holdings"].tolist() == [0, 1, 1, 0]
    assert res.bars["equity"].tolist() == [1000.0, 1000.0, 1000.0, 1200.0]
    assert state.cash == 1200.0
    assert state.position.tolist() == [0.0, 0.0]


def test_drift_threshold_skips_small_resizes_but_never_entries_or_exits():
    rules = PortfolioRules(top=2, rebalance="every_bar", init_cash=1000, drift=0.02)
    open_ = np.array([[10.0, 10.0], [10.0, 10.0], [10.2, 10.0], [12.0, 10.0]])
    score = np.ones_like(open_)
    res, _ = _walk(open_, open_, score, [True, True, True, False], rules)
    bars = res.orders["bar"].tolist()
    # bar 1: two entries; bar 2: weight of A is 1020/2020 = 0.505 (< 0.02 off): no order;
    # bar 3: A at 12 weighs 1200/2200 = 0.545: both resized
    assert bars == [1, 1, 3, 3]
    tight, _ = _walk(
        open_,
        open_,
        score,
        [True, True, True, False],
        PortfolioRules(top=2, rebalance="every_bar", init_cash=1000, drift=0.001),
    )
    assert tight.orders["bar"].tolist().count(2) == 2


def test_ties_go_to_the_symbol_that_sorts_first_and_ascending_swaps_the_order():
    rules = PortfolioRules(top=2, rebalance="every_bar", init_cash=900)
    open_ = np.full((2, 4), 10.0)
    score = np.array([[1.0, 3.0, 3.0, 3.0], [0, 0, 0, 0]])
    res, state = _walk(open_, open_, score, [True, False], rules)
    assert sorted(res.orders["symbol"].tolist()) == [1, 2]
    low = PortfolioRules(top=2, ascending=True, rebalance="every_bar", init_cash=900)
    res, state = _walk(open_, open_, score, [True, False], low)
    assert sorted(res.orders["symbol"].tolist()) == [0, 1]


def _weights(rules, score, vol=None, eligible=None):
    n = len(score)
    open_ = np.full((2, n), 10.0)
    res, state = _walk(
        open_,
        open_,
        np.array([score, score], dtype=float),
        [True, False],
        rules,
        vol=None if vol is None else np.array([vol, vol], dtype=float),
        eligible=None if eligible is None else np.array([eligible, eligible]),
    )
    return state.selection.tolist(), res.holdings


def test_max_weight_spreads_the_excess_over_the_others():
    rules = PortfolioRules(
        top=3, weighting="inverse_vol", max_weight=0.4, rebalance="every_bar", init_cash=1000
    )
    _, holdings = _weights(rules, [1.0, 1.0, 1.0], vol=[0.04, 0.04, 0.01])
    # raw 25, 25, 100 -> 1/6, 1/6, 2/3; the last is capped at 0.4 and 0.6 is split evenly
    np.testing.assert_allclose(holdings["target_weight"], [0.3, 0.3, 0.4], rtol=1e-15)


def test_net_exposure_cap_scales_down_the_larger_leg():
    rules = PortfolioRules(
        select="signal",
        direction="long_short",
        max_net_exposure=0.25,
        rebalance="every_bar",
        init_cash=1000,
    )
    side, holdings = _weights(rules, [1.0, 1.0, 1.0, -1.0])
    assert side == [1, 1, 1, -1]
    # equal weights 0.25 each: net 0.5 > 0.25, so longs scale to (0.25 + 0.25) / 0.75
    np.testing.assert_allclose(holdings["target_weight"], [1 / 6, 1 / 6, 1 / 6, -0.25], rtol=1e-14)


def test_max_positions_keeps_the_best_ranked_and_score_weights_are_proportional():
    rules = PortfolioRules(
        top=4, max_positions=3, weighting="score", rebalance="every_bar", init_cash=1000
    )
    side, holdings = _weights(rules, [1.0, 4.0, 2.0, 3.0, 0.5])
    assert side == [0, 1, 1, 1, 0]
    np.testing.assert_allclose(holdings["target_weight"], [4 / 9, 2 / 9, 3 / 9], rtol=1e-14)


def test_filters_exclude_cheap_illiquid_and_young_symbols():
    rules = PortfolioRules(
        top=5,
        min_price=5.0,
        min_dollar_volume=1e6,
        dollar_volume_window=3,
        min_history=4,
        rebalance="every_bar",
    )
    close = np.array([[10.0, 10, 10, 10, 10], [4.0, 4, 4, 4, 4], [10.0, 10, 10, 10, 10]]).ravel()
    volume = np.array([[2e5] * 5, [2e5] * 5, [1e4] * 5]).ravel()
    offsets = [0, 5, 10, 15]
    feats = allocation.symbol_features(close, volume, offsets, rules)
    ok = allocation.eligibility(close, feats, rules)
    # symbol 0 passes from its 4th bar (history), 1 is too cheap, 2 trades 1e5 a day
    assert ok.tolist() == [False] * 3 + [True] * 2 + [False] * 10
    np.testing.assert_allclose(feats["adv"][2:5], [2e6, 2e6, 2e6])
    assert np.isnan(feats["adv"][:2]).all()


def test_inverse_vol_feature_is_the_sample_std_of_returns():
    rules = PortfolioRules(top=1, weighting="inverse_vol", vol_window=3)
    close = np.array([10.0, 11.0, 10.5, 10.8, 11.5])
    feats = allocation.symbol_features(close, np.ones(5), [0, 5], rules)
    r = close[1:] / close[:-1] - 1
    assert np.isnan(feats["vol"][:3]).all()
    np.testing.assert_allclose(feats["vol"][3:], [np.std(r[0:3], ddof=1), np.std(r[1:4], ddof=1)])


def test_whole_lots_round_quantities_down():
    rules = PortfolioRules(top=1, rebalance="every_bar", init_cash=1000, lot_size=10)
    open_ = np.full((2, 1), 30.0)
    res, state = _walk(open_, open_, np.ones((2, 1)), [True, False], rules)
    assert res.orders["quantity"].tolist() == [30.0]  # 33.3 units -> 3 lots of 10
    assert state.cash == 100.0


def test_signal_rebalance_decides_only_when_the_selection_changes():
    rules = PortfolioRules(select="signal", rebalance="signal", init_cash=1000)
    targets = np.array([[1, 0], [1, 0], [1, 1], [1, 1], [0, 1], [0, 1]], dtype=float)
    open_ = np.full(targets.shape, 10.0)
    sched = allocation.rebalance_schedule(np.arange(6), "signal")
    res, _ = _walk(open_, open_, targets, sched, rules)
    # decisions at bars 0, 2, 4 -> fills at 1, 3, 5; no order while the selection holds
    assert sorted(set(res.orders["bar"].tolist())) == [1, 3, 5]
    assert res.holdings["target_weight"][res.holdings["bar"] == 3].tolist() == [0.5, 0.5]


def test_weekly_and_monthly_schedules_mark_the_first_bar_of_each_period():
    days = np.array(
        [
            "2024-01-29",
            "2024-01-31",
            "2024-02-01",
            "2024-02-02",
            "2024-02-05",
            "2024-02-06",
            "2024-03-04",
        ],
        dtype="datetime64[D]",
    )
    us = days.astype("datetime64[us]").astype(np.int64)
    monthly = allocation.rebalance_schedule(us, "monthly")
    weekly = allocation.rebalance_schedule(us, "weekly")
    assert monthly.tolist() == [True, False, True, False, False, False, True]
    assert weekly.tolist() == [True, False, False, False, True, False, True]
    # a stretch of calendar that continues the previous bar's month starts no period
    cont = allocation.rebalance_schedule(us[1:], "monthly", previous_us=int(us[0]))
    assert cont.tolist() == monthly[1:].tolist()


def _universe(seed=3, n_sym=9, n_bars=260):
    rng = np.random.default_rng(seed)
    base = np.datetime64("2022-01-03", "D")
    cols = {k: [] for k in ("ts", "open", "close", "volume", "score")}
    offsets = [0]
    for s in range(n_sym):
        keep = rng.random(n_bars) > 0.1
        keep[: s * 7] = False
        days = np.flatnonzero(keep)
        close = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, days.size)))
        cols["ts"].append((base + days).astype("datetime64[us]").astype(np.int64))
        cols["open"].append(close * np.exp(rng.normal(0, 0.005, days.size)))
        cols["close"].append(close)
        cols["volume"].append(rng.uniform(1e4, 1e5, days.size))
        score = np.full(days.size, np.nan)
        score[5:] = close[5:] / close[:-5] - 1
        cols["score"].append(score)
        offsets.append(offsets[-1] + days.size)
    return {k: np.concatenate(v) for k, v in cols.items()}, np.array(offsets)


CHUNK_RULES = {
    "rank_weekly_fees": PortfolioRules(
        top=3, rebalance="weekly", fees_bps=5, slippage_bps=2, init_cash=1e5
    ),
    "long_short_every_bar_lots_drift": PortfolioRules(
        top=2,
        bottom=2,
        direction="long_short",
        rebalance="every_bar",
        lot_size=1.0,
        drift=0.01,
        fees_bps=3,
        init_cash=5e4,
    ),
    "signal_inverse_vol_capped": PortfolioRules(
        select="signal",
        direction="long_short",
        rebalance="signal",
        weighting="inverse_vol",
        vol_window=10,
        max_weight=0.3,
        max_net_exposure=0.5,
        init_cash=1e5,
    ),
}


@pytest.mark.parametrize("name", list(CHUNK_RULES))
def test_chunking_changes_nothing(name):
    cols, offsets = _universe()
    rules = CHUNK_RULES[name]
    if rules.select == "signal":
        cols = {**cols, "score": np.sign(np.nan_to_num(cols["score"]))}

    def run(chunk):
        return allocation.simulate_portfolio(
            cols["ts"],
            cols["open"],
            cols["close"],
            cols["volume"],
            cols["score"],
            offsets,
            rules,
            chunk=chunk,
        )

    whole = run(None)
    assert whole.result.orders["bar"].shape[0] > 20
    for chunk in (1, 7):
        part = run(chunk)
        for table in ("bars", "orders", "holdings"):
            a, b = getattr(whole.result, table), getattr(part.result, table)
            for col in a:
                np.testing.assert_array_equal(
                    a[col], b[col], err_msg=f"{table}.{col}, chunk {chunk}"
                )
        assert part.state.cash == whole.state.cash
        np.testing.assert_array_equal(part.state.position, whole.state.position)


def test_walk_chunk_does_not_modify_the_state_it_is_given():
    rules = PortfolioRules(top=1, rebalance="every_bar", init_cash=1000)
    state = PortfolioState.initial(2, 1000)
    before = {k: np.copy(v) for k, v in vars(state).items()}
    open_ = np.full((3, 2), 10.0)
    _, after = _walk(open_, open_, np.array([[1.0, 0.0]] * 3), [True] * 3, rules, state=state)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(state, k), v, err_msg=k)
    assert after.position[0] > 0


def test_cash_never_goes_negative_under_heavy_costs():
    cols, offsets = _universe(seed=11)
    rules = PortfolioRules(
        top=4, rebalance="every_bar", fees_bps=150, slippage_bps=80, init_cash=1e4
    )
    res = allocation.simulate_portfolio(
        cols["ts"], cols["open"], cols["close"], cols["volume"], cols["score"], offsets, rules
    )
    assert res.result.bars["cash"].min() >= 0.0
    assert (res.result.orders["quantity"] < res.result.orders["requested_quantity"]).any()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"select": "best"}, "select = 'best' is not valid; choices: signal, rank"),
        ({"top": -1}, "top = -1 must be an integer >= 0"),
        ({"bottom": 2}, "bottom = 2 shorts symbols; it needs direction = 'long_short'"),
        ({"top": 0}, "needs top > 0 or bottom > 0"),
        ({"gross_exposure": 1.5}, "gross_exposure = 1.5 is out of range"),
        ({"rebalance": "daily"}, "rebalance = 'daily' is not valid"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_rules_name_the_key_and_value(values, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PortfolioRules.from_mapping({"label": "rot", **values})


def test_monthly_returns_chain_month_ends():
    days = np.array(
        ["2024-01-02", "2024-01-31", "2024-02-01", "2024-02-29", "2024-03-01"],
        dtype="datetime64[D]",
    )
    us = days.astype("datetime64[us]").astype(np.int64)
    m = allocation.monthly_returns(us, [100.0, 110.0, 99.0, 121.0, 133.1])
    assert m["year"].tolist() == [2024, 2024, 2024]
    assert m["month"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(m["ret"], [0.1, 0.1, 0.1], rtol=1e-12)
