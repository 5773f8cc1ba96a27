"""Sharpe ratios that account for luck: PSR, the expected maximum of N trials, DSR, MinTRL and MinBTL (pure).

Conventions, the same in every function here:

- A Sharpe ratio is **per period** (per observation: per day for daily
  returns), never annualised: ``SR = mean / std`` of the period returns. An
  annual SR is turned into a per-period one by dividing by
  ``sqrt(periods per year)``, a variance of SRs by dividing by the periods per
  year (as the DSR paper's example does). Only ``minimum_backtest_length``
  speaks in years and annual SRs, as its paper does.
- ``kurtosis`` is the **raw** kurtosis ``m4 / m2**2`` (3 for normal returns),
  not the excess (Fisher) kurtosis; ``return_moments`` gives both moments
  from a return series.

References:

- [PSR] Bailey, D. H. and Lopez de Prado, M. (2012), "The Sharpe ratio
  efficient frontier", Journal of Risk 15(2): the probabilistic Sharpe ratio
  and the minimum track record length.
- [DSR] Bailey, D. H. and Lopez de Prado, M. (2014), "The Deflated Sharpe
  Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5): the expected maximum
  SR of N trials and the deflated SR.
- [MinBTL] Bailey, D. H., Borwein, J. M., Lopez de Prado, M. and Zhu, Q. J.
  (2014), "Pseudo-mathematics and financial charlatanism: the effects of
  backtest overfitting on out-of-sample performance", Notices of the AMS
  61(5): the minimum backtest length.

Each docstring writes its formula out in the papers' notation rather than
citing an equation number (the numbering differs between the papers'
working-paper and journal versions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)  # the Euler-Mascheroni constant, 0.5772...


@dataclass(frozen=True)
class ReturnMoments:
    """What the PSR needs of a return series: per-period SR, skewness, raw kurtosis, length."""

    sharpe: float
    skew: float
    kurtosis: float
    n_obs: int


def return_moments(returns: ArrayLike) -> ReturnMoments:
    """Return the per-period Sharpe ratio, skewness, raw kurtosis and length of a return series.

    ``sharpe = mean / std`` with the sample standard deviation (``ddof=1``);
    ``skew = m3 / m2**1.5`` and ``kurtosis = m4 / m2**2`` (raw: normal is 3,
    i.e. Fisher's excess kurtosis + 3) from the biased central moments
    ``m_k = mean((r - mean)**k)``, scipy's ``bias=True`` defaults. The biased
    moments always satisfy ``kurtosis >= skew**2 + 1``, which keeps the PSR's
    variance term positive. Raises ``ValueError`` for fewer than 2 returns, a
    non-finite return or a constant series (its SR is undefined).
    """
    values = np.asarray(returns, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"returns must be a 1-d series of at least 2 values, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("returns must be finite (no NaN or inf)")
    std = float(np.std(values, ddof=1))
    if std == 0.0:
        raise ValueError("returns are constant: their Sharpe ratio is undefined")
    skew, kurtosis = _biased_shape(values)
    return ReturnMoments(sharpe=float(np.mean(values)) / std, skew=skew, kurtosis=kurtosis, n_obs=int(values.size))


def _biased_shape(values: np.ndarray) -> tuple[float, float]:
    """Return ``scipy.stats.skew(values, bias=True)`` and ``scipy.stats.kurtosis(values, fisher=False, bias=True)``.

    Bitwise scipy's values (tests/evaluation/selection/test_deflated_sharpe.py
    compares them): the same numpy operations on the same types as scipy's
    ``skew``, ``kurtosis`` and ``_moment`` (the deviations squared, cubed as
    ``d**2 * d``, to the fourth as ``(d**2)**2``, each averaged; NaN when
    ``m2`` is within rounding of 0), once for both, without the argument
    handling of scipy's wrappers, which cost ten times the arithmetic on a
    five-year daily series.
    """
    mean = np.mean(values, keepdims=True)
    deviation = values - mean
    squared = deviation**2
    m2, m3, m4 = np.mean(squared), np.mean(squared * deviation), np.mean(squared**2)
    if m2 <= (np.finfo(m2.dtype).eps * np.squeeze(mean)) ** 2:
        return math.nan, math.nan
    return float(m3 / m2**1.5), float(m4 / m2**2.0)


def _sharpe_variance_term(sr: float, *, skew: float, kurtosis: float) -> float:
    """Return ``1 - g3 SR + (g4 - 1) / 4 SR^2``, (T - 1) times the variance of the SR estimate ([PSR])."""
    term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not term > 0.0:
        raise ValueError(
            f"skew {skew} and raw kurtosis {kurtosis} give a non-positive SR variance at SR {sr} "
            "(raw kurtosis must be at least skew**2 + 1; pass the raw kurtosis, normal = 3)"
        )
    return term


def probabilistic_sharpe(sr: float, *, benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """Return the probability that the true Sharpe ratio exceeds ``benchmark``, given the observed ``sr``.

    [PSR], the probabilistic Sharpe ratio (restated in [DSR])::

        PSR(SR*) = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )

    with ``Phi`` the standard normal CDF, ``T = n_obs`` the number of returns,
    ``g3 = skew`` and ``g4 = kurtosis`` (RAW: normal = 3) of those returns;
    ``sr`` and ``benchmark`` are per-period SRs. Negative skew and fat tails
    widen the SR's sampling error and so lower the PSR of a positive SR.
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be at least 2, got {n_obs}")
    term = _sharpe_variance_term(sr, skew=skew, kurtosis=kurtosis)
    return float(stats.norm.cdf((sr - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(term)))


def expected_max_sharpe(*, n_trials: int, variance: float) -> float:
    """Return the expected maximum of ``n_trials`` Sharpe ratios whose true value is zero.

    [DSR], the benchmark ``SR_0`` of the deflated Sharpe ratio::

        SR_0 = sqrt(V) ((1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e)))

    with ``Z^-1`` the standard normal quantile, ``gamma`` the Euler-Mascheroni
    constant, ``N = n_trials`` independent trials and ``V = variance`` the
    variance of their SR estimates (per period, like the SRs). ``N = 1`` has
    no selection and returns 0 (the formula's limit diverges there); ``N``
    should be the number of *independent* trials (``effective_trials``).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if not variance >= 0.0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    if n_trials == 1:
        return 0.0
    return math.sqrt(variance) * _expected_max_standard_normal(n_trials)


def _expected_max_standard_normal(n_trials: int) -> float:
    """Return the approximate expected maximum of ``n_trials`` independent standard normals ([DSR], [MinBTL])."""
    return float(
        (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    )


def deflated_sharpe(sr: float, *, n_trials: int, variance: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """Return the probability that the best of ``n_trials`` trials has a true Sharpe ratio above zero.

    [DSR]: the PSR of the selected trial's ``sr`` against the benchmark
    ``expected_max_sharpe(n_trials=..., variance=...)``, the SR the best of N
    skill-less trials reaches by luck alone. Per-period SRs and variance, raw
    kurtosis. A DSR of 0.95 or more is the paper's bar for a discovery.
    """
    benchmark = expected_max_sharpe(n_trials=n_trials, variance=variance)
    return probabilistic_sharpe(sr, benchmark=benchmark, n_obs=n_obs, skew=skew, kurtosis=kurtosis)


def minimum_track_record_length(
    sr: float, *, benchmark: float, skew: float, kurtosis: float, confidence: float = 0.95
) -> float:
    """Return how many returns are needed before ``sr`` beats ``benchmark`` with probability ``confidence``.

    [PSR] MinTRL, the ``T`` at which the PSR reaches ``confidence``::

        MinTRL = 1 + (1 - g3 SR + (g4 - 1) / 4 SR^2) (Z^-1(confidence) / (SR - SR*))^2

    in periods of the returns (per-period SRs, raw kurtosis). ``inf`` when
    ``sr <= benchmark``: no track record is long enough.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    term = _sharpe_variance_term(sr, skew=skew, kurtosis=kurtosis)
    if sr <= benchmark:
        return math.inf
    return 1.0 + term * (float(stats.norm.ppf(confidence)) / (sr - benchmark)) ** 2


def minimum_backtest_length(*, n_trials: int, target_sharpe: float) -> float:
    """Return the years of data below which the best of ``n_trials`` is expected to reach ``target_sharpe`` by luck.

    [MinBTL], the minimum backtest length theorem::

        MinBTL ~ ((1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e)))^2 / E[max_N]^2  <  2 ln N / E[max_N]^2

    in years, with ``E[max_N] = target_sharpe`` an ANNUAL Sharpe ratio and
    ``N`` independent trials of skill-less strategies with unit annual SR
    variance. A backtest shorter than this lets the best of N trials show an
    in-sample annual SR of ``target_sharpe`` while its expected out-of-sample
    SR is zero. The paper's example: 5 years of data allow no more than 45
    independent trials for a target SR of 1 (``minimum_backtest_length(
    n_trials=45, target_sharpe=1.0)`` is 4.998).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if not target_sharpe > 0.0:
        raise ValueError(f"target_sharpe must be > 0, got {target_sharpe}")
    if n_trials == 1:
        return 0.0
    return (_expected_max_standard_normal(n_trials) / target_sharpe) ** 2
