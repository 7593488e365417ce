"""Shared-cash portfolio kernels: per-symbol features, then a walk over time × symbol chunks.

``features_seg_nb`` runs in the batches (one segment per symbol, its own bars): average
dollar volume, return volatility and history length. ``walk_chunk_nb`` is the
cross-sectional phase: it walks one chunk of the common calendar over dense
``(time, symbol)`` arrays (NaN where a symbol has no bar), starting from the state the
previous chunk left and returning the state for the next one, so a walk cut into chunks of
any length gives the same result as one walk over the whole history.

Within bar t of a walk:

1. at the open, fill the pending orders of the symbols that have a bar at t (others stay
   pending and are marked delayed). The portfolio's value ``V`` is taken once before any
   fill: cash plus each holding at its price now (the open if it has a bar at t, else its
   last close). An order's target is ``weight * V / open`` units; orders are executed in
   increasing order of ``weight * V - holding value`` (symbol index breaks ties), so sells
   come first and release cash, then buys from the smallest. Sells fill at
   ``open * (1 - slippage)``, buys at ``open * (1 + slippage)``, each paying
   ``fee_rate * quantity * fill price``. A buy that costs more than the cash left is cut to
   what the cash pays for, fee included (cash ends at 0), and later buys are skipped, so cash
   never goes negative. With a lot size, an order's quantity is rounded down to whole lots.
   Resizing an existing position by less than the drift threshold (in weight) is skipped;
   entries and exits never are;
2. at the close, mark holdings at their last close: cash, long and short value, equity,
   gross and net exposure, number of holdings, turnover;
3. after the close, decide: on a scheduled bar (``rebalance[t]``), or when ``on_change`` and
   the selection differs from the one of the last decision, select and weight the symbols
   with a bar at t and make every held or selected symbol's target weight a pending order for
   the next bar's open.

No kernel raises; order and holding records go into buffers that double when full.
"""

import math

import numpy as np
from numba import njit

NAN = np.nan
DUST = 1e-12  # orders of fewer units than this are rounding noise and are not sent

# Bar outputs of ``walk_chunk_nb``, in order of its ``bars`` columns.
BAR_FIELDS = (
    "cash",
    "long_value",
    "short_value",
    "equity",
    "gross_exposure",
    "net_exposure",
    "n_holdings",
    "turnover",
)
# Order records: integer and float columns.
ORDER_INT_FIELDS = ("bar", "symbol", "side", "reason")
ORDER_FLOAT_FIELDS = ("quantity", "price", "fees", "requested_quantity")
# Holding records (after the fills of a bar with orders): integer and float columns.
HOLDING_INT_FIELDS = ("bar", "symbol")
HOLDING_FLOAT_FIELDS = ("quantity", "weight", "target_weight")

SELECT_SIGNAL, SELECT_RANK = 0, 1
WEIGHT_EQUAL, WEIGHT_INVERSE_VOL, WEIGHT_SCORE = 0, 1, 2
REASON_REBALANCE, REASON_DELAYED = 0, 1
PENDING_NONE, PENDING_NEXT, PENDING_DELAYED = 0, 1, 2


@njit(cache=True)
def features_seg_nb(close, volume, offsets, adv_window, vol_window, with_history):
    """Per bar of each segment: ``(adv, vol, history)``.

    ``adv`` is the mean of ``close * volume`` over the last ``adv_window`` bars (NaN before
    that many bars; empty when ``adv_window`` is 0: no filter reads it); ``vol`` the std
    (ddof=1) of the last ``vol_window`` close-to-close returns (NaN before ``vol_window + 1``
    bars, or when ``vol_window`` < 2); ``history`` the number of the segment's bars up to and
    including this one (empty unless ``with_history``).
    """
    n = close.shape[0]
    adv = np.empty(n if adv_window > 0 else 0, dtype=np.float64)
    vol = np.empty(n, dtype=np.float64)
    history = np.empty(n if with_history else 0, dtype=np.float64)
    for s in range(offsets.shape[0] - 1):
        a, b = offsets[s], offsets[s + 1]
        for i in range(a, b):
            if with_history:
                history[i] = i - a + 1
            vol[i] = NAN
            if adv_window > 0:
                adv[i] = NAN
                if i - a + 1 >= adv_window:
                    total = 0.0
                    for k in range(i - adv_window + 1, i + 1):
                        total += close[k] * volume[k]
                    adv[i] = total / adv_window
            if vol_window >= 2 and i - a >= vol_window:
                mean = 0.0
                for k in range(i - vol_window + 1, i + 1):
                    mean += close[k] / close[k - 1] - 1.0
                mean /= vol_window
                ss = 0.0
                for k in range(i - vol_window + 1, i + 1):
                    d = close[k] / close[k - 1] - 1.0 - mean
                    ss += d * d
                vol[i] = math.sqrt(ss / (vol_window - 1))
    return adv, vol, history


