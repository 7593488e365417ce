"""Sweeps: many parameter combinations of one strategy over a batch, metric rows out.

``sweep_chunk_nb`` evaluates a chunk of combinations in one call. The indicator series the
combinations need are computed beforehand, once per distinct computation, into the rows of
one 2-D ``series`` array; each combination names its rows in ``refs`` and its scalar
parameters in ``fvals``. Per combination the kernel

1. builds the target of every bar of the batch from its series (``_target_nb``, by strategy
   ``kind``), with the same arithmetic as the strategy's own kernel;
2. for each evaluation window of each segment, runs the nightly backtest kernel
   (``compute.kernels.backtest.simulate_seg_nb``) on that window and reduces its equity and
   trades with the nightly metric kernels (``return_metrics_seg_nb``,
   ``trade_stats_seg_nb``) to one row of ``N_METRICS`` values. The equity curve is scratch,
   dropped before the next window: only metric rows leave the kernel.

Rows therefore equal ``compute.pipeline.run_batch``'s metrics for the same single parameter
set (tests/unit/test_sweep_kernels.py). A window is a bar range local to its segment; the
nightly run is one window covering each whole segment.
"""

import math

import numpy as np
from numba import njit

from compute.kernels.backtest import FLOAT_FIELDS, INT_FIELDS, simulate_seg_nb
from compute.kernels.driver import NAN, segmented
from compute.kernels.metrics import TRADE_STATS, return_metrics_seg_nb, trade_stats_seg_nb
from compute.kernels.strategies import (
    EQUAL_RTOL,
    _band_nb,
    _past_mean_nb,
    _sign_nb,
    bollinger_into_nb,
    momentum_into_nb,
)

# Strategy kinds ``_target_nb`` knows; compute.sweep.evaluate maps strategy names to them.
MA_CROSSOVER, ZSCORE, MOMENTUM, BOLLINGER = 0, 1, 2, 3
# the nightly strategies' batch forms, as compute.strategies runs them
_momentum_batch_nb = segmented(momentum_into_nb, 4, [NAN])
_bollinger_batch_nb = segmented(bollinger_into_nb, 3, [NAN])
N_RETURN_METRICS = 9  # rows of return_metrics_seg_nb
N_METRICS = N_RETURN_METRICS + len(TRADE_STATS)
N_MOMENTS = 5  # per block: count, sum of r, r^2, r^3, r^4

_NET_PNL = FLOAT_FIELDS.index("net_pnl")
_RETURN_PCT = FLOAT_FIELDS.index("return_pct")
_QUANTITY = FLOAT_FIELDS.index("quantity")
_SEGMENT = INT_FIELDS.index("segment")
_ENTRY = INT_FIELDS.index("entry_index")
_EXIT = INT_FIELDS.index("exit_index")
_REASON = INT_FIELDS.index("exit_reason")


@njit(cache=True)
def past_table_nb(close, offsets, windows, zscore):
    """Row j, per bar (NaN in warm-up): ``mean(close[i - windows[j]:i])``, the bars before i,
    as ``ma_crossover_into_nb`` computes it; with ``zscore`` the z-score of the close against
    those bars, as ``zscore_into_nb`` computes it (0 where they have no dispersion).

    Computed once per window and shared by every combination that uses it.
    """
    out = np.full((windows.shape[0], close.shape[0]), np.nan)
    for j in range(windows.shape[0]):
        w = windows[j]
        for s in range(offsets.shape[0] - 1):
            for i in range(offsets[s] + w, offsets[s + 1]):
                mean = _past_mean_nb(close, i, w)
                if not zscore:
                    out[j, i] = mean
                    continue
                ss = 0.0
                for k in range(i - w, i):
                    d = close[k] - mean
                    ss += d * d
                out[j, i] = 0.0 if ss == 0.0 else (close[i] - mean) / math.sqrt(ss / w)
    return out


@njit(cache=True)
def _target_nb(kind, close, offsets, series, refs, fvals, out):
    """Fill ``out`` with one combination's target for every bar of the batch."""
    n = close.shape[0]
    if kind == MA_CROSSOVER:
        short_ma = series[refs[0]]
        long_ma = series[refs[1]]
        for i in range(n):
            if math.isnan(short_ma[i]) or math.isnan(long_ma[i]):
                out[i] = np.nan
            else:
                diff = short_ma[i] - long_ma[i]
                out[i] = 0.0 if abs(diff) <= EQUAL_RTOL * abs(long_ma[i]) else _sign_nb(diff)
    elif kind == ZSCORE:
        z = series[refs[0]]
        threshold = fvals[0]
        for i in range(n):
            out[i] = np.nan if math.isnan(z[i]) else _band_nb(z[i], -threshold, threshold)
    elif kind == MOMENTUM:
        out[:] = _momentum_batch_nb(
            close,
            series[refs[0]],
            series[refs[1]],
            series[refs[2]],
            offsets,
            np.int64(fvals[0]),
            fvals[1],
            fvals[2],
            fvals[3],
            fvals[4],
            fvals[5],
        )[0]
    else:
        out[:] = _bollinger_batch_nb(
            close, series[refs[0]], series[refs[1]], offsets, fvals[0], fvals[1]
        )[0]


