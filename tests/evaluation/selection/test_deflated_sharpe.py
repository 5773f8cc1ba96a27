"""PSR, expected maximum SR, DSR, MinTRL and MinBTL (app.evaluation.selection.deflated_sharpe)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from app.evaluation.selection import (
    deflated_sharpe,
    expected_max_sharpe,
    minimum_backtest_length,
    minimum_track_record_length,
    probabilistic_sharpe,
    return_moments,
)

# The DSR paper's worked example (Bailey and Lopez de Prado 2014): an annual SR of 2.5 over 5 years of
# daily returns (T = 1,250), skew -3, raw kurtosis 10, the best of N = 100 trials whose SRs have an
# annualised variance of 0.5. The paper converts to daily: SR / sqrt(250), V / 250.
DAYS = 250
DAILY_SR = 2.5 / math.sqrt(DAYS)
DAILY_VARIANCE = 0.5 / DAYS
EXAMPLE = {"n_obs": 1250, "skew": -3.0, "kurtosis": 10.0}


def test_the_dsr_papers_worked_example():
    assert round(expected_max_sharpe(n_trials=100, variance=DAILY_VARIANCE), 4) == 0.1132
    assert round(deflated_sharpe(DAILY_SR, n_trials=100, variance=DAILY_VARIANCE, **EXAMPLE), 4) == 0.9004


def test_the_dsr_is_the_psr_against_the_expected_maximum():
    benchmark = expected_max_sharpe(n_trials=100, variance=DAILY_VARIANCE)
    assert deflated_sharpe(DAILY_SR, n_trials=100, variance=DAILY_VARIANCE, **EXAMPLE) == probabilistic_sharpe(
        DAILY_SR, benchmark=benchmark, **EXAMPLE
    )


def test_psr_of_normal_returns_is_the_t_test_like_z():
    # skew 0, raw kurtosis 3: the variance term is 1 + SR^2 / 2
    sr, t = 0.1, 101
    expected = stats.norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 + sr * sr / 2))
    assert probabilistic_sharpe(sr, benchmark=0.0, n_obs=t, skew=0.0, kurtosis=3.0) == pytest.approx(expected)
    assert probabilistic_sharpe(0.0, benchmark=0.0, n_obs=t, skew=0.0, kurtosis=3.0) == 0.5


def test_negative_skew_and_fat_tails_lower_the_psr_of_a_positive_sr():
    normal = probabilistic_sharpe(0.1, benchmark=0.0, n_obs=250, skew=0.0, kurtosis=3.0)
    assert probabilistic_sharpe(0.1, benchmark=0.0, n_obs=250, skew=-1.0, kurtosis=3.0) < normal
    assert probabilistic_sharpe(0.1, benchmark=0.0, n_obs=250, skew=0.0, kurtosis=9.0) < normal


def test_excess_kurtosis_passed_for_raw_is_refused_when_impossible():
    # raw kurtosis below skew^2 + 1 cannot come from data; the message names the convention
    with pytest.raises(ValueError, match="raw kurtosis"):
        probabilistic_sharpe(2.0, benchmark=0.0, n_obs=100, skew=2.0, kurtosis=0.0)
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe(0.1, benchmark=0.0, n_obs=1, skew=0.0, kurtosis=3.0)


def test_expected_max_sharpe_grows_with_trials_and_scales_with_the_sr_spread():
    assert expected_max_sharpe(n_trials=1, variance=1.0) == 0.0
    values = [expected_max_sharpe(n_trials=n, variance=1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    assert values[1] == pytest.approx(1.5746, abs=1e-4)  # E[max] of 10 standard normals, "about 1.57" in [MinBTL]
    assert expected_max_sharpe(n_trials=10, variance=4.0) == pytest.approx(2 * values[1])
    assert expected_max_sharpe(n_trials=10, variance=0.0) == 0.0
    with pytest.raises(ValueError):
        expected_max_sharpe(n_trials=0, variance=1.0)
    with pytest.raises(ValueError):
        expected_max_sharpe(n_trials=10, variance=-1.0)


@pytest.mark.parametrize("n_trials", [10, 50, 1000])
def test_expected_max_sharpe_is_close_to_the_simulated_maximum(n_trials):
    # the papers' formula is an approximation: within 3% of the simulated mean maximum here
    rng = np.random.default_rng(11)
    simulated = rng.standard_normal((20_000, n_trials)).max(axis=1).mean()
    assert expected_max_sharpe(n_trials=n_trials, variance=1.0) == pytest.approx(simulated, rel=0.03)


def test_minimum_track_record_length_is_where_the_psr_reaches_the_confidence():
    moments = {"skew": -1.0, "kurtosis": 6.0}
    length = minimum_track_record_length(0.1, benchmark=0.02, confidence=0.95, **moments)
    psr = probabilistic_sharpe(0.1, benchmark=0.02, n_obs=length, **moments)  # n_obs as a real number
    assert psr == pytest.approx(0.95)
    assert minimum_track_record_length(0.1, benchmark=0.1, **moments) == math.inf
    assert minimum_track_record_length(0.05, benchmark=0.1, **moments) == math.inf
    with pytest.raises(ValueError):
        minimum_track_record_length(0.1, benchmark=0.0, confidence=1.0, **moments)


def test_minimum_backtest_length_papers_example():
    # [MinBTL]: with 5 years of data, no more than 45 independent trials for an annual SR of 1.
    # The formula gives 4.998 years for N = 45 (derived here; the paper states the rounded claim).
    assert minimum_backtest_length(n_trials=45, target_sharpe=1.0) == pytest.approx(4.998, abs=1e-3)
    assert minimum_backtest_length(n_trials=46, target_sharpe=1.0) > 5.0
    assert minimum_backtest_length(n_trials=45, target_sharpe=2.0) == pytest.approx(4.998 / 4, abs=1e-3)
    # the paper's upper bound 2 ln N / E[max]^2
    for n in (10, 100, 1000):
        assert minimum_backtest_length(n_trials=n, target_sharpe=1.0) < 2 * math.log(n)
    assert minimum_backtest_length(n_trials=1, target_sharpe=1.0) == 0.0
    with pytest.raises(ValueError):
        minimum_backtest_length(n_trials=10, target_sharpe=0.0)


def test_return_moments_convention_raw_kurtosis_and_biased_moments():
    returns = np.array([0.01, -0.02, 0.03, 0.0, 0.015, -0.005, 0.02])
    moments = return_moments(returns)
    centred = returns - returns.mean()
    m2, m3, m4 = (np.mean(centred**k) for k in (2, 3, 4))
    assert moments.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert moments.skew == pytest.approx(m3 / m2**1.5)
    assert moments.kurtosis == pytest.approx(m4 / m2**2)
    assert moments.kurtosis == pytest.approx(stats.kurtosis(returns) + 3.0)  # Fisher + 3
    assert moments.n_obs == 7


def test_return_moments_of_normal_returns_feed_the_psr():
    rng = np.random.default_rng(5)
    moments = return_moments(rng.normal(0.0, 0.01, size=5000))
    assert moments.skew == pytest.approx(0.0, abs=0.1)
    assert moments.kurtosis == pytest.approx(3.0, abs=0.2)
    psr = probabilistic_sharpe(
        moments.sharpe, benchmark=0.0, n_obs=moments.n_obs, skew=moments.skew, kurtosis=moments.kurtosis
    )
    assert 0.01 < psr < 0.99  # no edge: the PSR of zero is not extreme


@pytest.mark.parametrize("returns", [[0.01], [0.01, 0.01, 0.01], [0.01, float("nan")], [[0.1, 0.2]]])
def test_return_moments_refuses_what_has_no_sharpe_ratio(returns):
    with pytest.raises(ValueError):
        return_moments(returns)


@pytest.mark.parametrize("seed", range(8))
def test_the_moments_are_bitwise_scipys(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.choice([2, 3, 30, 1825, 4000]))
    returns = rng.standard_t(3, size=size) * 10.0 ** rng.uniform(-4, 1) + rng.uniform(-1e-3, 1e-3)
    if seed % 2:
        returns[rng.random(size) < 0.8] = 0.0  # most days without a trade, as a daily equity curve has
        returns[0] = 0.01
    moments = return_moments(returns)
    assert moments.skew == float(stats.skew(returns, bias=True))
    assert moments.kurtosis == float(stats.kurtosis(returns, fisher=False, bias=True))