@njit(cache=True)
def _grow_int_nb(buf, need):
    if need <= buf.shape[0]:
        return buf
    out = np.empty((max(need, 2 * buf.shape[0]), buf.shape[1]), dtype=buf.dtype)
    out[: buf.shape[0]] = buf
    return out


@njit(cache=True)
def _grow_float_nb(buf, need):
    if need <= buf.shape[0]:
        return buf
    out = np.empty((max(need, 2 * buf.shape[0]), buf.shape[1]), dtype=buf.dtype)
    out[: buf.shape[0]] = buf
    return out


@njit(cache=True)
def _cap_weights_nb(raw, idx, m, budget, max_weight, out):
    """Spread ``budget`` over ``raw[idx[:m]]`` proportionally, none above ``max_weight``.

    Capped names are fixed at the cap and the rest of the budget is spread again over the
    others, until no weight exceeds the cap (water-filling); ``out[idx[k]]`` gets |weight|.
    """
    free = np.ones(m, dtype=np.bool_)
    left = budget
    for _ in range(m + 1):
        total = 0.0
        for k in range(m):
            if free[k]:
                total += raw[idx[k]]
        if total <= 0.0:
            for k in range(m):
                if free[k]:
                    out[idx[k]] = 0.0
            return
        any_capped = False
        for k in range(m):
            if free[k]:
                w = left * raw[idx[k]] / total
                out[idx[k]] = w
                if w > max_weight:
                    any_capped = True
        if not any_capped:
            return
        for k in range(m):
            if free[k] and out[idx[k]] > max_weight:
                out[idx[k]] = max_weight
                free[k] = False
                left -= max_weight


@njit(cache=True)
def select_weights_nb(
    score,
    eligible,
    vol,
    select_mode,
    n_top,
    n_bottom,
    ascending,
    long_short,
    max_positions,
    weighting,
    gross,
    max_weight,
    max_net,
    side_out,
    weight_out,
):
    """Selection and target weights across symbols at one bar; fills ``side_out``/``weight_out``.

    Candidates are eligible symbols with a finite score (and, for inverse volatility, a
    finite positive ``vol``). ``SELECT_SIGNAL``: the nonzero scores (targets), side = sign
    (negative ones only when ``long_short``), ranked by |score| descending. ``SELECT_RANK``:
    the ``n_top`` highest scores long and, when ``long_short``, the ``n_bottom`` lowest short
    (``ascending`` swaps highest and lowest); ties go to the lower symbol index. Ranks are
    merged long 0, short 0, long 1, ... and cut at ``max_positions``. Weights are
    proportional to 1, 1/vol or |score|, sum to ``gross`` in absolute value, are capped at
    ``max_weight`` (``_cap_weights_nb``), then the larger leg is scaled down until
    |long - short| <= ``max_net``.
    """
    n = score.shape[0]
    side_out[:] = 0
    weight_out[:] = 0.0
    key = np.empty(n, dtype=np.float64)
    ok = np.zeros(n, dtype=np.bool_)
    n_ok = 0
    for j in range(n):
        s = score[j]
        good = eligible[j] and not math.isnan(s)
        if good and weighting == WEIGHT_INVERSE_VOL:
            good = vol[j] > 0.0 and not math.isnan(vol[j])
        if good and select_mode == SELECT_SIGNAL:
            good = s > 0.0 or (long_short and s < 0.0)
        ok[j] = good
        if good:
            n_ok += 1
    chosen = np.empty(n, dtype=np.int64)  # symbols in rank order
    sides = np.empty(n, dtype=np.int8)
    m = 0
    if select_mode == SELECT_SIGNAL:
        for j in range(n):
            key[j] = -abs(score[j]) if ok[j] else np.inf
        order = np.argsort(key, kind="mergesort")
        for k in range(n_ok):
            j = order[k]
            chosen[m] = j
            sides[m] = 1 if score[j] > 0.0 else -1
            m += 1
    else:
        sign = 1.0 if ascending else -1.0
        for j in range(n):
            key[j] = sign * score[j] if ok[j] else np.inf
        longs = np.argsort(key, kind="mergesort")
        n_long = min(n_top, n_ok)
        taken = np.zeros(n, dtype=np.bool_)
        for k in range(n_long):
            taken[longs[k]] = True
        n_short = 0
        shorts = np.empty(n, dtype=np.int64)
        if long_short and n_bottom > 0:
            for j in range(n):
                key[j] = -sign * score[j] if ok[j] and not taken[j] else np.inf
            order = np.argsort(key, kind="mergesort")
            n_short = min(n_bottom, n_ok - n_long)
            for k in range(n_short):
                shorts[k] = order[k]
        for k in range(max(n_long, n_short)):
            if k < n_long:
                chosen[m] = longs[k]
                sides[m] = 1
                m += 1
            if k < n_short:
                chosen[m] = shorts[k]
                sides[m] = -1
                m += 1
    if max_positions > 0 and m > max_positions:
        m = max_positions
    if m == 0:
        return 0
    raw = np.zeros(n, dtype=np.float64)
    for k in range(m):
        j = chosen[k]
        if weighting == WEIGHT_EQUAL:
            raw[j] = 1.0
        elif weighting == WEIGHT_INVERSE_VOL:
            raw[j] = 1.0 / vol[j]
        else:
            raw[j] = abs(score[j])
    _cap_weights_nb(raw, chosen, m, gross, max_weight, weight_out)
    long_sum = 0.0
    short_sum = 0.0
    for k in range(m):
        j = chosen[k]
        side_out[j] = sides[k]
        if sides[k] > 0:
            long_sum += weight_out[j]
        else:
            short_sum += weight_out[j]
    scale_long = 1.0
    scale_short = 1.0
    if long_sum - short_sum > max_net:
        scale_long = (max_net + short_sum) / long_sum
    elif short_sum - long_sum > max_net:
        scale_short = (max_net + long_sum) / short_sum
    for k in range(m):
        j = chosen[k]
        if sides[k] > 0:
            weight_out[j] *= scale_long
        else:
            weight_out[j] = -weight_out[j] * scale_short
    return m


