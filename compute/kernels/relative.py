"""Benchmark-relative metrics: empyrical's alpha/beta, excess Sharpe, tracking error, capture.

Each kernel takes two aligned 1-D arrays of simple returns, the strategy's and the
benchmark's (``factor_returns`` in empyrical), and repeats empyrical-reloaded 0.7's
arithmetic in its order: sequential sums like bottleneck's ``nanmean``/``nanstd``, bars where
either return is NaN skipped, the same length checks before any NaN is dropped.
``relative_metrics_seg_nb`` runs all of them over a batch of segments.
"""

import math

import numpy as np
from numba import njit

from compute.kernels.metrics import _div_nb, returns_from_equity_nb

NAN = np.nan

# Outputs of ``relative_metrics_seg_nb``, in order.
RELATIVE_METRICS = (
    "alpha",
    "beta",
    "tracking_error",
    "excess_sharpe",
    "up_capture",
    "down_capture",
)
_MIN_VARIANCE = 1.0e-30  # empyrical's beta: a benchmark variance below this gives NaN


@njit(cache=True)
def beta_nb(returns, factor_returns):
    """numba equivalent of ``empyrical.beta(returns, factor_returns)`` (risk-free is unused there).

    ``cov(r, f) / var(f)`` as population moments over the bars where both are present; NaN
    with fewer than two bars or a benchmark variance below 1e-30.
    """
    n = returns.shape[0]
    if n < 2:
        return NAN
    count = 0
    total = 0.0
    for i in range(n):
        if not (math.isnan(returns[i]) or math.isnan(factor_returns[i])):
            count += 1
            total += factor_returns[i]
    if count == 0:
        return NAN
    mean = total / count
    cov = 0.0
    var = 0.0
    for i in range(n):
        if not (math.isnan(returns[i]) or math.isnan(factor_returns[i])):
            d = factor_returns[i] - mean
            cov += d * returns[i]
            var += d * d
    var /= count
    if var < _MIN_VARIANCE:
        return NAN
    return (cov / count) / var


@njit(cache=True)
def alpha_beta_nb(returns, factor_returns, risk_free, annualization):
    """numba equivalent of ``empyrical.alpha_beta(returns, factor_returns, risk_free, annualization=a)``.

    Alpha is ``(1 + mean((r - rf) - beta * (f - rf))) ** a - 1`` over the bars where both
    returns are present. Returns ``(alpha, beta)``.
    """
    b = beta_nb(returns, factor_returns)
    n = returns.shape[0]
    if n < 2:
        return NAN, b
    count = 0
    total = 0.0
    for i in range(n):
        x = (returns[i] - risk_free) - b * (factor_returns[i] - risk_free)
        if not math.isnan(x):
            count += 1
            total += x
    if count == 0:
        return NAN, b
    return (total / count + 1.0) ** annualization - 1.0, b


@njit(cache=True)
def _active_moments_nb(returns, factor_returns):
    """(mean, std ddof=1 with empyrical's zero-dispersion rule) of ``returns - factor_returns``."""
    count = 0
    total = 0.0
    lo = np.inf
    hi = -np.inf
    for i in range(returns.shape[0]):
        x = returns[i] - factor_returns[i]
        if not math.isnan(x):
            count += 1
            total += x
            lo = min(lo, x)
            hi = max(hi, x)
    if count == 0:
        return NAN, NAN
    mean = total / count
    if count < 2:
        return mean, NAN
    if lo == hi:
        return mean, 0.0  # empyrical's _zero_dispersion_std: identical values have no spread
    ss = 0.0
    for i in range(returns.shape[0]):
        x = returns[i] - factor_returns[i]
        if not math.isnan(x):
            d = x - mean
            ss += d * d
    return mean, math.sqrt(ss / (count - 1))


