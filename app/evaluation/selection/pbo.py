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

# The Sharpe ratio's keys (``_keys``): valid when every nonzero block sum is within [2^-200, 2^200] in magnitude.
_KEYED_RANGE = 2.0**200
_BAND = 1e-12  # relative half-width of the band around a key within which two trials are compared exactly
_CAP = 1e10  # keys are clamped to [-_CAP, _CAP]; every flat trial with a nonzero sum is beyond it
_TINY = 2.0**-600  # below every nonzero ``squares - total * mean`` in range: the key divides by it instead of 0
_MAGNITUDE = np.int64(0x7FFFFFFFFFFFFFFF)
_SMALLEST = np.int64(-0x8000000000000000)


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
    evaluation): S = 16 and N = 1,000 take about 0.016 s of CPU.
    """
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"metric must be 'sharpe' or 'mean', got {metric!r}")
    matrix = _checked(block_performance)
    n_blocks, n_trials = matrix.shape
    distinct, copies = np.unique(matrix, axis=1, return_counts=True)
    rows = cscv_splits(n_blocks)
    sharpe = metric == "sharpe"
    magnitude = np.abs(distinct[distinct != 0.0])
    in_range = magnitude.size == 0 or (magnitude.min() >= 1.0 / _KEYED_RANGE and magnitude.max() <= _KEYED_RANGE)
    keyed = sharpe and bool(in_range)
    logit, is_best, oos_best = _cscv(
        np.ascontiguousarray(distinct), rows, copies.astype(np.int64), sharpe, keyed, n_trials
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
def _cscv(blocks, rows, copies, sharpe, keyed, n_trials):  # pragma: no cover - numba
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

    With ``keyed`` (the Sharpe ratio, every nonzero block sum within
    [2^-200, 2^200] in magnitude) the halves get keys (``_keys``) instead of
    Sharpe ratios: one division per trial and half instead of two and a
    square root. A key decides every comparison that is far from a tie; the
    exact Sharpe ratio (``_sharpe``, the very operations of ``_performance``)
    is computed only for the trials near the top key, near the bar of a
    rank, and for the chosen ones, so every choice, rank and reported value
    is bitwise that of ``_performance``'s values. Outside the range (and for
    ``metric="mean"``) ``_performance`` writes the values themselves.
    """
    n_splits, half = rows.shape
    n = blocks.shape[1]
    squared = blocks * blocks  # each block's squares once, not once per level that re-adds it
    logit, is_best, oos_best = np.empty(n_splits), np.empty(n_splits), np.empty(n_splits)
    first, second = np.empty(n), np.empty(n)
    first_bits, second_bits = first.view(np.int64), second.view(np.int64)
    forward_total, forward_squares = np.zeros((half + 1, n)), np.zeros((half + 1, n))
    backward_total, backward_squares = np.zeros((half + 1, n)), np.zeros((half + 1, n))
    for split in range(n_splits // 2):
        mirror = n_splits - 1 - split
        _advance(blocks, squared, rows, split, split - 1, forward_total, forward_squares)
        _advance(blocks, squared, rows, mirror, mirror + 1 if split > 0 else -1, backward_total, backward_squares)
        last, last_mirror = rows[split, half - 1], rows[mirror, half - 1]
        halves = (
            forward_total[half - 1],
            forward_squares[half - 1],
            blocks[last],
            squared[last],
            backward_total[half - 1],
            backward_squares[half - 1],
            blocks[last_mirror],
            squared[last_mirror],
        )
        if keyed:
            sums, other = halves[:4], halves[4:]
            top_first = _keys(sums[0], sums[1], sums[2], sums[3], half, first, first_bits)
            top_second = _keys(other[0], other[1], other[2], other[3], half, second, second_bits)
            chosen, chosen_mirror, values = _best_pair_keyed(first, second, top_first, top_second, sums, other, half)
            rank, rank_mirror = _ranks_keyed(first, second, chosen_mirror, chosen, values, copies, sums, other, half)
            logit[split], is_best[split], oos_best[split] = _logit(rank, n_trials), values[0], values[1]
            logit[mirror], is_best[mirror], oos_best[mirror] = _logit(rank_mirror, n_trials), values[2], values[3]
            continue
        best_first = _performance(halves[0], halves[1], halves[2], halves[3], half, sharpe, first)
        best_second = _performance(halves[4], halves[5], halves[6], halves[7], half, sharpe, second)
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
    fewer twice per trial and half). The Sharpe ratio is ``_sharpe``'s.
    """
    inverse = 1.0 / k
    exact = (k & (k - 1)) == 0
    if not sharpe:
        for trial in range(out.shape[0]):
            total = before[trial] + last[trial]
            out[trial] = total * inverse if exact else total / k
    else:
        for trial in range(out.shape[0]):  # branch-free (selects), so it vectorises
            out[trial] = _sharpe(before[trial] + last[trial], squares_before[trial] + last_squared[trial], k)
    return _maximum(out)


@njit(cache=True, inline="always", error_model="numpy")
def _sharpe(total, squares, k):  # pragma: no cover - numba
    """Return the Sharpe ratio over ``k`` blocks of a trial's ``total`` and sum of ``squares`` (``_performance``).

    Branch-free (selects), so a loop of it vectorises; inlined, it is the same operations in the same order wherever
    it is used, so its value is bitwise the same.
    """
    inverse = 1.0 / k
    exact = (k & (k - 1)) == 0
    mean = total * inverse if exact else total / k
    variance = max(squares - total * mean, 0.0) / (k - 1)
    noise = 1e-12 * squares
    flat = variance - (noise * inverse if exact else noise / k) <= 0.0
    signed = np.inf if total > 0.0 else (-np.inf if total < 0.0 else 0.0)
    return signed if flat else mean / np.sqrt(variance)


@njit(cache=True, inline="always", error_model="numpy")
def _keys(before, squares_before, last, last_squared, k, out, ordered):  # pragma: no cover - numba
    """Write each trial's key over ``k`` blocks; return the maximum.

    The key is ``mean * |mean| / spread``, ``spread = squares - total * mean``
    (``_sharpe``'s ``mean`` and unscaled variance, the same bits), clamped to
    [-_CAP, _CAP], with ``spread`` at least _TINY. Why it decides comparisons
    (``_band``): the inputs are in range (every nonzero block sum ``x`` has
    ``2^-200 <= |x| <= 2^200``), so every sum is a multiple of 2^-252 and
    every sum of squares of 2^-504, ``mean`` is 0 or at least 2^-256 in
    magnitude, a nonzero ``spread`` is at least 2^-560 (a multiple of it) and
    at most 2^404, and nothing overflows or leaves the normal range:

    - a trial with ``total = 0`` has Sharpe 0 (flat or not) and key 0; else
      the key has the sign of ``mean`` and of the Sharpe ratio, and is not 0;
    - a flat trial with ``total != 0`` (``_sharpe``: ``spread / (k - 1)``
      within ``1e-12 * squares / k`` of 0, or ``spread <= 0``) has
      ``mean^2 >= (squares - spread) / k * (1 - 2u)`` (u = 2^-53), so its key
      is at least about 1e12 / (k - 1) > _CAP in magnitude: clamped;
    - any other trial has Sharpe ``s = fl(mean / fl(sqrt(fl(spread / (k -
      1)))))``, and ``s * |s| / (k - 1) = key * (1 + r)`` with ``|r| <= 8u <
      1e-15`` (five roundings in the key, three in ``s``, counted twice in
      ``s * |s|``) unless the key was clamped; a clamped key's trial has
      ``s * |s| / (k - 1) >= _CAP * (1 - 1e-15)`` in magnitude or is flat.

    ``ordered`` is ``out`` viewed as int64: the maximum is taken on the keys'
    bit patterns, negative ones mirrored (``bits ^ 0x7FF...F``), a map that
    keeps the floats' order and vectorises as an integer reduction.
    """
    inverse = 1.0 / k
    exact = (k & (k - 1)) == 0
    for trial in range(out.shape[0]):  # branch-free (selects), so it vectorises
        total, squares = before[trial] + last[trial], squares_before[trial] + last_squared[trial]
        mean = total * inverse if exact else total / k
        key = mean * abs(mean) / max(squares - total * mean, _TINY)
        out[trial] = min(max(key, -_CAP), _CAP)
    top = _SMALLEST
    for trial in range(ordered.shape[0]):
        bits = ordered[trial]
        top = max(top, bits ^ ((bits >> 63) & _MAGNITUDE))
    saved, ordered[0] = ordered[0], top ^ ((top >> 63) & _MAGNITUDE)  # the top key's bits, read back as a float
    maximum = out[0]
    ordered[0] = saved
    return maximum


@njit(cache=True, inline="always", error_model="numpy")
def _band(key):  # pragma: no cover - numba
    """Return (lo, hi): a trial keyed below ``lo`` is worse than ``key``'s, at or above ``hi`` no worse (exactly).

    ``lo, hi = key -+ _BAND * |key|``. With ``F(s) = s * |s| / (k - 1)`` (increasing), ``_keys`` bounds each
    unclamped key within ``1e-15`` relative of ``F`` of its exact Sharpe ratio; a band of ``1e-12`` (rounding in
    ``lo`` and ``hi`` is ``1e-16`` of it) leaves ``F`` of a trial keyed below ``lo`` strictly below ``F`` of the
    bar's, so its Sharpe ratio is strictly lower, and above for one keyed at ``hi`` or higher. A clamped key
    (``+-_CAP``) is only bounded on one side: its band reaches past every other clamped key's, so those are
    compared exactly. With key 0 the band is {0}: a trial keyed below 0 has a negative Sharpe ratio, one keyed at
    0 or above a Sharpe ratio of at least 0 (the bar's). The comparisons in between are made exactly.
    """
    width = _BAND * abs(key)
    return key - width, key + width


@njit(cache=True, inline="always", error_model="numpy")
def _exact(sums, trial, k):  # pragma: no cover - numba
    """Return the exact Sharpe ratio of ``trial`` over a half: ``sums`` is (before, squares before, last, squared)."""
    return _sharpe(sums[0][trial] + sums[2][trial], sums[1][trial] + sums[3][trial], k)


@njit(cache=True, inline="always", error_model="numpy")
def _best_keyed(keys, floor, count, index, sums, other, k):  # pragma: no cover - numba
    """Return the IS-best trial among those with a key at or above ``floor``, its exact IS and OOS values.

    ``count`` trials are at or above it and their indices sum to ``index`` (one: it is that trial). The IS half's
    sums are ``sums``, the OOS half's ``other``. The rule is ``_best_pair``'s, on the exact values.
    """
    if count == 1:
        return index, _exact(sums, index, k), _exact(other, index, k)
    chosen, chosen_is, chosen_oos = -1, 0.0, 0.0
    for trial in range(keys.shape[0]):
        if keys[trial] >= floor:
            value = _exact(sums, trial, k)
            if chosen < 0 or value > chosen_is:
                chosen, chosen_is, chosen_oos = trial, value, _exact(other, trial, k)
            elif value == chosen_is:
                oos = _exact(other, trial, k)
                if oos < chosen_oos:
                    chosen, chosen_oos = trial, oos
    return chosen, chosen_is, chosen_oos


@njit(cache=True, inline="always", error_model="numpy")
def _best_pair_keyed(first, second, top_first, top_second, sums, other, k):  # pragma: no cover - numba
    """``_best_pair`` on keys: exact Sharpe ratios only for the trials keyed within the band of the top key.

    Every trial with the exact maximum is in that band (one keyed below ``lo`` of the top key is worse than the
    top-keyed trial, ``_band``), so the choice among them is ``_best_pair``'s; most often the band holds one trial,
    found by its count and index sum (integer sums that vectorise) without a scan.

    Returns the split's IS-best trial, its mirror's, and their exact values (IS, OOS of the split's; IS, OOS of
    the mirror's). ``sums`` are the first half's (the split's IS), ``other`` the second's.
    """
    floor_first, floor_second = _band(top_first)[0], _band(top_second)[0]
    count = count_mirror = index = index_mirror = 0
    for trial in range(first.shape[0]):  # integer sums of selects: vectorises
        count += 1 if first[trial] >= floor_first else 0
        index += trial if first[trial] >= floor_first else 0
        count_mirror += 1 if second[trial] >= floor_second else 0
        index_mirror += trial if second[trial] >= floor_second else 0
    chosen, chosen_is, chosen_oos = _best_keyed(first, floor_first, count, index, sums, other, k)
    mirror, mirror_is, mirror_oos = _best_keyed(second, floor_second, count_mirror, index_mirror, other, sums, k)
    return chosen, mirror, (chosen_is, chosen_oos, mirror_is, mirror_oos)


@njit(cache=True, inline="always", error_model="numpy")
def _ranks_keyed(first, second, chosen_mirror, chosen, values, copies, sums, other, k):  # pragma: no cover - numba
    """``_ranks`` on keys: exact Sharpe ratios only for the trials keyed within the band of the bar's key.

    ``values`` are ``_best_pair_keyed``'s; the bars are the exact OOS values of the two chosen trials. Trials keyed
    below the band are counted, those at or above it are not (``_band``); the band is examined exactly only when it
    holds another trial than the bar's own.
    """
    bar, bar_mirror = values[1], values[3]
    key, key_mirror = second[chosen], first[chosen_mirror]
    lo, hi = _band(key)
    lo_mirror, hi_mirror = _band(key_mirror)
    below = below_mirror = under = under_mirror = 0
    for trial in range(first.shape[0]):  # integer sums of selects: vectorises
        below += copies[trial] if second[trial] < lo else 0
        under += copies[trial] if second[trial] < hi else 0
        below_mirror += copies[trial] if first[trial] < lo_mirror else 0
        under_mirror += copies[trial] if first[trial] < hi_mirror else 0
    if under - below > (copies[chosen] if lo <= key < hi else 0):  # some trial other than the bar's is in the band
        below += _below_in_band(second, lo, hi, bar, copies, other, k)
    if under_mirror - below_mirror > (copies[chosen_mirror] if lo_mirror <= key_mirror < hi_mirror else 0):
        below_mirror += _below_in_band(first, lo_mirror, hi_mirror, bar_mirror, copies, sums, k)
    return float(below + 1), float(below_mirror + 1)


@njit(cache=True, inline="always", error_model="numpy")
def _below_in_band(keys, lo, hi, bar, copies, sums, k):  # pragma: no cover - numba
    """Return the copies of the trials with a key in [lo, hi) whose exact value is below ``bar``."""
    count = 0
    for trial in range(keys.shape[0]):
        if lo <= keys[trial] < hi and _exact(sums, trial, k) < bar:
            count += copies[trial]
    return count


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
