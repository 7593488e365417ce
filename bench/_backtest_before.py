"""The backtest kernel as it was before the loop was built from steps (commit 8242943), for bench/backtest.py only."""

import math

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


@njit(cache=True)
def _record_nb(
    fl,
    it,
    k,
    seg,
    side,
    entry_idx,
    entry_price,
    qty,
    exit_idx,
    exit_price,
    fee_rate,
    exit_fee_rate,
    reason,
):
    """Write trade ``k``; return its exit fee and its return on entry cost."""
    entry_fee = fee_rate * qty * entry_price
    exit_fee = exit_fee_rate * qty * exit_price
    gross = side * qty * (exit_price - entry_price)
    # per unit, so that a zero-quantity trade (Kelly sizing 0) still has a return
    unit_net = (
        side * (exit_price - entry_price) - fee_rate * entry_price - exit_fee_rate * exit_price
    )
    ret = unit_net / (entry_price * (1.0 + fee_rate))
    fl[k, 0] = entry_price
    fl[k, 1] = exit_price
    fl[k, 2] = qty
    fl[k, 3] = gross
    fl[k, 4] = entry_fee + exit_fee
    fl[k, 5] = gross - entry_fee - exit_fee
    fl[k, 6] = ret
    it[k, 0] = seg
    it[k, 1] = side
    it[k, 2] = entry_idx
    it[k, 3] = exit_idx
    it[k, 4] = exit_idx - entry_idx
    it[k, 5] = reason
    return exit_fee, ret


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
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    cap = max_entries_seg_nb(target, offsets, long_short)
    fl = np.empty((cap, 7), dtype=np.float64)
    it = np.empty((cap, 6), dtype=np.int64)
    has_sl = not math.isnan(stop_loss)
    has_tp = not math.isnan(take_profit)
    k = 0
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        cash = init_cash
        side = 0
        qty = 0.0
        entry_price = 0.0
        entry_idx = 0
        pending = 0
        blocked = 0  # the side of a stopped position until the target moves away from it
        n_closed = 0
        n_win = 0
        n_loss = 0
        sum_win = 0.0
        sum_loss = 0.0
        for i in range(a, b):
            li = i - a
            o = open_[i]
            if i > a and side != pending:
                if side != 0:
                    px = o * (1.0 - slip_rate) if side == 1 else o * (1.0 + slip_rate)
                    fee, ret = _record_nb(
                        fl,
                        it,
                        k,
                        s,
                        side,
                        entry_idx,
                        entry_price,
                        qty,
                        li,
                        px,
                        fee_rate,
                        fee_rate,
                        SIGNAL,
                    )
                    k += 1
                    cash += side * qty * px - fee
                    n_closed += 1
                    if ret > 0.0:
                        n_win += 1
                        sum_win += ret
                    elif ret < 0.0:
                        n_loss += 1
                        sum_loss -= ret
                    side = 0
                    qty = 0.0
                if pending != 0:
                    side = pending
                    entry_price = o * (1.0 + slip_rate) if side == 1 else o * (1.0 - slip_rate)
                    entry_idx = li
                    frac = fraction
                    if kelly:
                        frac *= kelly_from_sums_nb(n_closed, n_win, sum_win, n_loss, sum_loss)
                    qty = max(frac * cash / (entry_price * (1.0 + fee_rate)), 0.0)
                    cash -= side * qty * entry_price + fee_rate * qty * entry_price
            if side != 0 and li > entry_idx and (has_sl or has_tp):
                level = 0.0
                reason = -1
                if side == 1:
                    sl_px = entry_price * (1.0 - stop_loss)
                    tp_px = entry_price * (1.0 + take_profit)
                    if has_sl and o <= sl_px:
                        level, reason = o, STOP_LOSS
                    elif has_tp and o >= tp_px:
                        level, reason = o, TAKE_PROFIT
                    elif has_sl and low[i] <= sl_px:
                        level, reason = sl_px, STOP_LOSS
                    elif has_tp and high[i] >= tp_px:
                        level, reason = tp_px, TAKE_PROFIT
                else:
                    sl_px = entry_price * (1.0 + stop_loss)
                    tp_px = entry_price * (1.0 - take_profit)
                    if has_sl and o >= sl_px:
                        level, reason = o, STOP_LOSS
                    elif has_tp and o <= tp_px:
                        level, reason = o, TAKE_PROFIT
                    elif has_sl and high[i] >= sl_px:
                        level, reason = sl_px, STOP_LOSS
                    elif has_tp and low[i] <= tp_px:
                        level, reason = tp_px, TAKE_PROFIT
                if reason >= 0:
                    px = level * (1.0 - slip_rate) if side == 1 else level * (1.0 + slip_rate)
                    fee, ret = _record_nb(
                        fl,
                        it,
                        k,
                        s,
                        side,
                        entry_idx,
                        entry_price,
                        qty,
                        li,
                        px,
                        fee_rate,
                        fee_rate,
                        reason,
                    )
                    k += 1
                    cash += side * qty * px - fee
                    n_closed += 1
                    if ret > 0.0:
                        n_win += 1
                        sum_win += ret
                    elif ret < 0.0:
                        n_loss += 1
                        sum_loss -= ret
                    blocked = side
                    side = 0
                    qty = 0.0
            equity[i] = cash + side * qty * close[i]
            e = _effective_nb(target[i], long_short)
            if blocked != 0 and e != blocked:
                blocked = 0
            pending = 0 if blocked != 0 else e
        if side != 0:
            _record_nb(
                fl,
                it,
                k,
                s,
                side,
                entry_idx,
                entry_price,
                qty,
                b - 1 - a,
                close[b - 1],
                fee_rate,
                0.0,
                OPEN,
            )
            k += 1
    return equity, fl[:k], it[:k]