@njit(cache=True)
def tracking_error_nb(returns, factor_returns):
    """The denominator of ``empyrical.excess_sharpe``: std (ddof=1) of the active returns.

    Per period, not annualised; 0 when every active return is equal, NaN with fewer than two
    returns (empyrical-reloaded has no public tracking-error function).
    """
    if returns.shape[0] < 2:
        return NAN
    return _active_moments_nb(returns, factor_returns)[1]


@njit(cache=True)
def excess_sharpe_nb(returns, factor_returns):
    """numba equivalent of ``empyrical.excess_sharpe(returns, factor_returns)``.

    The information ratio as empyrical defines it: mean active return over tracking error,
    per period (not annualised).
    """
    if returns.shape[0] < 2:
        return NAN
    mean, te = _active_moments_nb(returns, factor_returns)
    return _div_nb(mean, te)


@njit(cache=True)
def _growth_rate_nb(returns, annualization):
    """``empyrical.annual_return`` of NaN-free returns: ``prod(1 + r) ** (a / n) - 1``.

    The product is raised as is; ``compute.kernels.metrics.annual_return_nb`` goes through
    ``total_return_nb`` (``prod - 1``, then ``+ 1``), which loses digits when the product is
    tiny, as it is over a long run of down days (caught by test_capture_matches_empyrical
    on real_aapl_vs_ibm).
    """
    n = returns.shape[0]
    if n < 1:
        return NAN
    prod = 1.0
    for i in range(n):
        prod *= returns[i] + 1.0
    return prod ** (1.0 / (n / annualization)) - 1.0


@njit(cache=True)
def capture_nb(returns, factor_returns, sign, annualization):
    """numba equivalent of ``empyrical.up_capture`` (sign > 0) / ``down_capture`` (sign < 0).

    The ratio of the annual returns of both series over the bars where both are present and
    the benchmark return has the given sign.
    """
    n = returns.shape[0]
    r = np.empty(n, dtype=np.float64)
    f = np.empty(n, dtype=np.float64)
    m = 0
    for i in range(n):
        x = returns[i]
        y = factor_returns[i]
        if math.isnan(x) or math.isnan(y):
            continue
        if (sign > 0 and y > 0.0) or (sign < 0 and y < 0.0):
            r[m] = x
            f[m] = y
            m += 1
    return _div_nb(_growth_rate_nb(r[:m], annualization), _growth_rate_nb(f[:m], annualization))


@njit(cache=True)
def relative_metrics_seg_nb(returns, factor_returns, offsets, risk_free, annualization):
    """Every ``RELATIVE_METRICS`` value for each segment ``[offsets[s], offsets[s+1])``."""
    n_seg = offsets.shape[0] - 1
    out = np.empty((len(RELATIVE_METRICS), n_seg), dtype=np.float64)
    for s in range(n_seg):
        r = returns[offsets[s] : offsets[s + 1]]
        f = factor_returns[offsets[s] : offsets[s + 1]]
        alpha, beta = alpha_beta_nb(r, f, risk_free, annualization)
        out[0, s] = alpha
        out[1, s] = beta
        out[2, s] = tracking_error_nb(r, f)
        out[3, s] = excess_sharpe_nb(r, f)
        out[4, s] = capture_nb(r, f, 1, annualization)
        out[5, s] = capture_nb(r, f, -1, annualization)
    return out


@njit(cache=True)
def relative_equity_seg_nb(equity, benchmark, offsets, risk_free, annualization):
    """``relative_metrics_seg_nb`` on the bar-to-bar returns of each equity segment and of the
    benchmark values over the same bars."""
    n_seg = offsets.shape[0] - 1
    out = np.empty((len(RELATIVE_METRICS), n_seg), dtype=np.float64)
    one = np.array([0, 0], dtype=np.int64)
    for s in range(n_seg):
        r = returns_from_equity_nb(equity[offsets[s] : offsets[s + 1]])
        f = returns_from_equity_nb(benchmark[offsets[s] : offsets[s + 1]])
        one[1] = r.shape[0]
        out[:, s] = relative_metrics_seg_nb(r, f, one, risk_free, annualization)[:, 0]
    return out
