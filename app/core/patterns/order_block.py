"""Order block detector (pure: no Flask, no SQLAlchemy).

Bullish (bearish mirrors with swing lows and up-close candles):

- structure level: the most recently confirmed swing high (``swings.py``).
  The swing at pivot ``j`` becomes the level at bar ``j + L + 1``: it is
  confirmed at the close of ``j + L``, i.e. strictly before the close of any
  bar evaluated against it. (Including bar ``j + L`` itself would change
  nothing: its high is below ``high[j]``, so its close cannot break it.)
  A newer confirmed swing high replaces the level, broken or not.
- break of structure at bar ``i``: ``close[i] > level``. Each swing can be
  broken only once: after the break there is no bullish level until the next
  swing high is confirmed.
- the order block is the last down-close candle (``close < open``) strictly
  between the swing pivot and the breaking bar (``j < m < i``); zone
  ``[low[m], high[m]]``, known at the close of ``i``. If there is no such
  candle the break still consumes the swing but yields no pattern.

Bearish and bullish patterns on the same bar are emitted bearish first
(``PatternArrays`` order: index, then direction).
"""

from __future__ import annotations

import numpy as np

from app.core.indicators import swing_highs, swing_lows
from app.core.jit import njit
from app.core.patterns.base import PatternArrays, PatternDetector


@njit(cache=True)
def _order_blocks(open_, high, low, close, sh_mask, sl_mask, length):  # pragma: no cover - numba
    n = close.shape[0]
    out_idx = np.empty(2 * n, np.int64)
    out_dir = np.empty(2 * n, np.int8)
    out_lo = np.empty(2 * n, np.float64)
    out_hi = np.empty(2 * n, np.float64)
    count = 0
    swing_hi = -1  # pivot of the current (unbroken) structure high, -1 if none
    swing_lo = -1
    last_down = -1  # last bar < i with close < open
    last_up = -1
    for i in range(n):
        j = i - 1 - length  # pivot confirmed at the close of bar i - 1
        if j >= 0:
            if sh_mask[j]:
                swing_hi = j
            if sl_mask[j]:
                swing_lo = j
        if swing_lo >= 0 and close[i] < low[swing_lo]:
            if last_up > swing_lo:
                out_idx[count] = i
                out_dir[count] = -1
                out_lo[count] = low[last_up]
                out_hi[count] = high[last_up]
                count += 1
            swing_lo = -1
        if swing_hi >= 0 and close[i] > high[swing_hi]:
            if last_down > swing_hi:
                out_idx[count] = i
                out_dir[count] = 1
                out_lo[count] = low[last_down]
                out_hi[count] = high[last_down]
                count += 1
            swing_hi = -1
        if close[i] < open_[i]:
            last_down = i
        elif close[i] > open_[i]:
            last_up = i
    return out_idx[:count].copy(), out_dir[:count].copy(), out_lo[:count].copy(), out_hi[:count].copy()


class OrderBlockDetector(PatternDetector):
    """Detect order blocks at breaks of structure."""

    pattern_type = "order_block"

    def find_candidates(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> PatternArrays:
        """Return every order block, unfiltered, sorted by index then direction."""
        sh = swing_highs(high, self.swing_length)
        sl = swing_lows(low, self.swing_length)
        idx, direction, lo, hi = _order_blocks(open_, high, low, close, sh, sl, self.swing_length)
        return PatternArrays(index=idx, direction=direction, zone_low=lo, zone_high=hi)
