"""How much of a sweep's best result is selection: deflated Sharpe ratio and PBO (CSCV).

- ``deflated_sharpe_ratio`` (Bailey and López de Prado, "The Deflated Sharpe Ratio", 2014):
  the probabilistic Sharpe ratio of the selected trial against the Sharpe ratio expected
  from the best of ``n_trials`` trials without skill (``expected_max_sharpe``).
- ``pbo`` (Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest
  Overfitting", 2015): combinatorially symmetric cross-validation over ``S`` time blocks;
  the share of in-sample/out-of-sample splits in which the in-sample best trial ranks at or
  below the out-of-sample median. ``pbo_from_moments`` works from per-block return moments,
  which sweep kernels can return without keeping any equity curve.

Sharpe ratios here are per observation (not annualised): divide an annualised one by
``sqrt(periods per year)``, its variance by the periods per year.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from compute.errors import ParameterError

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "moments",
    "pbo",
    "pbo_from_moments",
    "pooled_moments",
    "probabilistic_sharpe_ratio",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(n_trials: int, var_sharpe: float, mean_sharpe: float = 0.0) -> float:
    """Expected maximum of ``n_trials`` independent Sharpe estimates (Bailey et al. 2014).

    ``mean + sqrt(var) * ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`` with γ the
    Euler-Mascheroni constant; ``mean_sharpe`` for a single trial.
    """
    n = _count("n_trials", n_trials, 1)
    var = _finite("var_sharpe", var_sharpe)
    if var < 0:
        raise ParameterError(f"var_sharpe = {var_sharpe!r} must be >= 0")
    if n == 1:
        return float(mean_sharpe)
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return float(mean_sharpe) + math.sqrt(var) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """P[true Sharpe > ``benchmark``] given an estimate from ``n_obs`` returns.

    ``Φ((SR - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR + (γ4 - 1) / 4 SR²))`` with ``kurtosis`` the
    non-excess kurtosis γ4 (3 for normal returns).
    """
    sr = _finite("sharpe", sharpe)
    t = _count("n_obs", n_obs, 2)
    var = 1.0 - _finite("skew", skew) * sr + (_finite("kurtosis", kurtosis) - 1.0) / 4.0 * sr * sr
    if var <= 0:
        raise ParameterError(
            f"skew {skew!r} and kurtosis {kurtosis!r} give a non-positive variance for Sharpe {sr!r}"
        )
    return _NORMAL.cdf((sr - float(benchmark)) * math.sqrt(t - 1) / math.sqrt(var))


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    var_sharpe: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    mean_sharpe: float = 0.0,
) -> float:
    """The deflated Sharpe ratio of the best of ``n_trials``: its probabilistic Sharpe ratio
    against ``expected_max_sharpe(n_trials, var_sharpe, mean_sharpe)``.

    Parameters
    ----------
    sharpe : float
        Per-observation Sharpe ratio of the selected trial.
    n_obs : int
        Number of returns it was estimated from.
    n_trials : int
        Number of (independent) trials the selection was made from.
    var_sharpe : float
        Variance of the trials' per-observation Sharpe ratios.
    skew, kurtosis : float
        Skewness and non-excess kurtosis of the selected trial's returns (``moments``).
    """
    sr0 = expected_max_sharpe(n_trials, var_sharpe, mean_sharpe)
    return probabilistic_sharpe_ratio(sharpe, n_obs, sr0, skew, kurtosis)


def moments(returns: Any) -> tuple[float, float, float, float]:
    """``(sharpe, skew, kurtosis, n)`` of returns, NaNs skipped: Sharpe with ddof=1 (as the
    metrics), skewness and non-excess kurtosis from population moments (as the paper)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    n = r.shape[0]
    if n < 2:
        return math.nan, math.nan, math.nan, float(n)
    mean = r.mean()
    d = r - mean
    m2 = float(np.mean(d * d))
    if m2 == 0.0:
        return math.nan, math.nan, math.nan, float(n)
    sharpe = float(mean / r.std(ddof=1))
    return sharpe, float(np.mean(d**3) / m2**1.5), float(np.mean(d**4) / m2**2), float(n)


