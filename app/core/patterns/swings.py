"""Swing highs and lows with their confirmation delay (pure: no Flask, no SQLAlchemy).

DESIGN section 4: a swing high at bar ``j`` with length ``L`` is ``high[j]``
strictly greater than the ``L`` highs before it and the ``L`` highs after it
(a swing low mirrors it with strictly lower lows). It is only known at the
close of bar ``j + L`` (its confirmation bar), so a bar ``j < L`` or
``j > n - 1 - L`` is never a swing in an ``n``-bar array. Every consumer must
use a swing only from its confirmation bar on; that is what keeps detection
causal (prefix invariant).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _swing_mask(values, length, sign):  # pragma: no cover - numba
    n = values.shape[0]
    mask = np.zeros(n, np.bool_)
    for j in range(length, n - length):
        v = sign * values[j]
        ok = True
        for k in range(j - length, j + length + 1):
            if k != j and not (v > sign * values[k]):
                ok = False
                break
        mask[j] = ok
    return mask


def swing_highs(high: np.ndarray, length: int) -> np.ndarray:
    """Return a bool mask of swing-high pivot bars (known only at bar ``j + length``)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return _swing_mask(np.ascontiguousarray(np.asarray(high, dtype=np.float64)), int(length), 1.0)


def swing_lows(low: np.ndarray, length: int) -> np.ndarray:
    """Return a bool mask of swing-low pivot bars (known only at bar ``j + length``)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return _swing_mask(np.ascontiguousarray(np.asarray(low, dtype=np.float64)), int(length), -1.0)


def confirmed_at(pivots: np.ndarray, length: int) -> np.ndarray:
    """Return the confirmation bar (``pivot + length``) of each pivot position."""
    return np.asarray(pivots, dtype=np.int64) + int(length)
