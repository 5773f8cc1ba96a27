"""Fair value gap ('imbalance') detector (pure: no Flask, no SQLAlchemy).

Bullish at bar ``i`` (candles ``i-2, i-1, i``): ``low[i] > high[i-2]`` (a gap
of strictly positive width) and the middle candle closes up
(``close[i-1] > open[i-1]``); zone ``[high[i-2], low[i]]``. Bearish mirrors it:
``high[i] < low[i-2]``, middle candle closes down, zone ``[high[i], low[i-2]]``.
Known at the close of ``i``; uses bars ``i-2 .. i`` only, so it is causal.
A doji middle candle (close == open) qualifies for neither direction.
"""

from __future__ import annotations

import numpy as np

from app.core.patterns.base import BEARISH, BULLISH, PatternArrays, PatternDetector


class FVGDetector(PatternDetector):
    """Detect three-candle fair value gaps."""

    pattern_type = "imbalance"

    def find_candidates(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> PatternArrays:
        """Return every bullish and bearish gap, unfiltered, sorted by index."""
        n = close.shape[0]
        if n < 3:
            return PatternArrays.empty()
        h2, l2 = high[:-2], low[:-2]
        o1, c1 = open_[1:-1], close[1:-1]
        h0, l0 = high[2:], low[2:]
        bull = (l0 > h2) & (c1 > o1)
        bear = (h0 < l2) & (c1 < o1)
        # The two conditions exclude each other (low > high[i-2] >= low[i-2] > high is impossible).
        any_ = bull | bear
        pos = np.flatnonzero(any_)
        is_bull = bull[pos]
        return PatternArrays(
            index=(pos + 2).astype(np.int64),
            direction=np.where(is_bull, BULLISH, BEARISH).astype(np.int8),
            zone_low=np.where(is_bull, h2[pos], h0[pos]),
            zone_high=np.where(is_bull, l0[pos], l2[pos]),
        )
