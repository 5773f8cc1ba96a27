"""The effective number of independent trials among correlated ones, and the SR variance across them (pure).

A grid of N parameter sets is not N independent trials: neighbouring sets
trade almost the same trades. The deflated Sharpe ratio's benchmark needs the
number of *independent* trials, and the variance of their Sharpe ratios.
Lopez de Prado, M. and Lewis, M. J. (2019), "Detection of false investment
strategies using unsupervised learning methods", Quantitative Finance 19(9),
cluster the trials on the correlation distance

    d(i, j) = sqrt((1 - rho(i, j)) / 2)

(0 for identical returns, 1/sqrt(2) for uncorrelated, 1 for opposite ones)
and count the clusters. Their ONC algorithm picks the number of clusters by
k-means and the silhouette score. This module keeps their distance and
replaces the clustering by a simpler, deterministic rule:

- Average-linkage hierarchical clustering (``scipy.cluster.hierarchy``,
  UPGMA) of the trials on ``d``, cut at ``d* = sqrt((1 - min_correlation) / 2)``:
  two groups merge while the mean distance between their members is at most
  ``d*``. With the default ``min_correlation = 0.7`` (``d* = 0.387``), trials
  whose returns correlate at about 0.7 or more count as one bet.
- Trials with zero variance (no trades: a constant series) have no
  correlation; they form one cluster of their own.

Why not the silhouette: it is undefined for 1 cluster and for N clusters,
exactly the answers for N copies of one trial and for N unrelated ones; on
40 independent noise series (250 or 1,000 observations) the silhouette-best
cut of the same dendrogram kept 18 to 21 clusters, not 40; and scoring every cut costs O(N^3). Why 0.7:
the threshold errs toward counting more trials (a higher DSR benchmark, the
sceptical side), and it is robust to the sampling noise of a correlation on
short series such as 16 block sums: two independent series of 16
observations correlate above 0.7 with probability 0.13% (above 0.5: 2.4%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from app.core.jit import njit

DEFAULT_MIN_CORRELATION = 0.7


@dataclass(frozen=True)
class TrialCount:
    """How many trials were run (``raw``) and how many independent bets they were (``effective``)."""

    raw: int
    effective: int
    labels: np.ndarray  # cluster of each trial, 0..effective-1 in order of first appearance


def correlation_distance(series: ArrayLike) -> np.ndarray:
    """Return the (N, N) correlation distance ``sqrt((1 - rho) / 2)`` between the columns of a (T, N) matrix.

    Pearson correlation of the columns (trials) over the rows (periods or
    blocks), clipped to [-1, 1] against rounding; the diagonal is exactly 0.
    Every column must vary (``cluster_trials`` sets the flat ones aside).
    The square form of ``condensed_distance``.
    """
    return squareform(condensed_distance(series), checks=False)


def condensed_distance(series: ArrayLike) -> np.ndarray:
    """Return ``correlation_distance`` condensed (its upper triangle row by row, as ``linkage`` takes it).

    Bitwise what ``numpy.corrcoef(series, rowvar=False)``, the clip, ``sqrt((1
    - rho) / 2)``, the symmetrisation ``(d + d.T) / 2`` and ``squareform`` give
    (tests/evaluation/selection/test_effective_trials.py keeps that numpy
    reference): the covariance is numpy's own (``numpy.cov``'s centring and
    BLAS product, copied below), and one compiled pass does every later step
    with the same IEEE operations in the same order, instead of about ten
    passes over an (N, N) temporary (a third of a 960-trial slice's
    selection statistics).
    """
    matrix = np.asarray(series, dtype=float)
    # numpy.cov(matrix, rowvar=False) up to its product, step for step (so its BLAS call is the same one)
    centred = np.array(matrix, ndmin=2, dtype=float).T
    centred -= np.average(centred, axis=1)[:, None]
    product = np.dot(centred, centred.T.conj())
    return _condensed(product, 1.0 / (centred.shape[1] - 1))


@njit(cache=True, error_model="numpy")
def _condensed(product, scale):  # pragma: no cover - numba
    """The condensed distance from the centred product: numpy.corrcoef's steps, then the distance's, per pair.

    ``c = product * scale`` (numpy.cov's ``c *= 1 / fact``), ``s = sqrt(diag(c))``,
    ``rho[i, j] = c[i, j] / s[i] / s[j]`` clipped to [-1, 1] (a NaN stays NaN,
    as in numpy.clip), ``d = sqrt((1 - rho) / 2)`` and the mean of ``d[i, j]``
    and ``d[j, i]``: each entry is computed from its own product entry, as
    the numpy pipeline computes both triangles.
    """
    n = product.shape[0]
    std = np.empty(n)
    for i in range(n):
        std[i] = np.sqrt(product[i, i] * scale)
    out = np.empty(n * (n - 1) // 2)
    tile = 64  # pairs by square tiles; each tile's mirror is copied transposed, so both reads are contiguous
    mirrored = np.empty((tile, tile))
    for first in range(0, n, tile):
        rows = min(first + tile, n) - first
        for second in range(first, n, tile):
            cols = min(second + tile, n) - second
            for a in range(rows):
                for b in range(cols):
                    mirrored[a, b] = product[second + b, first + a]
            for a in range(rows):
                i, low = first + a, max(0, first + a + 1 - second)
                at = i * n - i * (i + 1) // 2 - i - 1  # out[at + j] is pair (i, j), j > i
                # 1-d views indexed from 0, so the loop vectorises
                upper, lower = product[i, second + low : second + cols], mirrored[a, low:cols]
                std_i, std_j = std[i], std[second + low : second + cols]
                dest = out[at + second + low : at + second + cols]
                for b in range(cols - low):
                    dest[b] = (
                        _distance(upper[b] * scale / std_i / std_j[b]) + _distance(lower[b] * scale / std_j[b] / std_i)
                    ) / 2.0
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _distance(rho):  # pragma: no cover - numba
    """``sqrt((1 - rho) / 2)`` of a correlation clipped to [-1, 1] (twice in numpy: corrcoef's and ours, idempotent)."""
    if rho < -1.0:
        rho = -1.0
    elif rho > 1.0:
        rho = 1.0
    return np.sqrt((1.0 - rho) / 2.0)


def cluster_trials(series: ArrayLike, *, min_correlation: float = DEFAULT_MIN_CORRELATION) -> np.ndarray:
    """Return the cluster label of each trial (column) of a (T, N) matrix of returns or block sums.

    The module docstring states the method: average linkage on the
    correlation distance, cut at ``sqrt((1 - min_correlation) / 2)``; the
    flat (zero-variance) trials share one cluster. Labels are 0..K-1,
    numbered in the order of each cluster's first trial, so the same input
    always gives the same labels. Raises ``ValueError`` for a non-matrix,
    fewer than 3 rows, no column, a non-finite value or ``min_correlation``
    outside (-1, 1).
    """
    matrix = _checked(series)
    if not -1.0 < min_correlation < 1.0:
        raise ValueError(f"min_correlation must be in (-1, 1), got {min_correlation}")
    flat = np.ptp(matrix, axis=0) == 0.0
    raw = np.zeros(matrix.shape[1], dtype=np.int64)
    varying = np.flatnonzero(~flat)
    if varying.size >= 2:
        tree = linkage(condensed_distance(matrix[:, varying]), method="average")
        cut = math.sqrt((1.0 - min_correlation) / 2.0)
        raw[varying] = fcluster(tree, t=cut, criterion="distance")
    elif varying.size == 1:
        raw[varying] = 1
    # flat trials keep the raw label 0, a cluster of their own
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # raw clusters renumbered by their first trial
    labels = order[inverse].astype(np.int64)
    labels.setflags(write=False)
    return labels


def effective_trials(series: ArrayLike, *, min_correlation: float = DEFAULT_MIN_CORRELATION) -> int:
    """Return the effective number of independent trials among the columns of a (T, N) matrix.

    The number of clusters of ``cluster_trials``: 1 for N copies of one
    trial, N for N unrelated ones.
    """
    return int(cluster_trials(series, min_correlation=min_correlation).max()) + 1


def trial_counts(series: ArrayLike, *, min_correlation: float = DEFAULT_MIN_CORRELATION) -> TrialCount:
    """Return the raw and the effective number of trials, and each trial's cluster label."""
    labels = cluster_trials(series, min_correlation=min_correlation)
    return TrialCount(raw=int(labels.size), effective=int(labels.max()) + 1, labels=labels)


def cluster_sharpe_variance(sharpes: ArrayLike, *, labels: ArrayLike) -> float:
    """Return the variance of the Sharpe ratios across clusters, one representative SR per cluster.

    The DSR's ``V[SR]`` is the variance of the SRs of independent trials
    (Bailey and Lopez de Prado 2014); Lopez de Prado and Lewis (2019) take
    one SR per cluster, that of the cluster's aggregate returns. With only
    the trials' SRs at hand, the representative here is the mean SR of the
    cluster's members, an approximation that is exact for identical members
    (and a slight underestimate of the aggregate's SR otherwise). Sample
    variance (``ddof=1``) over the K representatives; 0 for K = 1. SRs are
    per period, like everything the DSR takes.
    """
    values = np.asarray(sharpes, dtype=float)
    groups = np.asarray(labels)
    if values.ndim != 1 or values.shape != groups.shape or values.size == 0:
        raise ValueError(f"sharpes and labels must be 1-d of one length, got {values.shape} and {groups.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("sharpes must be finite (give a trial without trades an SR of 0)")
    _, inverse = np.unique(groups, return_inverse=True)
    representatives = np.bincount(inverse, weights=values) / np.bincount(inverse)
    if representatives.size == 1:
        return 0.0
    return float(np.var(representatives, ddof=1))


def _checked(series: ArrayLike) -> np.ndarray:
    """Return the input as a float (T, N) matrix, or raise ``ValueError`` saying what is wrong with it."""
    matrix = np.asarray(series, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < 3 or matrix.shape[1] < 1:
        raise ValueError(
            f"series must be a (periods, trials) matrix of at least 3 periods and 1 trial, got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("series must be finite (no NaN or inf)")
    return matrix
