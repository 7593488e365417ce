"""The backtest on hand-computed cases: fills, fees, slippage, reversals, stops, Kelly."""

from __future__ import annotations

import numpy as np
import pytest

from compute.backtest import EXIT_REASONS, TRADE_FIELDS, simulate, simulate_batch
from compute.errors import ParameterError

NAN = np.nan
SIGNAL, STOP, TAKE, OPEN = (
    EXIT_REASONS.index(n) for n in ("signal", "stop_loss", "take_profit", "open")
)


def bars(open_, high=None, low=None, close=None):
    """OHLC from opens; by default high/low are 1% around the open and close = open."""
    o = np.asarray(open_, dtype=np.float64)
    c = o.copy() if close is None else np.asarray(close, dtype=np.float64)
    h = np.maximum(o, c) * 1.01 if high is None else np.asarray(high, dtype=np.float64)
    lo = np.minimum(o, c) * 0.99 if low is None else np.asarray(low, dtype=np.float64)
    return o, h, lo, c


def run(o, h, lo, c, target, **kw):
    return simulate(o, h, lo, c, np.asarray(target, dtype=np.float64), **kw)


def test_trade_fields_and_dtypes():
    r = run(*bars([100, 100, 110, 120]), [1, 0, NAN, NAN])
    assert list(r.trades) == list(TRADE_FIELDS)
    assert r.trades["side"].dtype == np.int8
    assert r.trades["exit_reason"].dtype == np.int8
    assert r.trades["entry_index"].dtype == np.int64
    assert r.equity.dtype == np.float64
    assert EXIT_REASONS == ("signal", "stop_loss", "take_profit", "open")


def test_signal_fills_at_next_open_with_fees_per_side():
    o, h, lo, c = bars([100, 100, 110, 120], close=[101, 104, 111, 119])
    r = run(o, h, lo, c, [1, 0, NAN, NAN], fees_bps=10)
    t = r.trades
    q = 10_000 / (100 * 1.001)
    assert t["entry_index"].tolist() == [1]
    assert t["exit_index"].tolist() == [2]
    assert t["entry_price"][0] == 100.0
    assert t["exit_price"][0] == 110.0
    assert t["quantity"][0] == pytest.approx(q, rel=1e-14)
    assert t["gross_pnl"][0] == pytest.approx(q * 10, rel=1e-14)
    assert t["fees"][0] == pytest.approx(q * 100 * 0.001 + q * 110 * 0.001, rel=1e-14)
    net = q * (110 * 0.999 - 100 * 1.001)
    assert t["net_pnl"][0] == pytest.approx(net, rel=1e-12)
    assert t["return_pct"][0] == pytest.approx(net / 10_000, rel=1e-12)
    assert t["bars_held"][0] == 1
    assert t["exit_reason"][0] == SIGNAL
    # bar 0 flat, bar 1 marked at its close (cash spent to 0), bars 2.. flat again
    np.testing.assert_allclose(r.equity, [10_000, q * 104, 10_000 + net, 10_000 + net], rtol=1e-13)


def test_slippage_moves_buys_up_and_sells_down():
    r = run(*bars([100, 100, 110, 120]), [1, 0, NAN, NAN], slippage_bps=50)
    t = r.trades
    assert t["entry_price"][0] == pytest.approx(100.5, rel=1e-15)
    assert t["exit_price"][0] == pytest.approx(109.45, rel=1e-15)
    q = 10_000 / 100.5
    assert t["net_pnl"][0] == pytest.approx(q * (109.45 - 100.5), rel=1e-12)
    assert t["fees"][0] == 0.0


