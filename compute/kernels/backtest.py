"""Bar-by-bar backtest of target positions: fills at the next open, stops, fees, equity.

``simulate_seg_nb`` is a short loop over small steps, each an ``@njit(inline="always")``
function of plain values that returns new values (no hidden state, testable alone). The
order of events within bar t is:

1. at the open, execute the order decided at bar t-1's close: ``close_nb`` the old side
   at ``exit_fill_nb(open)``, then ``open_nb`` the new one at ``entry_fill_nb(open)``;
2. for a position entered before bar t, ``stop_exit_nb`` checks stop-loss then
   take-profit against the open (a gap through the level fills at the open) and then
   against the low/high (fills at the level; when both levels lie inside the bar the stop
   is assumed to come first); a hit is closed with ``close_nb``;
3. ``mark_nb`` marks equity at the close;
4. ``next_order_nb`` reads the target at the close: it becomes the order for bar t+1
   (after a stop exit the segment stays flat until the target differs from the stopped
   side).

At most one position closes per bar (a position opened at bar t is not stop-checked at t).
State is a ``Position`` (side, quantity, entry price, entry bar), the cash, the order and
the stopped side, and the ``ClosedStats`` that Kelly sizing learns from. A closed trade's
figures come from ``trade_nb``; ``simulate_seg_nb`` writes them with ``record_nb``. A
parameter sweep can drive the same steps and fold ``trade_nb``'s figures into metrics
instead of a table; a shared-cash portfolio can call ``open_nb``/``close_nb`` with its one
account's cash.

Trades are written into preallocated tables sized by an upper bound (every entry follows a
change of the effective target to a nonzero value), then trimmed.
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from compute.kernels.metrics import kelly_from_sums_nb

# Columns of the float table and the integer table returned by ``simulate_seg_nb``.
FLOAT_FIELDS = (
    "entry_price",
    "exit_price",
    "quantity",
    "gross_pnl",
    "fees",
    "net_pnl",
    "return_pct",
)
INT_FIELDS = ("segment", "side", "entry_index", "exit_index", "bars_held", "exit_reason")

SIGNAL, STOP_LOSS, TAKE_PROFIT, OPEN = 0, 1, 2, 3
NO_EXIT = -1

# side: +1 long, -1 short, 0 flat; entry_idx is a bar index; stop_price / take_price are the
# stop-loss and take-profit levels fixed at entry, NaN for none (and when flat).
Position = namedtuple(
    "Position", ("side", "qty", "entry_price", "entry_idx", "stop_price", "take_price")
)
# closed trades so far, as Kelly sizing needs them: count, wins and losses by return_pct
ClosedStats = namedtuple("ClosedStats", ("n", "n_win", "sum_win", "n_loss", "sum_loss"))
# one closed trade's figures (fees = entry fee + exit fee)
Trade = namedtuple("Trade", ("gross", "entry_fee", "exit_fee", "net", "ret"))


@njit(cache=True)
def _effective_nb(value, long_short):
    """The side a target asks for: NaN means flat, and so does -1 in long-only."""
    if math.isnan(value) or value == 0.0:
        return 0
    if value > 0.0:
        return 1
    return -1 if long_short else 0


@njit(cache=True)
def max_entries_seg_nb(target, offsets, long_short):
    """Upper bound on the number of trades: changes of the effective target to nonzero."""
    total = 0
    for s in range(offsets.shape[0] - 1):
        prev = 0
        for i in range(offsets[s], offsets[s + 1]):
            e = _effective_nb(target[i], long_short)
            if e != 0 and e != prev:
                total += 1
            prev = e
    return total


# --- the steps ---------------------------------------------------------------------------


@njit(inline="always")
def flat_nb():
    """No position."""
    return Position(0, 0.0, 0.0, 0, math.nan, math.nan)


@njit(inline="always")
def no_closed_nb():
    """Statistics of no closed trade."""
    return ClosedStats(0, 0, 0.0, 0, 0.0)


@njit(inline="always")
def entry_fill_nb(side, price, slip_rate):
    """Fill price of entering ``side`` at ``price``: a buy pays up, a short sale gets less."""
    return price * (1.0 + slip_rate) if side == 1 else price * (1.0 - slip_rate)


@njit(inline="always")
def exit_fill_nb(side, price, slip_rate):
    """Fill price of leaving ``side`` at ``price``: a sale gets less, a cover pays up."""
    return price * (1.0 - slip_rate) if side == 1 else price * (1.0 + slip_rate)


@njit(inline="always")
def entry_fraction_nb(fraction, kelly, stats):
    """Fraction of cash for the next entry: ``fraction``, times capped Kelly if ``kelly``."""
    frac = fraction
    if kelly:
        frac *= kelly_from_sums_nb(
            stats.n, stats.n_win, stats.sum_win, stats.n_loss, stats.sum_loss
        )
    return frac


@njit(inline="always")
def open_nb(side, idx, price, cash, frac, fee_rate, slip_rate, stop_loss, take_profit):
    """Enter ``side`` at bar ``idx`` with ``frac`` of ``cash``; returns (position, cash).

    ``stop_loss`` / ``take_profit`` (fractions of the entry price, NaN for none) fix the
    position's levels.
    """
    entry_price = entry_fill_nb(side, price, slip_rate)
    qty = max(frac * cash / (entry_price * (1.0 + fee_rate)), 0.0)
    cash -= side * qty * entry_price + fee_rate * qty * entry_price
    if side == 1:
        stop_price = entry_price * (1.0 - stop_loss)
        take_price = entry_price * (1.0 + take_profit)
    else:
        stop_price = entry_price * (1.0 + stop_loss)
        take_price = entry_price * (1.0 - take_profit)
    return Position(side, qty, entry_price, idx, stop_price, take_price), cash


@njit(inline="always")
def stop_exit_nb(pos, o, h, lo):
    """(level, reason) of a stop-loss or take-profit hit in bar (o, h, lo), else (0, NO_EXIT).

    A NaN level (none set) compares false and never hits.
    """
    if pos.side == 1:
        if o <= pos.stop_price:
            return o, STOP_LOSS
        if o >= pos.take_price:
            return o, TAKE_PROFIT
        if lo <= pos.stop_price:
            return pos.stop_price, STOP_LOSS
        if h >= pos.take_price:
            return pos.take_price, TAKE_PROFIT
    else:
        if o >= pos.stop_price:
            return o, STOP_LOSS
        if o <= pos.take_price:
            return o, TAKE_PROFIT
        if h >= pos.stop_price:
            return pos.stop_price, STOP_LOSS
        if lo <= pos.take_price:
            return pos.take_price, TAKE_PROFIT
    return 0.0, NO_EXIT


@njit(inline="always")
def trade_nb(pos, exit_price, fee_rate, exit_fee_rate):
    """Figures of closing ``pos`` at ``exit_price``; ``ret`` is net P&L over entry cost."""
    side, qty, entry_price = pos.side, pos.qty, pos.entry_price
    entry_fee = fee_rate * qty * entry_price
    exit_fee = exit_fee_rate * qty * exit_price
    gross = side * qty * (exit_price - entry_price)
    # per unit, so that a zero-quantity trade (Kelly sizing 0) still has a return
    unit_net = (
        side * (exit_price - entry_price) - fee_rate * entry_price - exit_fee_rate * exit_price
    )
    ret = unit_net / (entry_price * (1.0 + fee_rate))
    return Trade(gross, entry_fee, exit_fee, gross - entry_fee - exit_fee, ret)


@njit(inline="always")
def add_closed_nb(stats, ret):
    """``stats`` with one more closed trade of return ``ret``."""
    n_win, sum_win, n_loss, sum_loss = stats.n_win, stats.sum_win, stats.n_loss, stats.sum_loss
    if ret > 0.0:
        n_win += 1
        sum_win += ret
    elif ret < 0.0:
        n_loss += 1
        sum_loss -= ret
    return ClosedStats(stats.n + 1, n_win, sum_win, n_loss, sum_loss)


@njit(inline="always")
def close_nb(pos, exit_price, cash, stats, fee_rate):
    """Close ``pos`` at ``exit_price``; returns (trade, cash, stats)."""
    tr = trade_nb(pos, exit_price, fee_rate, fee_rate)
    cash += pos.side * pos.qty * exit_price - tr.exit_fee
    return tr, cash, add_closed_nb(stats, tr.ret)


@njit(inline="always")
def mark_nb(cash, pos, price):
    """Equity: cash plus the position marked at ``price``."""
    return cash + pos.side * pos.qty * price


@njit(inline="always")
def next_order_nb(target, long_short, blocked):
    """(order, blocked) after the close: the side to hold from the next open.

    ``blocked`` is the side of a stopped position; it holds the segment flat until the
    target moves away from that side.
    """
    e = _effective_nb(target, long_short)
    if blocked != 0 and e != blocked:
        blocked = 0
    return (0 if blocked != 0 else e), blocked


@njit(inline="always")
def record_nb(fl, it, k, seg, pos, exit_idx, exit_price, tr, reason):
    """Write trade ``k`` of segment ``seg`` into the float and integer tables."""
    fl[k, 0] = pos.entry_price
    fl[k, 1] = exit_price
    fl[k, 2] = pos.qty
    fl[k, 3] = tr.gross
    fl[k, 4] = tr.entry_fee + tr.exit_fee
    fl[k, 5] = tr.net
    fl[k, 6] = tr.ret
    it[k, 0] = seg
    it[k, 1] = pos.side
    it[k, 2] = pos.entry_idx
    it[k, 3] = exit_idx
    it[k, 4] = exit_idx - pos.entry_idx
    it[k, 5] = reason


# --- the loop ----------------------------------------------------------------------------


@njit(cache=True)
def simulate_seg_nb(
    open_,
    high,
    low,
    close,
    target,
    offsets,
    init_cash,
    fee_rate,
    slip_rate,
    fraction,
    long_short,
    kelly,
    stop_loss,
    take_profit,
):
    """Simulate each segment; returns ``(equity, float_trades, int_trades)``.

    ``stop_loss`` / ``take_profit`` are fractions of the entry price, NaN for none.
    ``kelly`` sizes each entry with ``fraction`` times the capped Kelly fraction of the
    segment's closed trades so far. Trade indices are local to the segment.
    """
    equity = np.empty(close.shape[0], dtype=np.float64)
    cap = max_entries_seg_nb(target, offsets, long_short)
    fl = np.empty((cap, 7), dtype=np.float64)
    it = np.empty((cap, 6), dtype=np.int64)
    has_stops = not (math.isnan(stop_loss) and math.isnan(take_profit))
    k = 0
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        cash, pos, stats = init_cash, flat_nb(), no_closed_nb()
        order, blocked = 0, 0
        for i in range(a, b):
            li = i - a
            o = open_[i]
            if i > a and pos.side != order:
                if pos.side != 0:
                    px = exit_fill_nb(pos.side, o, slip_rate)
                    tr, cash, stats = close_nb(pos, px, cash, stats, fee_rate)
                    record_nb(fl, it, k, s, pos, li, px, tr, SIGNAL)
                    k += 1
                    pos = flat_nb()
                if order != 0:
                    frac = entry_fraction_nb(fraction, kelly, stats)
                    pos, cash = open_nb(
                        order, li, o, cash, frac, fee_rate, slip_rate, stop_loss, take_profit
                    )
            if pos.side != 0 and li > pos.entry_idx and has_stops:
                level, reason = stop_exit_nb(pos, o, high[i], low[i])
                if reason != NO_EXIT:
                    px = exit_fill_nb(pos.side, level, slip_rate)
                    tr, cash, stats = close_nb(pos, px, cash, stats, fee_rate)
                    record_nb(fl, it, k, s, pos, li, px, tr, reason)
                    k += 1
                    blocked = pos.side
                    pos = flat_nb()
            equity[i] = mark_nb(cash, pos, close[i])
            order, blocked = next_order_nb(target[i], long_short, blocked)
        if pos.side != 0:  # still open: marked at the last close, no exit fee
            tr = trade_nb(pos, close[b - 1], fee_rate, 0.0)
            record_nb(fl, it, k, s, pos, b - 1 - a, close[b - 1], tr, OPEN)
            k += 1
    return equity, fl[:k], it[:k]
