"""Each step of the backtest loop alone (compute.kernels.backtest), on hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compute.kernels import backtest as bt
from compute.kernels.metrics import kelly_from_sums_nb

NAN = math.nan
# 10 units entered at 100 on bar 3; stop-loss 5%, take-profit 10%
LONG = bt.Position(1, 10.0, 100.0, 3, 95.0, 110.0)
SHORT = bt.Position(-1, 10.0, 100.0, 3, 105.0, 90.0)


def test_fills_pay_slippage_against_the_trader():
    assert bt.entry_fill_nb(1, 100.0, 0.01) == 100.0 * 1.01
    assert bt.entry_fill_nb(-1, 100.0, 0.01) == 100.0 * 0.99
    assert bt.exit_fill_nb(1, 100.0, 0.01) == 100.0 * 0.99
    assert bt.exit_fill_nb(-1, 100.0, 0.01) == 100.0 * 1.01


def test_flat_and_no_closed_are_zero():
    flat = bt.flat_nb()
    assert tuple(flat)[:4] == (0, 0.0, 0.0, 0)
    assert math.isnan(flat.stop_price)
    assert math.isnan(flat.take_price)
    assert tuple(bt.no_closed_nb()) == (0, 0, 0.0, 0, 0.0)


def test_open_long_spends_the_fraction_of_cash_including_the_fee():
    pos, cash = bt.open_nb(1, 5, 100.0, 10_000.0, 0.5, 0.001, 0.01, NAN, NAN)
    fill = 100.0 * 1.01
    qty = 0.5 * 10_000.0 / (fill * 1.001)
    assert tuple(pos)[:4] == (1, qty, fill, 5)
    assert math.isnan(pos.stop_price)
    assert math.isnan(pos.take_price)
    assert cash == pytest.approx(5_000.0, rel=1e-14)


def test_open_short_receives_the_sale_less_the_fee():
    pos, cash = bt.open_nb(-1, 2, 100.0, 10_000.0, 1.0, 0.001, 0.0, NAN, NAN)
    qty = 10_000.0 / (100.0 * 1.001)
    assert (pos.side, pos.entry_price, pos.entry_idx) == (-1, 100.0, 2)
    assert pos.qty == qty
    assert cash == pytest.approx(10_000.0 + qty * 100.0 - 0.001 * qty * 100.0, rel=1e-14)


def test_open_with_zero_fraction_has_zero_quantity_and_keeps_cash():
    pos, cash = bt.open_nb(1, 0, 100.0, 10_000.0, 0.0, 0.001, 0.0, NAN, NAN)
    assert pos.qty == 0.0
    assert cash == 10_000.0


@pytest.mark.parametrize("side", [1, -1])
def test_open_fixes_the_stop_levels_on_the_losing_and_winning_side(side):
    pos, _ = bt.open_nb(side, 0, 100.0, 1_000.0, 1.0, 0.0, 0.0, 0.05, 0.1)
    assert pos.stop_price == pytest.approx(100.0 * (1 - side * 0.05), rel=1e-15)
    assert pos.take_price == pytest.approx(100.0 * (1 + side * 0.1), rel=1e-15)


@pytest.mark.parametrize(
    ("pos", "bar", "expected"),
    [
        # long, stop 5% (95), take 10% (110)
        (LONG, (94.0, 96.0, 90.0), (94.0, bt.STOP_LOSS)),  # gap below the stop: the open
        (LONG, (111.0, 112.0, 109.0), (111.0, bt.TAKE_PROFIT)),  # gap above the take
        (LONG, (100.0, 101.0, 94.0), (95.0, bt.STOP_LOSS)),  # low crosses: the level
        (LONG, (100.0, 112.0, 99.0), (110.0, bt.TAKE_PROFIT)),  # high crosses: the level
        (LONG, (100.0, 112.0, 90.0), (95.0, bt.STOP_LOSS)),  # both inside: stop first
        (LONG, (100.0, 105.0, 96.0), (0.0, bt.NO_EXIT)),
        # short mirrored: stop 105, take 90
        (SHORT, (106.0, 107.0, 104.0), (106.0, bt.STOP_LOSS)),
        (SHORT, (89.0, 91.0, 88.0), (89.0, bt.TAKE_PROFIT)),
        (SHORT, (100.0, 106.0, 99.0), (105.0, bt.STOP_LOSS)),
        (SHORT, (100.0, 101.0, 89.0), (90.0, bt.TAKE_PROFIT)),
        (SHORT, (100.0, 106.0, 89.0), (105.0, bt.STOP_LOSS)),
        (SHORT, (100.0, 104.0, 91.0), (0.0, bt.NO_EXIT)),
    ],
)
def test_stop_exit_levels_gaps_and_priority(pos, bar, expected):
    level, reason = bt.stop_exit_nb(pos, *bar)
    assert reason == expected[1]
    assert level == pytest.approx(expected[0], rel=1e-15)


@pytest.mark.parametrize("side", [1, -1])
def test_stop_exit_ignores_a_level_that_is_not_set(side):
    no_stop, _ = bt.open_nb(side, 0, 100.0, 1_000.0, 1.0, 0.0, 0.0, NAN, 0.1)
    no_take, _ = bt.open_nb(side, 0, 100.0, 1_000.0, 1.0, 0.0, 0.0, 0.05, NAN)
    # a bar from 50 to 150 crosses every level, also as a gap at the open
    for o in (50.0, 100.0, 150.0):
        _, reason = bt.stop_exit_nb(no_stop, o, 150.0, 50.0)
        assert reason == bt.TAKE_PROFIT
        _, reason = bt.stop_exit_nb(no_take, o, 150.0, 50.0)
        assert reason == bt.STOP_LOSS
    no_levels, _ = bt.open_nb(side, 0, 100.0, 1_000.0, 1.0, 0.0, 0.0, NAN, NAN)
    assert bt.stop_exit_nb(no_levels, 50.0, 150.0, 50.0) == (0.0, bt.NO_EXIT)


def test_trade_figures_of_a_long_with_fees():
    tr = bt.trade_nb(LONG, 110.0, 0.001, 0.002)
    assert tr.gross == pytest.approx(100.0, rel=1e-14)
    assert tr.entry_fee == pytest.approx(1.0, rel=1e-14)
    assert tr.exit_fee == pytest.approx(2.2, rel=1e-14)
    assert tr.net == pytest.approx(100.0 - 3.2, rel=1e-14)
    assert tr.ret == pytest.approx((10.0 - 0.1 - 0.22) / (100.0 * 1.001), rel=1e-14)


def test_trade_figures_of_a_short_that_loses():
    tr = bt.trade_nb(SHORT, 104.0, 0.0, 0.0)
    assert tr.gross == pytest.approx(-40.0, rel=1e-14)
    assert tr.net == tr.gross
    assert tr.ret == pytest.approx(-0.04, rel=1e-14)


def test_trade_of_zero_quantity_still_has_a_return():
    tr = bt.trade_nb(bt.Position(1, 0.0, 100.0, 0, NAN, NAN), 105.0, 0.0, 0.0)
    assert (tr.gross, tr.net) == (0.0, 0.0)
    assert tr.ret == pytest.approx(0.05, rel=1e-14)


def test_add_closed_counts_wins_losses_and_flat_trades():
    stats = bt.no_closed_nb()
    for ret in (0.1, -0.05, 0.0, 0.2):
        stats = bt.add_closed_nb(stats, ret)
    assert stats.n == 4
    assert (stats.n_win, stats.n_loss) == (2, 1)
    assert stats.sum_win == pytest.approx(0.3, rel=1e-15)
    assert stats.sum_loss == pytest.approx(0.05, rel=1e-15)


def test_close_returns_the_trade_cash_and_stats():
    tr, cash, stats = bt.close_nb(LONG, 110.0, 500.0, bt.no_closed_nb(), 0.001)
    assert tr.exit_fee == pytest.approx(1.1, rel=1e-14)
    assert cash == pytest.approx(500.0 + 1_100.0 - 1.1, rel=1e-14)
    assert (stats.n, stats.n_win, stats.n_loss) == (1, 1, 0)
    # a short's close pays back the shares
    _, cash, stats = bt.close_nb(SHORT, 110.0, 2_000.0, stats, 0.0)
    assert cash == pytest.approx(2_000.0 - 1_100.0, rel=1e-14)
    assert (stats.n, stats.n_win, stats.n_loss) == (2, 1, 1)


def test_entry_fraction_with_and_without_kelly():
    stats = bt.ClosedStats(4, 3, 0.3, 1, 0.1)
    assert bt.entry_fraction_nb(0.5, False, stats) == 0.5
    k = kelly_from_sums_nb(4, 3, 0.3, 1, 0.1)
    assert 0.0 < k <= 0.25
    assert bt.entry_fraction_nb(0.5, True, stats) == 0.5 * k
    assert bt.entry_fraction_nb(1.0, True, bt.no_closed_nb()) == 0.0  # nothing learnt yet


def test_mark_adds_the_position_at_the_price():
    assert bt.mark_nb(100.0, LONG, 105.0) == 100.0 + 1_050.0
    assert bt.mark_nb(100.0, SHORT, 105.0) == 100.0 - 1_050.0
    assert bt.mark_nb(100.0, bt.flat_nb(), 105.0) == 100.0


@pytest.mark.parametrize(
    ("target", "long_short", "blocked", "expected"),
    [
        (NAN, True, 0, (0, 0)),
        (1.0, False, 0, (1, 0)),
        (-1.0, False, 0, (0, 0)),  # long-only: a short target is flat
        (-1.0, True, 0, (-1, 0)),
        (1.0, True, 1, (0, 1)),  # stopped long: flat while the target stays long
        (0.0, True, 1, (0, 0)),  # the target moved away: unblocked
        (-1.0, True, 1, (-1, 0)),  # and may reverse at once
    ],
)
def test_next_order_reads_the_target_and_the_stopped_side(target, long_short, blocked, expected):
    assert bt.next_order_nb(target, long_short, blocked) == expected


def test_record_writes_one_row_of_each_table():
    fl = np.zeros((2, len(bt.FLOAT_FIELDS)))
    it = np.zeros((2, len(bt.INT_FIELDS)), dtype=np.int64)
    tr = bt.trade_nb(LONG, 110.0, 0.001, 0.001)
    bt.record_nb(fl, it, 1, 7, LONG, 9, 110.0, tr, bt.TAKE_PROFIT)
    assert not fl[0].any()
    assert not it[0].any()
    row = dict(zip(bt.FLOAT_FIELDS, fl[1], strict=True))
    assert row["entry_price"] == 100.0
    assert row["exit_price"] == 110.0
    assert row["quantity"] == 10.0
    assert row["gross_pnl"] == tr.gross
    assert row["fees"] == tr.entry_fee + tr.exit_fee
    assert row["net_pnl"] == tr.net
    assert row["return_pct"] == tr.ret
    assert dict(zip(bt.INT_FIELDS, it[1].tolist(), strict=True)) == {
        "segment": 7,
        "side": 1,
        "entry_index": 3,
        "exit_index": 9,
        "bars_held": 6,
        "exit_reason": bt.TAKE_PROFIT,
    }
