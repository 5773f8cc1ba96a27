"""Chart data that stays small whatever the history: OHLC downsampling and sparkline points (pure).

A page must open fast with five years of 1h candles (43,800 bars): the server
sends at most ``MAX_BARS`` candles, merging neighbours into one bar per bucket
(open of the first, high max, low min, close of the last, volume summed), so
every high and low of the history is still on the chart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MAX_BARS = 1500


def downsample_ohlc(candles: pd.DataFrame, *, max_bars: int = MAX_BARS) -> pd.DataFrame:
    """Return ``candles`` merged into at most ``max_bars`` bars of equal candle counts (unchanged if shorter)."""
    if len(candles) <= max_bars:
        return candles
    size = -(-len(candles) // max_bars)  # candles per bar, rounded up
    bucket = np.arange(len(candles)) // size
    grouped = candles.groupby(bucket)
    out = pd.DataFrame(
        {
            "open": grouped["open"].first().to_numpy(),
            "high": grouped["high"].max().to_numpy(),
            "low": grouped["low"].min().to_numpy(),
            "close": grouped["close"].last().to_numpy(),
            "volume": grouped["volume"].sum().to_numpy(),
        },
        index=candles.index[::size],
    )
    return out


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24, points: int = 60) -> str:
    """SVG polyline points ("x,y x,y ...") of ``values`` scaled into width x height, at most ``points`` of them."""
    if len(values) < 2:
        return ""
    data = np.asarray(values, dtype=float)
    if len(data) > points:
        data = data[np.linspace(0, len(data) - 1, points).round().astype(int)]
    low, high = float(data.min()), float(data.max())
    span = (high - low) or 1.0
    xs = np.linspace(0, width, len(data))
    ys = height - (data - low) / span * height
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
