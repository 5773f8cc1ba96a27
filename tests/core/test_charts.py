"""Chart data stays small: downsampled candles keep every extreme; sparklines fit their box."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.core.charts import downsample_ohlc, sparkline


def _candles(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = 100 + rng.normal(size=n).cumsum()
    index = pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)}, index=index
    )


def test_a_short_history_is_sent_as_it_is():
    candles = _candles(50)
    assert downsample_ohlc(candles, max_bars=100) is candles


def test_five_years_of_hours_shrink_to_the_limit_and_keep_every_extreme():
    candles = _candles(43_800)
    bars = downsample_ohlc(candles, max_bars=1500)
    assert len(bars) <= 1500
    assert bars["high"].max() == candles["high"].max() and bars["low"].min() == candles["low"].min()
    assert bars["open"].iloc[0] == candles["open"].iloc[0] and bars["close"].iloc[-1] == candles["close"].iloc[-1]
    assert bars["volume"].sum() == candles["volume"].sum()
    assert bars.index[0] == candles.index[0] and bars.index.is_monotonic_increasing


def test_a_sparkline_fits_its_box_and_has_at_most_its_points():
    points = sparkline(list(range(500)), width=100, height=20, points=40).split()
    assert len(points) == 40
    xy = [tuple(map(float, p.split(","))) for p in points]
    assert xy[0] == (0.0, 20.0) and xy[-1] == (100.0, 0.0)
    assert sparkline([1.0]) == "" and len(sparkline([2.0, 2.0]).split()) == 2
