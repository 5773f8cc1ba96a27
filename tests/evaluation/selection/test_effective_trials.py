"""Effective number of independent trials, SR variance across clusters (app.evaluation.selection.effective_trials)."""

from __future__ import annotations

import numpy as np
import pytest

from app.evaluation.selection import (
    cluster_sharpe_variance,
    cluster_trials,
    condensed_distance,
    correlation_distance,
    effective_trials,
    trial_counts,
)


def noise(periods: int, trials: int, *, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((periods, trials))


def test_copies_of_one_trial_are_one_trial():
    assert effective_trials(np.repeat(noise(250, 1, seed=0), 20, axis=1)) == 1


@pytest.mark.parametrize("periods", [16, 250])
def test_independent_trials_each_run_five_times_are_k_trials(periods):
    k = 12
    copies = np.repeat(noise(periods, k, seed=1), 5, axis=1)
    assert effective_trials(copies) == k
    jittered = copies + 0.05 * noise(periods, 5 * k, seed=2)  # near copies, as neighbouring parameters give
    assert abs(effective_trials(jittered) - k) <= 1


@pytest.mark.parametrize(("periods", "floor"), [(250, 1.0), (16, 0.7)])
def test_independent_trials_stay_independent(periods, floor):
    n = 100
    assert effective_trials(noise(periods, n, seed=3)) >= floor * n


def test_zero_variance_trials_form_one_cluster():
    series = noise(100, 5, seed=4)
    series[:, 1] = 0.0  # no trades
    series[:, 3] = 0.0
    series[:, 4] = 2.5  # constant too
    labels = cluster_trials(series)
    assert labels.tolist() == [0, 1, 2, 1, 1]
    assert effective_trials(np.zeros((10, 4))) == 1


def test_labels_are_numbered_by_first_trial_and_deterministic():
    base = noise(200, 3, seed=5)
    series = base[:, [2, 0, 2, 1, 0]]
    labels = cluster_trials(series)
    assert labels.tolist() == [0, 1, 0, 2, 1]
    assert np.array_equal(cluster_trials(series), labels)
    with pytest.raises(ValueError):
        labels[0] = 5  # read-only


def test_the_correlation_threshold_decides_what_counts_as_one_bet():
    rng = np.random.default_rng(6)
    common = rng.standard_normal(2000)
    pair = np.column_stack([common + rng.standard_normal(2000), common + rng.standard_normal(2000)])  # rho ~ 0.5
    assert effective_trials(pair) == 2  # default: merge at about 0.7
    assert effective_trials(pair, min_correlation=0.3) == 1
    assert effective_trials(np.column_stack([common, -common])) == 2  # opposite bets are two


def test_correlation_distance_is_zero_for_copies_and_one_for_opposites():
    x = noise(50, 1, seed=7)[:, 0]
    distance = correlation_distance(np.column_stack([x, 2 * x + 1, -x]))
    assert distance == pytest.approx(np.array([[0, 0, 1], [0, 0, 1], [1, 1, 0]]), abs=1e-7)
    assert np.array_equal(distance, distance.T)


def test_trial_counts_give_raw_and_effective():
    series = np.repeat(noise(100, 4, seed=8), [3, 1, 2, 4], axis=1)
    counts = trial_counts(series)
    assert (counts.raw, counts.effective) == (10, 4)
    assert counts.labels.tolist() == [0, 0, 0, 1, 2, 2, 3, 3, 3, 3]


@pytest.mark.parametrize(
    ("series", "kwargs"),
    [
        (np.zeros(10), {}),
        (np.zeros((2, 3)), {}),
        (np.zeros((10, 0)), {}),
        (np.full((10, 2), np.nan), {}),
        (np.zeros((10, 2)), {"min_correlation": 1.0}),
    ],
)
def test_bad_input_is_refused(series, kwargs):
    with pytest.raises(ValueError):
        cluster_trials(series, **kwargs)


def test_cluster_sharpe_variance_takes_one_mean_sr_per_cluster():
    sharpes = [0.10, 0.12, 0.11, 0.30, -0.05]
    labels = [0, 0, 0, 1, 2]
    representatives = [0.11, 0.30, -0.05]
    assert cluster_sharpe_variance(sharpes, labels=labels) == pytest.approx(np.var(representatives, ddof=1))
    # duplicating a trial changes nothing: the cluster's mean stays
    assert cluster_sharpe_variance([*sharpes, 0.30], labels=[*labels, 1]) == pytest.approx(
        np.var(representatives, ddof=1)
    )
    assert cluster_sharpe_variance([0.1, 0.3], labels=[4, 4]) == 0.0


def test_cluster_sharpe_variance_refuses_mismatched_or_missing_values():
    with pytest.raises(ValueError):
        cluster_sharpe_variance([0.1, 0.2], labels=[0])
    with pytest.raises(ValueError, match="finite"):
        cluster_sharpe_variance([0.1, float("nan")], labels=[0, 1])


def _numpy_distance(series: np.ndarray) -> np.ndarray:
    """The plain numpy pipeline ``condensed_distance`` must equal bitwise: corrcoef, clip, distance, symmetrise."""
    rho = np.clip(np.corrcoef(series, rowvar=False), -1.0, 1.0)
    distance = np.sqrt((1.0 - rho) / 2.0)
    distance = (distance + distance.T) / 2.0
    np.fill_diagonal(distance, 0.0)
    return distance


@pytest.mark.parametrize(("periods", "trials"), [(64, 97), (16, 40), (250, 6), (5, 70)])
def test_the_compiled_distance_is_bitwise_the_numpy_one(periods, trials):
    rng = np.random.default_rng(periods * trials)
    series = rng.standard_normal((periods, trials)) * rng.uniform(0.01, 50.0, size=trials)
    series[:, 1] = series[:, 0]  # a copy
    series[:, 2] = 3.0 * series[:, 0] + 1.0  # rho 1 up to rounding
    series[:, 3] = -series[:, 0]  # rho -1 up to rounding
    series[:, 4] = series[:, 0] + 1e-9 * rng.standard_normal(periods)  # a near copy
    reference = _numpy_distance(series)
    assert np.array_equal(correlation_distance(series), reference)
    upper = np.triu_indices(trials, k=1)
    assert np.array_equal(condensed_distance(series), reference[upper])