def test_short_fills_sell_with_slippage_and_profits_from_a_fall():
    r = run(*bars([100, 100, 80, 80]), [-1, 0, 0, 0], direction="long_short", slippage_bps=100)
    t = r.trades
    assert t["side"].tolist() == [-1]
    assert t["entry_price"][0] == pytest.approx(99.0)
    assert t["exit_price"][0] == pytest.approx(80.8)
    q = 10_000 / 99.0
    assert t["net_pnl"][0] == pytest.approx(q * (99.0 - 80.8), rel=1e-12)
    assert r.equity[-1] == pytest.approx(10_000 + q * 18.2, rel=1e-12)


def test_reversal_closes_then_opens_at_the_same_open():
    o, h, lo, c = bars([100, 100, 120, 90, 90])
    r = run(o, h, lo, c, [1, -1, -1, 0, 0], direction="long_short", fees_bps=10)
    t = r.trades
    assert t["side"].tolist() == [1, -1]
    assert t["exit_index"][0] == t["entry_index"][1] == 2
    assert t["exit_reason"].tolist() == [SIGNAL, SIGNAL]
    q1 = 10_000 / (100 * 1.001)
    cash = 10_000 + q1 * (120 * 0.999 - 100 * 1.001)
    q2 = cash / (120 * 1.001)
    assert t["quantity"][1] == pytest.approx(q2, rel=1e-13)
    net2 = q2 * (120 - 90) - 0.001 * q2 * (120 + 90)
    assert t["net_pnl"][1] == pytest.approx(net2, rel=1e-12)
    assert r.equity[-1] == pytest.approx(cash + net2, rel=1e-12)


def test_long_only_treats_short_targets_as_flat():
    o, h, lo, c = bars([100, 101, 102, 103, 104, 105])
    r = run(o, h, lo, c, [1, -1, -1, 1, 1, 1])
    t = r.trades
    assert t["side"].tolist() == [1, 1]
    assert t["entry_index"].tolist() == [1, 4]
    assert t["exit_index"].tolist() == [2, 5]
    assert t["exit_reason"].tolist() == [SIGNAL, OPEN]


def test_open_position_at_the_end_is_marked_at_the_last_close_without_exit_fee():
    o, h, lo, c = bars([100, 100, 105], close=[100, 102, 107])
    r = run(o, h, lo, c, [1, 1, 1], fees_bps=20)
    t = r.trades
    q = 10_000 / (100 * 1.002)
    assert t["exit_reason"].tolist() == [OPEN]
    assert t["exit_index"].tolist() == [2]
    assert t["exit_price"][0] == 107.0
    assert t["bars_held"][0] == 1
    assert t["fees"][0] == pytest.approx(0.002 * q * 100, rel=1e-14)
    assert t["net_pnl"][0] == pytest.approx(q * 7 - 0.002 * q * 100, rel=1e-12)
    assert r.equity[-1] == pytest.approx(10_000 + t["net_pnl"][0], rel=1e-13)


def test_nan_targets_mean_flat():
    o, h, lo, c = bars([100, 90, 80, 70])
    r = run(o, h, lo, c, [NAN] * 4)
    assert r.trades["side"].shape == (0,)
    np.testing.assert_array_equal(r.equity, np.full(4, 10_000.0))


def test_fraction_sizes_part_of_equity():
    o, h, lo, c = bars([100, 100, 110], close=[100, 100, 110])
    r = run(o, h, lo, c, [1, 1, 1], fraction=0.25)
    assert r.trades["quantity"][0] == pytest.approx(25.0)
    assert r.equity[-1] == pytest.approx(10_000 + 25 * 10)


def test_stop_loss_fills_at_the_level_and_waits_for_a_new_target():
    # entry at bar 1's open 100; its own low (90) is not checked; bar 2 trades through 95
    o = [100, 100, 98, 97, 96, 99, 100]
    h = [101, 101, 99, 98, 97, 100, 101]
    lo = [99, 90, 94, 96, 95, 98, 99]
    c = [100, 99, 96, 97, 96, 99, 100]
    r = run(o, h, lo, c, [1, 1, 1, 1, 0, 1, 1], stop_loss=0.05)
    t = r.trades
    assert t["exit_reason"].tolist() == [STOP, OPEN]
    assert t["exit_index"][0] == 2
    assert t["exit_price"][0] == pytest.approx(95.0)
    assert t["net_pnl"][0] == pytest.approx(100 * (95 - 100))
    # flat while the target stays +1; the 0 at bar 4 re-arms it, so +1 at bar 5 enters at 6
    assert t["entry_index"][1] == 6
    np.testing.assert_allclose(r.equity[2:6], 9_500.0)