def pooled_moments(
    count: float, s1: float, s2: float, s3: float, s4: float
) -> tuple[float, float, float, float]:
    """``moments`` from the count and the sums of r, r², r³, r⁴ of a set of returns
    (e.g. summed over the blocks of ``compute.sweep.evaluate_chunk(..., n_blocks=S)``)."""
    n = float(count)
    if n < 2:
        return math.nan, math.nan, math.nan, n
    mean = s1 / n
    m2 = s2 / n - mean * mean
    if not m2 > 0.0:
        return math.nan, math.nan, math.nan, n
    m3 = s3 / n - 3.0 * mean * s2 / n + 2.0 * mean**3
    m4 = s4 / n - 4.0 * mean * s3 / n + 6.0 * mean * mean * s2 / n - 3.0 * mean**4
    sharpe = mean / math.sqrt(m2 * n / (n - 1.0))
    return sharpe, m3 / m2**1.5, m4 / m2**2, n


@dataclass(frozen=True)
class PBOResult:
    """``pbo``: share of splits whose logit is <= 0; ``logits`` one per split; ``n_splits``;
    ``is_best``/``oos_rank``: the in-sample best trial of each split and its out-of-sample
    relative rank in (0, 1)."""

    pbo: float
    logits: np.ndarray
    is_best: np.ndarray
    oos_rank: np.ndarray

    @property
    def n_splits(self) -> int:
        return int(self.logits.shape[0])


def pbo(returns: Any, n_blocks: int = 16) -> PBOResult:
    """Probability of backtest overfitting of a ``(T observations, N trials)`` return matrix.

    The T rows are cut into ``n_blocks`` (even) consecutive blocks of ``T // n_blocks`` rows
    (the first ``T % n_blocks`` rows are left out); every choice of half the blocks is an
    in-sample set, its complement the out-of-sample set; the performance measure is the
    Sharpe ratio (ddof=1).
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ParameterError(
            f"pbo: returns must be a (observations, trials) matrix, got shape {m.shape}"
        )
    s = _blocks(n_blocks)
    t = m.shape[0] // s
    if t < 2:
        raise ParameterError(f"pbo: {m.shape[0]} observations are too few for {s} blocks")
    blocks = m[m.shape[0] - t * s :].reshape(s, t, m.shape[1])
    ok = ~np.isnan(blocks)
    x = np.where(ok, blocks, 0.0)
    return pbo_from_moments(ok.sum(axis=1), x.sum(axis=1), (x * x).sum(axis=1))


def pbo_from_moments(count: Any, total: Any, total_sq: Any) -> PBOResult:
    """``pbo`` from per-block moments ``(S blocks, N trials)``: number of returns, their sum
    and their sum of squares. The Sharpe ratio of a union of blocks is computed from the
    pooled moments."""
    n = np.asarray(count, dtype=np.float64)
    s1 = np.asarray(total, dtype=np.float64)
    s2 = np.asarray(total_sq, dtype=np.float64)
    if n.ndim != 2 or n.shape != s1.shape or n.shape != s2.shape:
        raise ParameterError(
            "pbo_from_moments: count, total and total_sq must be equal (S, N) matrices"
        )
    s = _blocks(n.shape[0])
    n_trials = n.shape[1]
    if n_trials < 2:
        raise ParameterError(f"pbo: needs at least 2 trials, got {n_trials}")
    splits = np.array(
        [[b in chosen for b in range(s)] for chosen in itertools.combinations(range(s), s // 2)]
    )
    in_perf = _pooled_sharpe(splits, n, s1, s2)
    out_perf = _pooled_sharpe(~splits, n, s1, s2)
    in_filled = np.where(np.isnan(in_perf), -np.inf, in_perf)
    best = np.argmax(in_filled, axis=1)
    oos = np.where(np.isnan(out_perf), -np.inf, out_perf)
    chosen = oos[np.arange(splits.shape[0]), best][:, None]
    # average rank (1 = worst) of the chosen trial among all trials out of sample
    rank = (oos < chosen).sum(axis=1) + ((oos == chosen).sum(axis=1) + 1) / 2.0
    rel = rank / (n_trials + 1)
    logits = np.log(rel / (1.0 - rel))
    return PBOResult(float(np.mean(logits <= 0.0)), logits, best, rel)


def _pooled_sharpe(mask: np.ndarray, n: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    w = mask.astype(np.float64)
    cnt = w @ n
    tot = w @ s1
    sq = w @ s2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = tot / cnt
        var = (sq - cnt * mean * mean) / (cnt - 1.0)
        sharpe = mean / np.sqrt(np.where(var > 0, var, np.nan))
    return np.where(cnt >= 2, sharpe, np.nan)


def _blocks(n_blocks: Any) -> int:
    s = _count("n_blocks", n_blocks, 2)
    if s % 2:
        raise ParameterError(f"pbo: n_blocks must be even, got {s}")
    if s > 24:
        raise ParameterError(f"pbo: n_blocks = {s} gives too many splits; use at most 24")
    return s


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    return v