@njit(cache=True)
def evaluate_window_nb(
    open_, high, low, close, target, settings, ratios, include_open, out, moments
):
    """Backtest one series and write its ``N_METRICS`` metrics into ``out``; keeps nothing.

    The nightly kernels, called as ``simulate_batch`` + ``metrics_batch`` call them:
    ``settings`` is ``simulate_seg_nb``'s arguments after ``offsets``, ``ratios`` its
    (annualization, risk_free, required_return). With ``moments`` of shape ``(S, 5)``,
    S > 0, also writes ``block_moments_nb`` of its bar returns.
    """
    offs = np.array([0, close.shape[0]], dtype=np.int64)
    equity, fl, it = simulate_seg_nb(open_, high, low, close, target, offs, *settings)
    out[:N_RETURN_METRICS] = return_metrics_seg_nb(equity, offs, *ratios)[:, 0]
    out[N_RETURN_METRICS:] = trade_stats_seg_nb(
        1,
        it[:, _SEGMENT],
        fl[:, _NET_PNL],
        fl[:, _RETURN_PCT],
        fl[:, _QUANTITY],
        it[:, _ENTRY],
        it[:, _EXIT],
        it[:, _REASON],
        offs[1:] - offs[:1],
        include_open,
    )[:, 0]
    if moments.shape[0] > 0:
        block_moments_nb(equity, moments)


@njit(cache=True)
def block_moments_nb(equity, out):
    """Count and sums of the 1st to 4th powers of the bar returns of ``equity`` in
    ``out.shape[0]`` consecutive blocks of equal length; the first ``(n - 1) % S`` returns
    are left out, as ``compute.stats.pbo`` leaves out leading rows."""
    n_blocks = out.shape[0]
    n_ret = equity.shape[0] - 1
    out[:] = 0.0
    if n_ret < n_blocks:
        return
    size = n_ret // n_blocks
    first = n_ret - size * n_blocks
    for b in range(n_blocks):
        for j in range(first + b * size, first + (b + 1) * size):
            r = (equity[j + 1] - equity[j]) / equity[j]
            r2 = r * r
            out[b, 0] += 1.0
            out[b, 1] += r
            out[b, 2] += r2
            out[b, 3] += r2 * r
            out[b, 4] += r2 * r2


@njit(cache=True)
def sweep_chunk_nb(
    kind,
    open_,
    high,
    low,
    close,
    offsets,
    series,
    refs,
    fvals,
    fraction,
    long_short,
    stop_loss,
    take_profit,
    win_start,
    win_end,
    init_cash,
    fee_rate,
    slip_rate,
    kelly,
    annualization,
    risk_free,
    required_return,
    include_open,
    n_blocks,
):
    """Metric rows ``(combination, window, segment, N_METRICS)`` of a chunk of combinations,
    and per-block return moments ``(combination, window, segment, n_blocks, 5)``.

    ``refs[c]`` / ``fvals[c]``: rows of ``series`` and scalar parameters of combination c
    (``_target_nb``); ``fraction``, ``long_short``, ``stop_loss``, ``take_profit``: its
    backtest settings (NaN for no stop / take-profit). ``win_start[w, s]`` /
    ``win_end[w, s]``: window w of segment s as local bar indices; an empty window gives a
    row of NaN. ``n_blocks`` 0 skips the moments (``block_moments_nb``).
    """
    n_combo = refs.shape[0]
    n_win = win_start.shape[0]
    n_seg = offsets.shape[0] - 1
    out = np.full((n_combo, n_win, n_seg, N_METRICS), np.nan)
    moments = np.zeros((n_combo, n_win, n_seg, n_blocks, N_MOMENTS))
    target = np.empty(close.shape[0])
    ratios = (annualization, risk_free, required_return)
    for c in range(n_combo):
        _target_nb(kind, close, offsets, series, refs[c], fvals[c], target)
        settings = (
            init_cash,
            fee_rate,
            slip_rate,
            fraction[c],
            long_short[c],
            kelly,
            stop_loss[c],
            take_profit[c],
        )
        for w in range(n_win):
            for s in range(n_seg):
                a = offsets[s] + win_start[w, s]
                b = offsets[s] + win_end[w, s]
                if b > a:
                    evaluate_window_nb(
                        open_[a:b],
                        high[a:b],
                        low[a:b],
                        close[a:b],
                        target[a:b],
                        settings,
                        ratios,
                        include_open,
                        out[c, w, s],
                        moments[c, w, s],
                    )
    return out, moments
