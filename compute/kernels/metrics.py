"""Performance metrics: empyrical's return statistics, drawdown, trade statistics, Kelly.

The return kernels (``*_nb``) take one 1-D array of simple returns and repeat empyrical's
arithmetic operation by operation (sequential sums like bottleneck's, the same NaN rules,
the same order of multiplications), so results agree to the last few ulps.
``metrics_seg_nb`` runs them over a batch of equity curves and scatters trade statistics
into one value per segment. Divisions by zero are branched explicitly: numba's default
error model would raise where numpy returns inf or NaN.
"""

import math

import numpy as np
from numba import njit

NAN = np.nan
INF = np.inf

# Trade statistics computed by ``trade_stats_seg_nb``, in the order of its outputs.
TRADE_STATS = (
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "best_trade_return",
    "worst_trade_return",
    "exposure",
    "kelly_fraction",
)
OPEN_REASON = 3  # index of "open" in compute.backtest.EXIT_REASONS


@njit(cache=True)
def _div_nb(a, b):
    """``a / b`` with numpy's semantics for a zero divisor (inf with a's sign, NaN for 0/0)."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return NAN
        return math.copysign(1.0, a) * math.copysign(1.0, b) * INF
    return a / b


@njit(cache=True)
def _mean_std_nb(returns, adjust):
    """(count, nanmean, nanstd ddof=1, min == max) of ``returns - adjust``, NaNs skipped."""
    count = 0
    total = 0.0
    lo = INF
    hi = -INF
    for i in range(returns.shape[0]):
        x = returns[i] - adjust
        if not math.isnan(x):
            count += 1
            total += x
            lo = min(lo, x)
            hi = max(hi, x)
    if count == 0:
        return 0, NAN, NAN, False
    mean = total / count
    if count < 2:
        return count, mean, NAN, lo == hi
    ss = 0.0
    for i in range(returns.shape[0]):
        x = returns[i] - adjust
        if not math.isnan(x):
            d = x - mean
            ss += d * d
    return count, mean, math.sqrt(ss / (count - 1)), lo == hi


@njit(cache=True)
def sharpe_ratio_nb(returns, risk_free, annualization):
    """numba equivalent of ``empyrical.sharpe_ratio(returns, risk_free, annualization=a)``."""
    if returns.shape[0] < 2:
        return NAN
    _, mean, std, constant = _mean_std_nb(returns, risk_free)
    if constant and not math.isnan(std):
        std = 0.0  # empyrical's _zero_dispersion_std: identical values have no dispersion
    return _div_nb(mean, std) * math.sqrt(annualization)


@njit(cache=True)
def downside_risk_nb(returns, required_return, annualization):
    """numba equivalent of ``empyrical.downside_risk(returns, required_return, annualization=a)``."""
    if returns.shape[0] < 1:
        return NAN
    count = 0
    total = 0.0
    for i in range(returns.shape[0]):
        x = returns[i] - required_return
        if not math.isnan(x):
            if x > 0.0:
                x = 0.0
            count += 1
            total += x * x
    if count == 0:
        return NAN
    return math.sqrt(total / count) * math.sqrt(annualization)


@njit(cache=True)
def sortino_ratio_nb(returns, required_return, annualization):
    """numba equivalent of ``empyrical.sortino_ratio(returns, required_return, annualization=a)``."""
    if returns.shape[0] < 2:
        return NAN
    _, mean, _, _ = _mean_std_nb(returns, required_return)
    return _div_nb(mean * annualization, downside_risk_nb(returns, required_return, annualization))


@njit(cache=True)
def annual_volatility_nb(returns, alpha, annualization):
    """numba equivalent of ``empyrical.annual_volatility(returns, alpha=alpha, annualization=a)``."""
    if returns.shape[0] < 2:
        return NAN
    _, _, std, _ = _mean_std_nb(returns, 0.0)
    return std * annualization ** (1.0 / alpha)


@njit(cache=True)
def total_return_nb(returns):
    """numba equivalent of ``empyrical.cum_returns_final(returns)``: NaN returns count as 0."""
    if returns.shape[0] < 1:
        return NAN
    prod = 1.0
    for i in range(returns.shape[0]):
        x = returns[i] + 1.0
        if not math.isnan(x):
            prod *= x
    return prod - 1.0


@njit(cache=True)
def annual_return_nb(returns, annualization):
    """numba equivalent of ``empyrical.annual_return(returns, annualization=a)`` (CAGR)."""
    n = returns.shape[0]
    if n < 1:
        return NAN
    ending = total_return_nb(returns) + 1.0
    # a negative ending value gives NaN unless the exponent is integral, as in numpy
    return ending ** (1.0 / (n / annualization)) - 1.0


@njit(cache=True)
def max_drawdown_nb(returns):
    """numba equivalent of ``empyrical.max_drawdown(returns)``, plus where it happened.

    Returns ``(max_drawdown, peak, trough)``: indices into the value series whose element 0
    is the starting value and element i + 1 the value after return i (for returns taken from
    an equity curve, the equity bars). The trough is the first bar of the deepest drawdown,
    the peak the bar where its running maximum was first reached. NaN returns count as 0,
    like empyrical; empty returns give ``(nan, -1, -1)``.
    """
    n = returns.shape[0]
    if n < 1:
        return NAN, -1, -1
    start = 100.0  # empyrical anchors values at 100; kept so rounding matches theirs
    cum = 1.0
    peak_value = start
    peak = 0
    worst = 0.0
    worst_peak = 0
    trough = 0
    for i in range(n):
        r = returns[i]
        if not math.isnan(r):
            cum *= r + 1.0
        value = cum * start
        if value > peak_value:
            peak_value = value
            peak = i + 1
        dd = (value - peak_value) / peak_value
        if dd < worst:
            worst = dd
            worst_peak = peak
            trough = i + 1
    return worst, worst_peak, trough


@njit(cache=True)
def calmar_ratio_nb(returns, annualization):
    """numba equivalent of ``empyrical.calmar_ratio(returns, annualization=a)``."""
    mdd, _, _ = max_drawdown_nb(returns)
    if not mdd < 0.0:
        return NAN
    out = annual_return_nb(returns, annualization) / abs(mdd)
    if math.isinf(out):
        return NAN
    return out


@njit(cache=True)
def kelly_from_sums_nb(n, n_win, sum_win, n_loss, sum_loss):
    """The bot's capped Kelly fraction from counts and sums of winning/losing returns.

    ``p = n_win / n``, ``kelly = p - (1 - p) / (avg_win / avg_loss)`` with ``avg_loss`` the
    mean absolute losing return, clipped to [0, 0.25]; 0 until there are wins and losses.
    """
    if n_win == 0 or n_loss == 0:
        return 0.0
    p = n_win / n
    avg_win = sum_win / n_win
    avg_loss = sum_loss / n_loss
    k = p - (1.0 - p) / (avg_win / avg_loss)
    return min(max(k, 0.0), 0.25)


@njit(cache=True)
def kelly_fraction_nb(returns):
    """numba equivalent of the bot's ``fast_kelly_criterion`` with ``p`` from ``returns``.

    NaN returns are skipped; zero returns count as trades that are neither wins nor losses.
    """
    valid = returns[~np.isnan(returns)]
    wins = valid[valid > 0.0]
    losses = valid[valid < 0.0]
    return kelly_from_sums_nb(
        valid.shape[0], wins.shape[0], wins.sum(), losses.shape[0], -losses.sum()
    )


@njit(cache=True)
def trade_stats_seg_nb(
    n_segments,
    segment,
    net_pnl,
    return_pct,
    quantity,
    entry_index,
    exit_index,
    exit_reason,
    n_bars,
    include_open,
):
    """Per-segment trade statistics, in the order of ``TRADE_STATS``; trades in any order.

    Statistics use closed trades (and open ones if ``include_open``); wins and losses are
    ``return_pct`` > 0 / < 0; profit factor is gross profit over gross loss of ``net_pnl``.
    Exposure counts bar closes spent in a position of nonzero quantity, open trade included.
    """
    out = np.empty((9, n_segments), dtype=np.float64)
    cnt = np.zeros(n_segments, dtype=np.int64)
    n_win = np.zeros(n_segments, dtype=np.int64)
    n_loss = np.zeros(n_segments, dtype=np.int64)
    sum_win = np.zeros(n_segments)
    sum_loss = np.zeros(n_segments)
    profit = np.zeros(n_segments)
    loss = np.zeros(n_segments)
    sum_pnl = np.zeros(n_segments)
    sum_ret = np.zeros(n_segments)
    best = np.full(n_segments, -INF)
    worst = np.full(n_segments, INF)
    held = np.zeros(n_segments, dtype=np.int64)
    for t in range(segment.shape[0]):
        s = segment[t]
        is_open = exit_reason[t] == OPEN_REASON
        if quantity[t] > 0.0:
            held[s] += exit_index[t] - entry_index[t] + (1 if is_open else 0)
        if is_open and not include_open:
            continue
        r = return_pct[t]
        p = net_pnl[t]
        cnt[s] += 1
        sum_ret[s] += r
        sum_pnl[s] += p
        best[s] = max(best[s], r)
        worst[s] = min(worst[s], r)
        if r > 0.0:
            n_win[s] += 1
            sum_win[s] += r
        elif r < 0.0:
            n_loss[s] += 1
            sum_loss[s] -= r
        if p > 0.0:
            profit[s] += p
        elif p < 0.0:
            loss[s] -= p
    for s in range(n_segments):
        c = cnt[s]
        out[0, s] = c
        if c == 0:
            for k in range(1, 7):
                out[k, s] = NAN
        else:
            out[1, s] = n_win[s] / c
            if loss[s] > 0.0:
                out[2, s] = profit[s] / loss[s]
            elif profit[s] > 0.0:
                out[2, s] = INF
            else:
                out[2, s] = NAN
            out[3, s] = sum_pnl[s] / c
            out[4, s] = sum_ret[s] / c
            out[5, s] = best[s]
            out[6, s] = worst[s]
        out[7, s] = held[s] / n_bars[s] if n_bars[s] > 0 else NAN
        out[8, s] = kelly_from_sums_nb(c, n_win[s], sum_win[s], n_loss[s], sum_loss[s])
    return out


@njit(cache=True)
def returns_from_equity_nb(equity):
    """Simple returns of an equity curve, one fewer than bars (``empyrical.simple_returns``)."""
    n = equity.shape[0]
    out = np.empty(max(n - 1, 0), dtype=np.float64)
    for i in range(1, n):
        out[i - 1] = (equity[i] - equity[i - 1]) / equity[i - 1]
    return out


@njit(cache=True)
def return_metrics_seg_nb(equity, offsets, annualization, risk_free, required_return):
    """Return statistics of each equity segment, from its bar-to-bar simple returns.

    Rows: total_return, annual_return, annual_volatility, sharpe_ratio, sortino_ratio,
    max_drawdown, max_drawdown_peak, max_drawdown_trough, calmar_ratio (peak and trough are
    bar indices within the segment, -1 for a segment shorter than two bars).
    """
    n_seg = offsets.shape[0] - 1
    out = np.empty((9, n_seg), dtype=np.float64)
    for s in range(n_seg):
        r = returns_from_equity_nb(equity[offsets[s] : offsets[s + 1]])
        out[0, s] = total_return_nb(r)
        out[1, s] = annual_return_nb(r, annualization)
        out[2, s] = annual_volatility_nb(r, 2.0, annualization)
        out[3, s] = sharpe_ratio_nb(r, risk_free, annualization)
        out[4, s] = sortino_ratio_nb(r, required_return, annualization)
        mdd, peak, trough = max_drawdown_nb(r)
        out[5, s] = mdd
        out[6, s] = peak
        out[7, s] = trough
        out[8, s] = calmar_ratio_nb(r, annualization)
    return out
