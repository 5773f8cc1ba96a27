"""The probability of backtest overfitting by CSCV (app.evaluation.selection.pbo)."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from app.evaluation.selection import (
    block_sums,
    cscv_splits,
    probability_of_backtest_overfitting,
)

S = 16


def noise(n_trials: int, *, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((S, n_trials))


def test_pure_noise_is_a_coin_flip():
    report = probability_of_backtest_overfitting(noise(200, seed=0))
    assert 0.3 <= report.pbo <= 0.7
    assert report.n_splits == math.comb(16, 8) == 12_870
    assert (report.n_blocks, report.n_trials, report.metric) == (16, 200, "sharpe")
    assert report.logits.shape == (12_870,)
    assert 0.3 <= report.prob_oos_loss <= 0.7  # noise: the IS-best loses OOS about half the time


def test_one_real_edge_is_not_overfit():
    blocks = noise(200, seed=0)
    blocks[:, 17] += 3.0  # clearly positive in every block; the other 199 trials are noise
    report = probability_of_backtest_overfitting(blocks)
    assert report.pbo < 0.1
    assert report.prob_oos_loss < 0.1


def test_the_mean_metric_also_finds_the_edge():
    blocks = noise(200, seed=1)
    blocks[:, 0] += 3.0
    assert probability_of_backtest_overfitting(blocks, metric="mean").pbo < 0.1
    assert 0.3 <= probability_of_backtest_overfitting(noise(200, seed=1), metric="mean").pbo <= 0.7


def test_copies_of_one_trial_give_no_evidence():
    # selecting among identical trials: the choice ranks lowest among its ties, PBO = 1
    one = noise(1, seed=3)
    report = probability_of_backtest_overfitting(np.repeat(one, 5, axis=1))
    assert report.pbo == 1.0
    assert np.allclose(report.logits, math.log(1 / 5))  # rank 1 of 5: omega = 1/6
    # the probability of loss is that of the trial itself over the splits' OOS blocks
    oos = [np.delete(one[:, 0], rows) for rows in cscv_splits(S)]
    sharpe = np.array([block.mean() / block.std(ddof=1) for block in oos])
    assert report.prob_oos_loss == pytest.approx(np.mean(sharpe < 0))


def test_trials_without_trades_never_beat_a_steady_gain():
    blocks = np.zeros((S, 4))
    blocks[:, 2] = 1.0  # a constant gain: Sharpe +inf in every split, ranks first
    report = probability_of_backtest_overfitting(blocks)
    assert report.pbo == 0.0
    assert report.prob_oos_loss == 0.0
    assert report.degradation_slope is None  # no finite (IS, OOS) pair


def test_duplicates_count_with_their_multiplicity():
    # one edge among noise, each noise trial duplicated: the edge still wins
    blocks = np.repeat(noise(50, seed=4), 3, axis=1)
    blocks = np.column_stack([blocks, noise(1, seed=5) + 3.0])
    report = probability_of_backtest_overfitting(blocks)
    assert report.n_trials == 151
    assert report.pbo < 0.1
    assert report.logits.max() == pytest.approx(math.log(151))  # rank N of N: omega = N / (N + 1)


def test_matches_a_plain_loop_over_the_splits():
    blocks = noise(7, seed=6)[:8]  # S = 8: 70 splits
    report = probability_of_backtest_overfitting(blocks)
    logits, is_best, oos_best = [], [], []
    for rows in itertools.combinations(range(8), 4):
        oos_rows = [b for b in range(8) if b not in rows]
        is_perf = blocks[list(rows)].mean(axis=0) / blocks[list(rows)].std(axis=0, ddof=1)
        oos_perf = blocks[oos_rows].mean(axis=0) / blocks[oos_rows].std(axis=0, ddof=1)
        chosen = int(np.argmax(is_perf))
        rank = 1 + int(np.sum(oos_perf < oos_perf[chosen]))
        logits.append(math.log(rank / (8 - rank)))  # omega / (1 - omega) with N + 1 = 8
        is_best.append(is_perf[chosen])
        oos_best.append(oos_perf[chosen])
    assert np.allclose(report.logits, logits)
    assert report.pbo == pytest.approx(np.mean(np.array(logits) <= 0))
    slope, intercept = np.polyfit(is_best, oos_best, 1)
    assert report.degradation_slope == pytest.approx(slope)
    assert report.degradation_intercept == pytest.approx(intercept)
    assert report.prob_oos_loss == pytest.approx(np.mean(np.array(oos_best) < 0))


def test_ties_in_sample_pick_the_worst_out_of_sample():
    # A and B are flat (Sharpe +inf) over any two of blocks 0-2 and tie IS; B then loses OOS in block 3
    a, b, c = [1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, -5.0], [-1.0, -2.0, -1.0, -3.0]
    report = probability_of_backtest_overfitting(np.array([a, b, c]).T)
    first = [tuple(rows) for rows in cscv_splits(4)].index((0, 1))
    # the sceptical pick is B, rank 2 of 3 (only C is worse OOS): omega 1/2, logit 0 (A would rank 3)
    assert report.logits[first] == 0.0
    assert report.prob_oos_loss > 0.0


def test_the_splits_are_every_half_and_complements_mirror():
    rows = cscv_splits(S)
    assert rows.shape == (12_870, 8)
    assert len({tuple(r) for r in rows}) == 12_870
    for i in (0, 1, 4000, 12_869):
        assert set(rows[i]) | set(rows[-1 - i]) == set(range(S))
    assert cscv_splits(S) is rows  # computed once
    with pytest.raises(ValueError):
        rows[0, 0] = 3


def test_a_thousand_trials_run_well_under_a_second():
    blocks = noise(1000, seed=8)
    probability_of_backtest_overfitting(blocks)  # compiled (or loaded from numba's cache) on the first call
    started = time.perf_counter()
    probability_of_backtest_overfitting(blocks)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        (np.zeros((15, 4)), "even"),
        (np.zeros((2, 4)), "even and in 4..20"),
        (np.zeros((22, 4)), "even and in 4..20"),
        (np.zeros((16, 1)), "at least 2 trials"),
        (np.zeros(16), "matrix"),
        (np.where(np.eye(16, 4) == 1, np.nan, 0.0), "block 0, trial 0 is nan"),
    ],
)
def test_bad_input_says_what_is_wrong(blocks, message):
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(blocks)


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="metric"):
        probability_of_backtest_overfitting(noise(3, seed=0), metric="sortino")


def test_block_sums_cut_time_into_contiguous_blocks():
    values = np.arange(34, dtype=float).reshape(17, 2)  # 17 periods, 2 trials
    sums = block_sums(values, n_blocks=4)  # blocks of 5, 4, 4, 4 periods
    assert sums.shape == (4, 2)
    assert sums[0].tolist() == [values[:5, 0].sum(), values[:5, 1].sum()]
    assert sums.sum(axis=0).tolist() == values.sum(axis=0).tolist()
    assert block_sums(np.ones((32, 3))).shape == (16, 3)
    with pytest.raises(ValueError, match="cannot form"):
        block_sums(np.ones((10, 3)))


@pytest.mark.parametrize("seed", range(6))
def test_the_incremental_kernel_equals_fresh_sums_per_split(seed):
    # The kernel re-adds only the changed tail of each split's blocks; a fresh sum per split must give the same PBO.
    rng = np.random.default_rng(seed)
    n_blocks, n_trials = int(rng.choice([4, 8, 12])), int(rng.integers(3, 60))
    blocks = rng.normal(size=(n_blocks, n_trials))
    blocks[:, rng.integers(0, n_trials, size=n_trials // 4)] = 0.0  # trials without trades
    blocks[:, 1] = blocks[:, 2]  # a duplicate
    report = probability_of_backtest_overfitting(blocks)
    logits = []
    for rows in itertools.combinations(range(n_blocks), n_blocks // 2):
        oos_rows = [b for b in range(n_blocks) if b not in rows]
        is_perf, oos_perf = _plain_sharpe(blocks[list(rows)]), _plain_sharpe(blocks[oos_rows])
        best = np.flatnonzero(is_perf == is_perf.max())
        chosen = best[np.argmin(oos_perf[best])]
        rank = 1 + int(np.sum(oos_perf < oos_perf[chosen]))
        logits.append(math.log(rank / (n_trials + 1 - rank)))
    assert np.allclose(report.logits, logits)
    assert report.pbo == pytest.approx(np.mean(np.array(logits) <= 0))


def _plain_sharpe(half: np.ndarray) -> np.ndarray:
    """Mean / std (ddof=1) of each column; flat columns: 0 without trades, +-inf otherwise (the module's rule)."""
    std = half.std(axis=0, ddof=1)
    mean = half.mean(axis=0)
    flat = std <= 1e-9
    signed_inf = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(flat, signed_inf, mean / np.where(flat, 1.0, std))


@pytest.mark.parametrize("seed", range(2))
def test_sixteen_blocks_with_ties_equal_fresh_sums_per_split(seed):
    # S = 16 (the halves' mean is taken as x * 1/8, exact) with many exact ties: rounded sums, copies, scaled copies.
    rng = np.random.default_rng(100 + seed)
    blocks = rng.normal(size=(16, 40)).round(1)
    blocks[:, 1] = blocks[:, 2]
    blocks[:, 3] = 2.0 * blocks[:, 4]  # the same Sharpe ratio in every split, up to rounding
    blocks[:, 5] = 0.0
    blocks[:, 6] = 0.5  # a constant gain
    for metric in ("sharpe", "mean"):
        report = probability_of_backtest_overfitting(blocks, metric=metric)
        ranks = []
        for rows in cscv_splits(16):
            oos_rows = np.setdiff1d(np.arange(16), rows)
            if metric == "sharpe":
                is_perf, oos_perf = _plain_sharpe(blocks[rows]), _plain_sharpe(blocks[oos_rows])
            else:
                is_perf, oos_perf = blocks[rows].mean(axis=0), blocks[oos_rows].mean(axis=0)
            best = np.flatnonzero(is_perf == is_perf.max())
            chosen = best[np.argmin(oos_perf[best])]
            ranks.append(1 + int(np.sum(oos_perf < oos_perf[chosen])))
        # back to the ranks: rank = (N + 1) / (1 + exp(-logit)), N = 40
        assert np.array_equal(np.rint(41 / (1 + np.exp(-report.logits))).astype(int), ranks)


def _adversarial(n_blocks: int, n_trials: int, *, seed: int, scale: float = 1.0) -> np.ndarray:
    """Noise and R-like sums with every kind of tie the keyed Sharpe comparisons must resolve exactly."""
    rng = np.random.default_rng(seed)
    blocks = rng.normal(size=(n_blocks, n_trials))
    shape = (n_blocks, n_trials // 3, 3)
    trades = rng.choice([-1.0, 2.0, 1.5, 0.5], size=shape) * (rng.random(shape) < 0.4)
    blocks[:, : n_trials // 3] = trades.sum(axis=2)  # trades' R summed per block: many equal sums
    source = rng.integers(0, n_trials, size=n_trials)
    picks = [rng.integers(0, n_trials, size=n_trials // 8) for _ in range(5)]
    blocks[:, picks[0]] = blocks[:, source[picks[0]]]  # exact copies
    blocks[:, picks[1]] = blocks[:, source[picks[1]]] * 2.0 ** rng.integers(-3, 4, size=picks[1].size)  # equal Sharpe
    blocks[:, picks[2]] = blocks[:, source[picks[2]]] * (1 + rng.integers(-2, 3, size=picks[2].size) * 2.0**-52)
    one_ulp = blocks[:, source[picks[3]]]
    row = rng.integers(0, n_blocks, size=picks[3].size)
    one_ulp[row, np.arange(picks[3].size)] = np.nextafter(one_ulp[row, np.arange(picks[3].size)], np.inf)
    blocks[:, picks[3]] = one_ulp  # a copy but for one block, one ulp apart
    blocks[:, picks[4]] = rng.choice([0.0, -1.0, -0.25], size=picks[4].size)  # flat: no trades, a steady loss
    blocks[: n_blocks // 2, picks[4][::2]] = rng.choice([0.0, 1.0, 0.5])  # flat in some halves: 0 or +inf there
    blocks[:, -1] = -0.5 + 6e-7 * rng.normal(size=n_blocks)  # nearly flat: -inf in some halves, about -1e6 in others
    return blocks * scale


def _exact_sharpe(blocks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each trial's Sharpe ratio over ``rows``, by the documented operations in their order (``_performance``)."""
    k = len(rows)
    total, squares = np.zeros(blocks.shape[1]), np.zeros(blocks.shape[1])
    for row in rows:  # fresh sums, blocks in row order
        total, squares = total + blocks[row], squares + blocks[row] * blocks[row]
    exact = (k & (k - 1)) == 0
    mean = total * (1.0 / k) if exact else total / k
    variance = np.maximum(squares - total * mean, 0.0) / (k - 1)
    noise = 1e-12 * squares
    flat = variance - (noise * (1.0 / k) if exact else noise / k) <= 0.0
    signed = np.where(total > 0.0, np.inf, np.where(total < 0.0, -np.inf, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, signed, mean / np.sqrt(variance))


@pytest.mark.parametrize(
    ("n_blocks", "n_trials", "seed", "scale"),
    [(8, 200, 0, 1.0), (8, 64, 1, 1e-40), (12, 96, 2, 3e25), (8, 40, 3, 1e100), (16, 60, 4, 1.0)],
)
def test_ties_near_ties_and_flat_trials_equal_the_exact_rules_bitwise(n_blocks, n_trials, seed, scale):
    # The Sharpe kernel decides comparisons on cheap keys and computes the exact ratio only near ties: every rank,
    # IS and OOS value must still be bitwise those of the exact rules (1e100: outside the keys' range).
    blocks = _adversarial(n_blocks, n_trials, seed=seed, scale=scale)
    report = probability_of_backtest_overfitting(blocks)
    ranks, is_best, oos_best = [], [], []
    for rows in cscv_splits(n_blocks):
        is_perf = _exact_sharpe(blocks, rows)
        oos_perf = _exact_sharpe(blocks, np.setdiff1d(np.arange(n_blocks), rows))
        best = np.flatnonzero(is_perf == is_perf.max())
        chosen = best[np.argmin(oos_perf[best])]
        ranks.append(1 + int(np.sum(oos_perf < oos_perf[chosen])))
        is_best.append(is_perf[chosen])
        oos_best.append(oos_perf[chosen])
    assert np.array_equal(np.rint((n_trials + 1) / (1 + np.exp(-report.logits))).astype(int), ranks)
    x, y = np.array(is_best), np.array(oos_best)
    assert report.prob_oos_loss == float(np.mean(y < 0.0))
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    assert x.size > 10 and np.ptp(x) > 0.0
    dx = x - x.mean()
    slope = float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))
    assert report.degradation_slope == slope
    assert report.degradation_intercept == float(y.mean() - slope * x.mean())
