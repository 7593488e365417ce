"""Deflated Sharpe ratio and PBO (CSCV) against hand-computed values and the DSR paper's
worked example (Bailey and López de Prado 2014, section "A numerical example")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compute import stats
from compute.errors import ParameterError


def test_dsr_matches_the_papers_numerical_example():
    # 100 trials, annualised Sharpe 2.5 over 1250 daily returns (250 a year), variance of the
    # trials' annualised Sharpe ratios 1/2, skewness -3, kurtosis 10: the paper reports an
    # expected maximum of about 0.1132 per day and a DSR of about 0.9004.
    days = 250
    sr0 = stats.expected_max_sharpe(100, 0.5 / days)
    assert round(sr0, 4) == 0.1132
    dsr = stats.deflated_sharpe_ratio(2.5 / math.sqrt(days), 1250, 100, 0.5 / days, -3.0, 10.0)
    assert round(dsr, 4) == 0.9004


def test_psr_hand_computed():
    # SR 0.1 over 101 returns, skew 0.05, kurtosis 3: variance term 1 - 0.005 + 0.005 = 1,
    # z = 0.1 * sqrt(100) = 1, PSR = Phi(1)
    psr = stats.probabilistic_sharpe_ratio(0.1, 101, 0.0, skew=0.05, kurtosis=3.0)
    assert psr == pytest.approx(0.8413447460685429, abs=1e-12)
    # against a benchmark equal to the estimate: one half
    assert stats.probabilistic_sharpe_ratio(0.3, 50, 0.3, 1.0, 8.0) == 0.5


def test_expected_max_sharpe_grows_with_trials():
    assert stats.expected_max_sharpe(1, 0.04, 0.1) == 0.1
    values = [stats.expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    # (1 - g) * Phi^-1(0.99) + g * Phi^-1(1 - 1/(100 e)) = 0.422784 * 2.326348 + 0.577216 * 2.680200
    assert values[2] == pytest.approx(2.53060, abs=1e-5)  # hand rounding of the quantiles


def test_moments_hand_computed():
    sharpe, skew, kurt, n = stats.moments([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    assert n == 5
    assert sharpe == pytest.approx(3.0 / math.sqrt(2.5))
    assert skew == pytest.approx(0.0)
    assert kurt == pytest.approx(6.8 / 4.0)  # m4 = 34 / 5, m2 = 2


def test_pbo_is_one_when_the_in_sample_best_is_always_worst_out_of_sample():
    # two trials, two blocks: A wins block 0 and loses block 1, B the opposite
    wave = np.array([0.01, -0.01, 0.02, -0.005])
    a = np.concatenate([wave + 0.01, wave - 0.01])
    b = np.concatenate([wave - 0.01, wave + 0.01])
    res = stats.pbo(np.column_stack([a, b]), n_blocks=2)
    assert res.n_splits == 2
    assert res.is_best.tolist() == [0, 1]
    # rank 1 of 2 out of sample: relative rank 1/3, logit ln(1/2)
    assert np.allclose(res.logits, math.log(0.5))
    assert res.pbo == 1.0


def test_pbo_is_zero_for_a_trial_that_dominates_every_block():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.01, (1600, 20))
    noise[:, 7] += 0.02
    res = stats.pbo(noise, n_blocks=8)
    assert res.n_splits == math.comb(8, 4)
    assert set(res.is_best.tolist()) == {7}
    assert res.pbo == 0.0
    # the chosen trial is ranked first of 20 out of sample: 20 / 21
    assert np.allclose(res.oos_rank, 20 / 21)


def test_pbo_of_pure_noise_is_near_one_half():
    rng = np.random.default_rng(9)
    res = stats.pbo(rng.normal(0, 0.01, (2000, 40)), n_blocks=10)
    assert 0.25 < res.pbo < 0.75
    assert res.n_splits == 252


def test_pbo_from_moments_equals_pbo_of_the_matrix():
    rng = np.random.default_rng(3)
    m = rng.normal(0.0002, 0.01, (803, 6))  # 3 leading rows are left out by 8 blocks of 100
    blocks = m[3:].reshape(8, 100, 6)
    direct = stats.pbo_from_moments(
        np.full((8, 6), 100), blocks.sum(axis=1), (blocks**2).sum(axis=1)
    )
    res = stats.pbo(m, n_blocks=8)
    assert np.array_equal(res.is_best, direct.is_best)
    assert np.allclose(res.logits, direct.logits)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stats.pbo(np.zeros((100, 3)), n_blocks=5), "n_blocks must be even"),
        (lambda: stats.pbo(np.zeros((10, 3)), n_blocks=8), "too few for 8 blocks"),
        (lambda: stats.pbo(np.zeros((100, 1)), n_blocks=2), "at least 2 trials"),
        (lambda: stats.expected_max_sharpe(0, 1.0), "n_trials must be an integer >= 1"),
        (lambda: stats.probabilistic_sharpe_ratio(0.5, 1), "n_obs must be an integer >= 2"),
    ],
)
def test_bad_arguments_name_the_value(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