def test_gap_through_the_stop_fills_at_the_open():
    o = [100, 100, 90, 90]
    r = run(*bars(o, high=[101, 101, 92, 91], low=[99, 99, 88, 89]), [1, 1, 1, 1], stop_loss=0.05)
    assert r.trades["exit_reason"][0] == STOP
    assert r.trades["exit_price"][0] == 90.0


def test_take_profit_fills_at_the_level_or_a_gap_open():
    o, h, lo, c = bars([100, 100, 105, 100], high=[101, 101, 112, 101], low=[99, 99, 104, 99])
    r = run(o, h, lo, c, [1, 1, 1, 1], take_profit=0.1)
    assert r.trades["exit_reason"][0] == TAKE
    assert r.trades["exit_price"][0] == pytest.approx(110.0)
    o, h, lo, c = bars([100, 100, 115, 100], high=[101, 101, 116, 101], low=[99, 99, 114, 99])
    r = run(o, h, lo, c, [1, 1, 1, 1], take_profit=0.1)
    assert r.trades["exit_price"][0] == 115.0


def test_stop_comes_first_when_both_levels_are_in_one_bar():
    o, h, lo, c = bars([100, 100, 100, 100], high=[101, 101, 115, 101], low=[99, 99, 90, 99])
    r = run(o, h, lo, c, [1, 1, 1, 1], stop_loss=0.05, take_profit=0.1)
    assert r.trades["exit_reason"][0] == STOP
    assert r.trades["exit_price"][0] == pytest.approx(95.0)


def test_short_stop_and_take_profit_are_mirrored():
    o, h, lo, c = bars([100, 100, 102, 100], high=[101, 101, 106, 101], low=[99, 99, 101, 99])
    r = run(o, h, lo, c, [-1, -1, -1, -1], direction="long_short", stop_loss=0.05)
    assert r.trades["exit_reason"][0] == STOP
    assert r.trades["exit_price"][0] == pytest.approx(105.0)
    assert r.trades["net_pnl"][0] == pytest.approx(-100 * 5)
    o, h, lo, c = bars([100, 100, 95, 100], high=[101, 101, 96, 101], low=[99, 99, 88, 99])
    r = run(o, h, lo, c, [-1, -1, -1, -1], direction="long_short", take_profit=0.1)
    assert r.trades["exit_reason"][0] == TAKE
    assert r.trades["exit_price"][0] == pytest.approx(90.0)


def test_stop_exit_pays_slippage_and_fees():
    o = [100, 100, 98, 97]
    r = run(
        *bars(o, low=[99, 99, 94, 96]), [1, 1, 1, 1], stop_loss=0.05, slippage_bps=10, fees_bps=10
    )
    t = r.trades
    entry = 100 * 1.001
    assert t["exit_price"][0] == pytest.approx(entry * 0.95 * 0.999, rel=1e-14)
    q = 10_000 / (entry * 1.001)
    assert t["fees"][0] == pytest.approx(0.001 * q * (entry + t["exit_price"][0]), rel=1e-12)