@njit(cache=True)
def _round_lot_nb(qty, lot):
    """``qty`` rounded down to whole lots (``lot`` NaN: fractional, unchanged)."""
    if math.isnan(lot):
        return qty
    return (qty // lot) * lot


@njit(cache=True)
def walk_chunk_nb(
    open_,
    close,
    score,
    eligible,
    vol,
    rebalance,
    cash_in,
    position_in,
    last_close_in,
    target_in,
    pending_in,
    selection_in,
    select_mode,
    n_top,
    n_bottom,
    ascending,
    long_short,
    max_positions,
    weighting,
    gross,
    max_weight,
    max_net,
    on_change,
    drift,
    fee_rate,
    slip_rate,
    lot,
):
    """Walk one chunk of bars over ``(time, symbol)`` arrays from the given state.

    State (never modified in place; the updated copies are returned): ``cash_in`` (float),
    ``position_in`` (units per symbol), ``last_close_in`` (NaN before a symbol's first bar),
    ``target_in`` (pending target weights), ``pending_in`` (int8: none, for the next bar,
    delayed), ``selection_in`` (int8 side per symbol at the last decision).

    Returns ``(bars, order_int, order_float, holding_int, holding_float, cash, position,
    last_close, target, pending, selection)``: ``bars`` is ``(T, len(BAR_FIELDS))``; record
    ``bar`` columns are indices into this chunk.
    """
    n_t, n = close.shape
    cash = cash_in
    pos = position_in.copy()
    last_close = last_close_in.copy()
    target = target_in.copy()
    pending = pending_in.copy()
    selection = selection_in.copy()
    bars = np.empty((n_t, len(BAR_FIELDS)), dtype=np.float64)
    o_int = np.empty((max(16, n), len(ORDER_INT_FIELDS)), dtype=np.int64)
    o_fl = np.empty((max(16, n), len(ORDER_FLOAT_FIELDS)), dtype=np.float64)
    h_int = np.empty((max(16, n), len(HOLDING_INT_FIELDS)), dtype=np.int64)
    h_fl = np.empty((max(16, n), len(HOLDING_FLOAT_FIELDS)), dtype=np.float64)
    n_orders = 0
    n_holdings = 0
    valp = np.empty(n, dtype=np.float64)
    value_key = np.empty(n, dtype=np.float64)
    side_now = np.empty(n, dtype=np.int8)
    weight_now = np.empty(n, dtype=np.float64)
    for t in range(n_t):
        traded = 0.0
        value = 0.0
        # 1. fills at the open
        any_pending = False
        for j in range(n):
            if pending[j] != PENDING_NONE:
                any_pending = True
                break
        if any_pending:
            value = cash
            for j in range(n):
                o = open_[t, j]
                valp[j] = o if not math.isnan(o) else last_close[j]
                if pos[j] != 0.0:
                    value += pos[j] * valp[j]
            n_fill = 0
            for j in range(n):
                value_key[j] = np.inf
                if pending[j] == PENDING_NONE:
                    continue
                if math.isnan(open_[t, j]):
                    pending[j] = PENDING_DELAYED
                    continue
                value_key[j] = target[j] * value - pos[j] * valp[j]
                n_fill += 1
            if n_fill > 0 and value > 0.0:
                order = np.argsort(value_key, kind="mergesort")
                for k in range(n_fill):
                    j = order[k]
                    reason = REASON_DELAYED if pending[j] == PENDING_DELAYED else REASON_REBALANCE
                    pending[j] = PENDING_NONE
                    p = valp[j]
                    delta = target[j] * value / p - pos[j]
                    if pos[j] != 0.0 and target[j] != 0.0:
                        if abs(target[j] - pos[j] * p / value) < drift:
                            continue
                    if delta > 0.0:
                        fill = p * (1.0 + slip_rate)
                        qty = _round_lot_nb(delta, lot)
                        if qty <= DUST or cash <= 0.0:
                            continue
                        cost = qty * fill
                        fee = cost * fee_rate
                        if cost + fee <= cash:
                            cash -= cost + fee
                        else:
                            spend = cash / (1.0 + fee_rate)
                            qty = _round_lot_nb(spend / fill, lot)
                            if qty <= DUST:
                                continue
                            if math.isnan(lot):
                                fee = cash - spend
                                cash = 0.0
                            else:
                                cost = qty * fill
                                fee = cost * fee_rate
                                cash -= cost + fee
                        pos[j] += qty
                        side = 1
                    else:
                        fill = p * (1.0 - slip_rate)
                        qty = _round_lot_nb(-delta, lot)
                        if not long_short:
                            qty = min(qty, pos[j])
                        if qty <= DUST:
                            continue
                        proceeds = qty * fill
                        fee = proceeds * fee_rate
                        cash += proceeds - fee
                        pos[j] -= qty
                        side = -1
                    traded += qty * fill
                    o_int = _grow_int_nb(o_int, n_orders + 1)
                    o_fl = _grow_float_nb(o_fl, n_orders + 1)
                    o_int[n_orders, 0] = t
                    o_int[n_orders, 1] = j
                    o_int[n_orders, 2] = side
                    o_int[n_orders, 3] = reason
                    o_fl[n_orders, 0] = qty
                    o_fl[n_orders, 1] = fill
                    o_fl[n_orders, 2] = fee
                    o_fl[n_orders, 3] = abs(delta)
                    n_orders += 1
                # weights after the fills, at the prices of the fill
                after = cash
                for j in range(n):
                    if pos[j] != 0.0:
                        after += pos[j] * valp[j]
                for j in range(n):
                    if pos[j] != 0.0:
                        h_int = _grow_int_nb(h_int, n_holdings + 1)
                        h_fl = _grow_float_nb(h_fl, n_holdings + 1)
                        h_int[n_holdings, 0] = t
                        h_int[n_holdings, 1] = j
                        h_fl[n_holdings, 0] = pos[j]
                        h_fl[n_holdings, 1] = pos[j] * valp[j] / after if after != 0.0 else NAN
                        h_fl[n_holdings, 2] = target[j]
                        n_holdings += 1
        # 2. mark at the close
        long_value = 0.0
        short_value = 0.0
        held = 0
        for j in range(n):
            c = close[t, j]
            if not math.isnan(c):
                last_close[j] = c
            if pos[j] != 0.0:
                held += 1
                v = pos[j] * last_close[j]
                if v > 0.0:
                    long_value += v
                else:
                    short_value += v
        equity = cash + long_value + short_value
        bars[t, 0] = cash
        bars[t, 1] = long_value
        bars[t, 2] = short_value
        bars[t, 3] = equity
        bars[t, 4] = (long_value - short_value) / equity if equity != 0.0 else NAN
        bars[t, 5] = (long_value + short_value) / equity if equity != 0.0 else NAN
        bars[t, 6] = held
        bars[t, 7] = traded / value if value > 0.0 else 0.0
        # 3. decide after the close
        decide = rebalance[t]
        if decide or on_change:
            elig = np.empty(n, dtype=np.bool_)
            for j in range(n):
                elig[j] = eligible[t, j] and not math.isnan(close[t, j])
            select_weights_nb(
                score[t],
                elig,
                vol[t],
                select_mode,
                n_top,
                n_bottom,
                ascending,
                long_short,
                max_positions,
                weighting,
                gross,
                max_weight,
                max_net,
                side_now,
                weight_now,
            )
            if not decide:
                for j in range(n):
                    if side_now[j] != selection[j]:
                        decide = True
                        break
        if decide:
            for j in range(n):
                selection[j] = side_now[j]
                target[j] = weight_now[j]
                if weight_now[j] != 0.0 or pos[j] != 0.0:
                    pending[j] = PENDING_NEXT
                else:
                    pending[j] = PENDING_NONE
    return (
        bars,
        o_int[:n_orders],
        o_fl[:n_orders],
        h_int[:n_holdings],
        h_fl[:n_holdings],
        cash,
        pos,
        last_close,
        target,
        pending,
        selection,
    )
