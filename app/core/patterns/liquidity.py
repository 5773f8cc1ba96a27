"""Liquidity sweep detector (pure: no Flask, no SQLAlchemy).

Bullish (bearish mirrors with swing highs):

- a swing low (``swings.py``, pivot ``j``) can be swept from bar ``j + L + 1``
  on, i.e. after the close of its confirmation bar ``j + L``;
- bar ``i`` trades below it (``low[i] < level``); every level traded below is
  consumed ("swept"), whatever the close: the resting liquidity there is
  taken. Documented choice: a candle that trades below the level and closes
  at or below it is NOT a sweep (it is a breakdown) but it DOES mark the level
  as swept, so no later candle can sweep it again;
- the candle is a bullish sweep when it closes back above at least one of the
  levels it traded below (``close[i] > level``); when it reclaims several, the
  zone uses the highest reclaimed level (bearish: the lowest), i.e. the widest
  zone ``[low[i], level]`` (one pattern per
  candle and direction), known at the close of ``i``.

Unswept swing lows form a stack whose levels never decrease from oldest to
newest (a new swing low's own bar sweeps every older, higher level), so one
O(n) pass pops exactly the levels above ``low[i]``.
"""

from __future__ import annotations

import numpy as np

from app.core.indicators import swing_highs, swing_lows
from app.core.jit import njit
from app.core.patterns.base import PatternArrays, PatternDetector


@njit(cache=True)
def _sweeps(high, low, close, sh_mask, sl_mask, length):  # pragma: no cover - numba
    n = close.shape[0]
    out_idx = np.empty(2 * n, np.int64)
    out_dir = np.empty(2 * n, np.int8)
    out_lo = np.empty(2 * n, np.float64)
    out_hi = np.empty(2 * n, np.float64)
    count = 0
    lows = np.empty(n, np.float64)  # unswept swing lows, non-decreasing bottom -> top
    n_lows = 0
    highs = np.empty(n, np.float64)  # unswept swing highs, non-increasing bottom -> top
    n_highs = 0
    for i in range(n):
        j = i - 1 - length  # pivot confirmed at the close of bar i - 1
        if j >= 0:
            if sl_mask[j]:
                lows[n_lows] = low[j]
                n_lows += 1
            if sh_mask[j]:
                highs[n_highs] = high[j]
                n_highs += 1
        # bearish: high trades above unswept swing highs, close back below one of them
        best = np.nan
        while n_highs > 0 and highs[n_highs - 1] < high[i]:
            level = highs[n_highs - 1]
            n_highs -= 1
            if close[i] < level and np.isnan(best):
                best = level  # popped in increasing order: the first reclaimed is the lowest (widest zone)
        if not np.isnan(best):
            out_idx[count] = i
            out_dir[count] = -1
            out_lo[count] = best
            out_hi[count] = high[i]
            count += 1
        best = np.nan
        while n_lows > 0 and lows[n_lows - 1] > low[i]:
            level = lows[n_lows - 1]
            n_lows -= 1
            if close[i] > level and np.isnan(best):
                best = level  # popped in decreasing order: the first reclaimed is the highest
        if not np.isnan(best):
            out_idx[count] = i
            out_dir[count] = 1
            out_lo[count] = low[i]
            out_hi[count] = best
            count += 1
    return out_idx[:count].copy(), out_dir[:count].copy(), out_lo[:count].copy(), out_hi[:count].copy()


class LiquiditySweepDetector(PatternDetector):
    """Detect sweeps of confirmed swing lows / highs that close back inside."""

    pattern_type = "liquidity_sweep"

    def find_candidates(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> PatternArrays:
        """Return every sweep, unfiltered, sorted by index then direction."""
        sh = swing_highs(high, self.swing_length)
        sl = swing_lows(low, self.swing_length)
        idx, direction, lo, hi = _sweeps(high, low, close, sh, sl, self.swing_length)
        return PatternArrays(index=idx, direction=direction, zone_low=lo, zone_high=hi)