def test_kelly_sizes_from_closed_trades_so_far():
    # trade 1 wins 6%, trade 2 loses 5%: both at quantity 0 (Kelly is 0 until both exist);
    # trade 3 gets p - (1 - p) / (avg_win / avg_loss) = 0.5 - 0.5 / 1.2 of equity
    o = [100, 100, 106, 100, 95, 100, 101]
    target = [1, 0, 1, 0, 1, 1, 1]
    r = run(*bars(o), target, sizing="kelly")
    t = r.trades
    assert t["quantity"][:2].tolist() == [0.0, 0.0]
    assert t["return_pct"][:2] == pytest.approx([0.06, -0.05], rel=1e-12)
    assert t["net_pnl"][:2].tolist() == [0.0, 0.0]
    kelly = 0.5 - 0.5 / (0.06 / 0.05)
    assert t["quantity"][2] == pytest.approx(kelly * 10_000 / 100, rel=1e-12)
    half = run(*bars(o), target, sizing="kelly", fraction=0.5)
    assert half.trades["quantity"][2] == pytest.approx(kelly * 5_000 / 100, rel=1e-12)


def test_kelly_is_capped_at_a_quarter():
    o = [100, 100, 130, 100, 95, 100, 101]
    r = run(*bars(o), [1, 0, 1, 0, 1, 1, 1], sizing="kelly")
    assert r.trades["quantity"][2] == pytest.approx(0.25 * 10_000 / 100, rel=1e-12)


def test_batch_returns_segments_with_local_indices():
    o, h, lo, c = bars([100, 100, 110, 120, 50, 50, 60])
    target = np.array([1, 0, NAN, NAN, 1, 1, 1])
    r = simulate_batch(o, h, lo, c, target, [0, 4, 7])
    assert r.trades["segment"].tolist() == [0, 1]
    assert r.trades["entry_index"].tolist() == [1, 1]
    assert r.equity[4] == 10_000.0
    single = simulate(o[4:], h[4:], lo[4:], c[4:], target[4:])
    np.testing.assert_array_equal(r.equity[4:], single.equity)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fees_bps": -1}, r"fees_bps = -1 is out of range; valid range is \[0.0, inf\)"),
        ({"fraction": 0}, r"fraction = 0 is out of range; valid range is \(0.0, 1.0\]"),
        ({"fraction": 1.5}, r"fraction = 1.5 is out of range"),
        ({"direction": "both"}, r"direction = 'both' is not valid; choices: long_only, long_short"),
        ({"sizing": "optimal"}, r"sizing = 'optimal' is not valid; choices: fixed, kelly"),
        ({"stop_loss": 1.5}, r"stop_loss = 1.5 is out of range; valid range is \(0.0, 1.0\)"),
        ({"take_profit": 0}, r"take_profit = 0 is out of range"),
        ({"take_profit": 2, "direction": "long_short"}, r"take_profit = 2 is out of range"),
        ({"init_cash": float("nan")}, r"init_cash = nan is out of range"),
        ({"slippage_bps": "5"}, r"slippage_bps must be a number, got '5'"),
    ],
)
def test_bad_parameters_name_value_and_range(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        run(*bars([100, 101]), [1, 1], **kwargs)


def test_bad_targets_and_shapes_are_refused():
    with pytest.raises(ParameterError, match=r"target\[1\] = 0.5; targets must be -1, 0, \+1"):
        run(*bars([100, 101]), [1, 0.5])
    with pytest.raises(ParameterError, match="inputs differ in length"):
        run(*bars([100, 101]), [1, 1, 1])
    with pytest.raises(ParameterError, match="offsets must be 1-D, start at 0 and end at"):
        simulate_batch(*bars([100, 101]), np.ones(2), [0, 1])
    with pytest.raises(ParameterError, match="unknown parameter 'fee_bps'"):
        simulate_batch(*bars([100, 101]), np.ones(2), [0, 2], fee_bps=1)


def test_take_profit_above_one_is_fine_long_only():
    r = run(*bars([100, 100, 250, 250], high=[101, 101, 260, 260]), [1, 1, 1, 1], take_profit=1.5)
    assert r.trades["exit_reason"][0] == TAKE
    assert r.trades["exit_price"][0] == 250.0  # gapped through 250 exactly at the open
