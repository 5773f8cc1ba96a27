"""The probability of backtest overfitting by combinatorially symmetric cross-validation, CSCV (pure).

Bailey, D. H., Borwein, J. M., Lopez de Prado, M. and Zhu, Q. J. (2017),
"The Probability of Backtest Overfitting", Journal of Computational Finance
20(4). The paper's procedure, on a matrix of per-block performance sums:

1. The history is cut into ``S`` (even) contiguous time blocks; ``M[s, n]``
   is trial ``n``'s performance summed over block ``s`` (its returns, or its
   trades' R multiples, in that block: ``block_sums`` forms it from a
   per-period matrix; the optimizer's grid kernel can sum per block directly).
2. Every one of the ``C(S, S/2)`` ways to pick ``S/2`` blocks is a split:
   the picked blocks are in-sample (IS), the others out-of-sample (OOS).
   Each split's complement is a split too, so every block is IS as often
   as OOS (the symmetry of CSCV). S = 16 gives 12,870 splits.
3. In each split the trial with the best IS performance, ``n*``, is the one a
   researcher would have chosen. ``omega`` is its relative rank among the N
   trials OOS, ``rank / (N + 1)`` (rank 1 = worst, N = best), and its logit
   ``lambda = ln(omega / (1 - omega))``.
4. ``PBO`` is the fraction of splits with ``lambda <= 0``: the IS-best trial
   did no better than the median trial OOS.

Choices the paper leaves open, each taken the sceptical way (toward a
higher PBO):

- The performance of a trial over a set of blocks is, by default, the
  Sharpe ratio of its block sums, ``mean / std`` (``ddof=1``): a trial whose
  profit comes from one lucky block ranks below one that earns steadily.
  ``metric="mean"`` ranks by the mean block sum instead. A trial with equal
  sums in every block has ``std = 0``: its Sharpe is 0 when the sums are 0
  (no trades) and +-inf otherwise (a constant gain ranks first).
- Ties in IS: among the trials that share the best IS performance, ``n*``
  is the one with the worst OOS performance.
- Ties in OOS: ``rank`` is 1 + the number of trials strictly worse than
  ``n*`` OOS (the lowest rank of its tie group), so copies of the selected
  trial do not lift its rank. N copies of one trial therefore give PBO = 1:
  selecting among them is no evidence of anything.

Also reported: the performance degradation, the least-squares slope of
``n*``'s OOS performance on its IS performance across the splits (negative
when what looks best IS tends to disappoint OOS), and the probability of
loss, the fraction of splits in which ``n*``'s OOS performance is below 0.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from app.core.jit import njit

DEFAULT_BLOCKS = 16
MAX_BLOCKS = 20  # C(20, 10) = 184,756 splits; C(22, 11) would be 705,432

Metric = Literal["sharpe", "mean"]


@dataclass(frozen=True)
class OverfitReport:
    """The CSCV result: PBO, the degradation regression, the probability of OOS loss, the per-split logits."""

    pbo: float  # fraction of splits whose IS-best trial ranks at or below the OOS median
    degradation_slope: float | None  # OOS on IS performance of n*, least squares; None when IS does not vary
    degradation_intercept: float | None
    prob_oos_loss: float  # fraction of splits whose IS-best trial loses OOS (performance < 0)
    logits: np.ndarray  # lambda per split, in the order of itertools.combinations(range(S), S // 2)
    n_splits: int
    n_blocks: int
    n_trials: int
    metric: Metric


def block_sums(values: ArrayLike, *, n_blocks: int = DEFAULT_BLOCKS) -> np.ndarray:
    """Return the (n_blocks, N) sums of a (T, N) per-period matrix over ``n_blocks`` contiguous time blocks.

    Rows are periods in time order, columns trials. The blocks are
    ``numpy.array_split``'s: as equal as possible, the first ``T % n_blocks``
    one period longer. Raises ``ValueError`` for fewer periods than blocks.
    """
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"values must be a (periods, trials) matrix, got shape {matrix.shape}")
    if matrix.shape[0] < n_blocks:
        raise ValueError(f"{matrix.shape[0]} periods cannot form {n_blocks} blocks")
    return np.stack([block.sum(axis=0) for block in np.array_split(matrix, n_blocks, axis=0)])


@functools.cache
def cscv_splits(n_blocks: int) -> np.ndarray:
    """Return the IS blocks of every CSCV split: a (C(S, S/2), S/2) read-only integer array.

    Row ``i`` is the ``i``-th of ``itertools.combinations(range(S), S // 2)``.
    In that lexicographic order the complement of row ``i`` (its OOS blocks)
    is row ``C - 1 - i``, so the IS performance of all splits holds the OOS
    performance too. Computed once per ``S``.
    """
    rows = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    rows.setflags(write=False)
    return rows


def probability_of_backtest_overfitting(block_performance: ArrayLike, *, metric: Metric = "sharpe") -> OverfitReport:
    """Return the PBO of picking the IS-best of N trials, by CSCV over all splits of S blocks.

    ``block_performance`` is the (S, N) matrix of per-block performance sums
    (S blocks in time order, N trials); S even, 4 <= S <= 20, N >= 2, all
    finite, else ``ValueError``. The module docstring states the procedure
    and its tie and metric rules. Identical trials (equal columns, common in
    a grid whose parameters do not all matter) are evaluated once and
    counted with their multiplicity, which the tie rules make exact. One
    compiled pass over the split pairs (a split and its complement share one
    evaluation): S = 16 and N = 1,000 take about 0.04 s of CPU.
    """
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"metric must be 'sharpe' or 'mean', got {metric!r}")
    matrix = _checked(block_performance)
    n_blocks, n_trials = matrix.shape
    distinct, copies = np.unique(matrix, axis=1, return_counts=True)
    rows = cscv_splits(n_blocks)
    logit, is_best, oos_best = _cscv(
        np.ascontiguousarray(distinct), rows, copies.astype(np.int64), metric == "sharpe", n_trials
    )
    slope, intercept = _degradation(is_best, oos_best)
    logit.setflags(write=False)
    return OverfitReport(
        pbo=float(np.mean(logit <= 0.0)),
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
        logits=logit,
        n_splits=len(rows),
        n_blocks=n_blocks,
        n_trials=n_trials,
        metric=metric,
    )


def _checked(block_performance: ArrayLike) -> np.ndarray:
    """Return the input as a float (S, N) matrix, or raise ``ValueError`` saying what is wrong with it."""
    matrix = np.asarray(block_performance, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"block_performance must be an (S blocks, N trials) matrix, got shape {matrix.shape}")
    n_blocks, n_trials = matrix.shape
    if n_blocks < 4 or n_blocks % 2 or n_blocks > MAX_BLOCKS:
        raise ValueError(f"the number of blocks S must be even and in 4..{MAX_BLOCKS}, got {n_blocks}")
    if n_trials < 2:
        raise ValueError(f"PBO needs at least 2 trials to select from, got {n_trials}")
    if not np.all(np.isfinite(matrix)):
        bad = np.argwhere(~np.isfinite(matrix))[0]
        raise ValueError(f"block_performance must be finite: block {bad[0]}, trial {bad[1]} is {matrix[tuple(bad)]}")
    return matrix


@njit(cache=True, error_model="numpy")
def _cscv(blocks, rows, copies, sharpe, n_trials):  # pragma: no cover - numba
    """Return the logit, IS and OOS performance of the IS-best trial of every split.

    ``blocks`` is (S, distinct trials), ``rows`` the IS blocks of each split
    (``cscv_splits``: the complement of split ``i`` is split ``C - 1 - i``),
    ``copies`` how many trials each distinct one stands for (integers). The
    splits are walked forward (lexicographic order) and their mirrors
    backward, each walk keeping the running sums over its split's first ``d``
    blocks: from one split to the next only the tail of the row changes
    (about 2 of 8 blocks), so only those levels are re-added. Each level adds
    the same blocks in the same order as a fresh sum would, so the sums are
    bitwise those of summing every split from scratch. The last block (it
    changes at every step) is added inside ``_performance`` rather than
    stored and read back: the same addition. A split and its mirror share
    both halves' performance: each half is evaluated once.
    """
    n_splits, half = rows.shape
    n = blocks.shape[1]
    squared = blocks * blocks  # each block's squares once, not once per level that re-adds it
    logit, is_best, oos_best = np.empty(n_splits), np.empty(n_splits), np.empty(n_splits)
    first, second = np.empty(n), np.empty(n)
    forward_total, forward_squares = np.zeros((half + 1, n)), np.zeros((half + 1, n))
    backward_total, backward_squares = np.zeros((half + 1, n)), np.zeros((half + 1, n))
    for split in range(n_splits // 2):
        mirror = n_splits - 1 - split
        _advance(blocks, squared, rows, split, split - 1, forward_total, forward_squares)
        _advance(blocks, squared, rows, mirror, mirror + 1 if split > 0 else -1, backward_total, backward_squares)
        last, last_mirror = rows[split, half - 1], rows[mirror, half - 1]
        best_first = _performance(
            forward_total[half - 1], forward_squares[half - 1], blocks[last], squared[last], half, sharpe, first
        )
        best_second = _performance(
            backward_total[half - 1],
            backward_squares[half - 1],
            blocks[last_mirror],
            squared[last_mirror],
            half,
            sharpe,
            second,
        )
        chosen, chosen_mirror = _best_pair(first, second, best_first, best_second)
        rank, rank_mirror = _ranks(first, second, chosen_mirror, chosen, copies)
        logit[split], is_best[split], oos_best[split] = _logit(rank, n_trials), first[chosen], second[chosen]
        logit[mirror], is_best[mirror], oos_best[mirror] = (
            _logit(rank_mirror, n_trials),
            second[chosen_mirror],
            first[chosen_mirror],
        )
    return logit, is_best, oos_best


@njit(cache=True, inline="always", error_model="numpy")
def _best_pair(first, second, best_first, best_second):  # pragma: no cover - numba
    """Return the IS-best trial of a split (IS ``first``) and of its mirror (IS ``second``), in one pass.

    The IS-best is, among the trials tied at the best IS performance, the one
    with the worst OOS performance (the OOS half is the other array), the
    first such in trial order. ``best_first`` and ``best_second`` are the
    maxima of ``first`` and ``second`` (``_performance`` returns them): with
    the maximum known, only its tie group needs the OOS comparison, which is
    the same choice as a running comparison of every trial (a scan keeping
    the best by (max IS, min OOS, first index) ends on the first trial of
    that order; ``==`` groups -0.0 with 0.0 either way).
    """
    chosen, mirror = -1, -1
    for trial in range(first.shape[0]):
        if first[trial] == best_first and (chosen < 0 or second[trial] < second[chosen]):
            chosen = trial
        if second[trial] == best_second and (mirror < 0 or first[trial] < first[mirror]):
            mirror = trial
    return chosen, mirror


@njit(cache=True, inline="always", error_model="numpy")
def _ranks(first, second, chosen_mirror, chosen, copies):  # pragma: no cover - numba
    """Return the OOS ranks, 1 + the trials strictly worse OOS (its own copies are not), of both IS-best trials.

    The split's OOS half is ``second``, its mirror's ``first``; one pass for
    both. The counts are integers (exact in any order, so the loop vectorises),
    the same numbers as the float sums of copies they replace.
    """
    bar, bar_mirror = second[chosen], first[chosen_mirror]
    rank, rank_mirror = 1, 1
    for trial in range(first.shape[0]):
        rank += copies[trial] if second[trial] < bar else 0
        rank_mirror += copies[trial] if first[trial] < bar_mirror else 0
    return float(rank), float(rank_mirror)


@njit(cache=True, inline="always", error_model="numpy")
def _logit(rank, n_trials):  # pragma: no cover - numba
    """Return the logit of the relative rank ``omega = rank / (N + 1)``."""
    omega = rank / (n_trials + 1)
    return np.log(omega / (1.0 - omega))


@njit(cache=True, inline="always", error_model="numpy")
def _advance(blocks, squared, rows, split, previous, total, squares):  # pragma: no cover - numba
    """Bring the running sums from split ``previous`` (-1: none) to split ``split``: re-add the changed tail.

    ``total[d]`` and ``squares[d]`` hold each trial's sum and sum of squares
    over the split's first ``d`` blocks (``total[0]`` is 0), for ``d`` up to
    ``S/2 - 1`` (``_performance`` adds the last block); ``squared`` is
    ``blocks * blocks``.
    """
    half = rows.shape[1]
    start = 0
    if previous >= 0:
        while start < half and rows[split, start] == rows[previous, start]:
            start += 1
    for level in range(start, half - 1):
        row, row_squared = blocks[rows[split, level]], squared[rows[split, level]]
        for trial in range(row.shape[0]):
            total[level + 1, trial] = total[level, trial] + row[trial]
            squares[level + 1, trial] = squares[level, trial] + row_squared[trial]


@njit(cache=True, inline="always", error_model="numpy")
def _performance(before, squares_before, last, last_squared, k, sharpe, out):  # pragma: no cover - numba
    """Write each trial's performance over ``k`` blocks; return the maximum.

    Each trial's sum and sum of squares are those over the first ``k - 1``
    blocks (``before``, ``squares_before``) plus the last block's (``last``,
    ``last_squared``). The performance is the mean or its Sharpe ratio ``mean /
    std`` (``ddof=1``, variance ``(sum of squares - sum * mean) / (k - 1)``); a
    variance within rounding of 0 is a flat trial: 0 without trades (all sums
    0), +-inf for a constant gain or loss. When ``k`` is a power of two (8 of
    S = 16 blocks) ``x / k`` is computed as ``x * (1 / k)``: ``1 / k`` is
    exact, so both are the correctly rounded ``x / k``, bitwise (a division
    fewer twice per trial and half).
    """
    inverse = 1.0 / k
    exact = (k & (k - 1)) == 0
    if not sharpe:
        for trial in range(out.shape[0]):
            total = before[trial] + last[trial]
            out[trial] = total * inverse if exact else total / k
    else:
        for trial in range(out.shape[0]):  # branch-free (selects), so it vectorises
            total, squares = before[trial] + last[trial], squares_before[trial] + last_squared[trial]
            mean = total * inverse if exact else total / k
            variance = max(squares - total * mean, 0.0) / (k - 1)
            noise = 1e-12 * squares
            flat = variance - (noise * inverse if exact else noise / k) <= 0.0
            signed = np.inf if total > 0.0 else (-np.inf if total < 0.0 else 0.0)
            out[trial] = signed if flat else mean / np.sqrt(variance)
    return _maximum(out)


@njit(cache=True, inline="always", error_model="numpy")
def _maximum(values):  # pragma: no cover - numba
    """Return the largest of ``values`` (no NaN): four running maxima, so the loop is not one dependency chain.

    The maximum is the same in any order; which of -0.0 and 0.0 it returns may differ, and its only use
    (``_best_pair``'s ``==``) does not tell them apart.
    """
    n = values.shape[0]
    a = b = c = d = -np.inf
    for trial in range(0, n - n % 4, 4):
        a, b = max(a, values[trial]), max(b, values[trial + 1])
        c, d = max(c, values[trial + 2]), max(d, values[trial + 3])
    for trial in range(n - n % 4, n):
        a = max(a, values[trial])
    return max(max(a, b), max(c, d))


def _degradation(is_best: np.ndarray, oos_best: np.ndarray) -> tuple[float | None, float | None]:
    """Return the least-squares (slope, intercept) of OOS on IS performance of n*, over finite pairs.

    ``None, None`` when fewer than 2 finite pairs remain or the IS values do
    not vary (the slope is undefined).
    """
    finite = np.isfinite(is_best) & np.isfinite(oos_best)
    x, y = is_best[finite], oos_best[finite]
    if x.size < 2 or np.ptp(x) == 0.0:
        return None, None
    dx = x - x.mean()
    # np.sum, not np.dot: BLAS may split a dot product differently per process (threads), and a stored
    # statistic must not depend on which worker computed it.
    slope = float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))
    return slope, float(y.mean() - slope * x.mean())
