"""Helpers for the pattern tests: hand-built candles, price mirroring, result rows.

A uniquely named module (not conftest) so ``from pattern_helpers import ...``
cannot pick up another directory's conftest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIRROR = 300.0  # mirror prices around this level; fixtures use binary-exact prices so the mirror is exact


def candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Build a candle DataFrame from (open, high, low, close) rows on an hourly grid."""
    arr = np.asarray(rows, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0}, index=index
    )


def mirror(df: pd.DataFrame) -> pd.DataFrame:
    """Reflect prices around MIRROR: up candles become down candles, highs become lows."""
    out = df.copy()
    out["open"] = MIRROR - df["open"]
    out["close"] = MIRROR - df["close"]
    out["high"] = MIRROR - df["low"]
    out["low"] = MIRROR - df["high"]
    return out


def arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (open, high, low, close) float arrays."""
    return tuple(df[c].to_numpy() for c in ("open", "high", "low", "close"))


def summary(patterns: list[dict]) -> list[tuple]:
    """Return (index, direction, zone_low, zone_high) per pattern dict."""
    return [(p["index"], p["direction"], p["zone_low"], p["zone_high"]) for p in patterns]


def mirrored(expected: list[tuple]) -> list[tuple]:
    """Return the patterns expected on the mirrored candles."""
    flip = {"bullish": "bearish", "bearish": "bullish"}
    return [(i, flip[d], MIRROR - hi, MIRROR - lo) for i, d, lo, hi in expected]


def pattern_rows(found) -> list[tuple]:
    """Return (index, direction, zone_low, zone_high) tuples of a PatternArrays."""
    cols = (found.index.tolist(), found.direction.tolist(), found.zone_low.tolist(), found.zone_high.tolist())
    return list(zip(*cols, strict=True))
