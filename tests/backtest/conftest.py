"""Shared fixtures for the backtest tests: hand-built candles, a stub detector, bundled real candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.services.candle_frame import read_candles_csv
from app.services.patterns import PatternArrays, PatternDetector, register_detector

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data" / "candles"
STUB_TYPE = "imbalance"  # the stub replaces a real detector: the imbalance strategy looks its detector up per use


def make_candles(rows: list[tuple[float, float, float, float]], *, start: str = "2024-01-01", freq: str = "1h"):
    """Return a DESIGN-format candle DataFrame from (open, high, low, close) rows."""
    arr = np.asarray(rows, dtype=np.float64)
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0}, index=index
    )


class StubDetector(PatternDetector):
    """Return the patterns in ``StubDetector.patterns`` (index, direction, zone_low, zone_high) as candidates."""

    pattern_type = STUB_TYPE
    patterns: list[tuple[int, int, float, float]] = []
    calls: list[dict] = []

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        rows = [p for p in type(self).patterns if p[0] < close.shape[0]]
        if not rows:
            return PatternArrays.empty()
        idx, dirs, lows, highs = zip(*rows, strict=True)
        return PatternArrays.from_arrays(index=idx, direction=dirs, zone_low=lows, zone_high=highs)

    def find(self, open_, high, low, close, *, min_zone_pct=None, use_overlap=True) -> PatternArrays:
        type(self).calls.append({"min_zone_pct": min_zone_pct, "use_overlap": use_overlap, "bars": len(close)})
        return super().find(open_, high, low, close, min_zone_pct=min_zone_pct, use_overlap=use_overlap)


@pytest.fixture
def stub_detector():
    """Register StubDetector for 'imbalance' for one test, then restore the production class."""
    StubDetector.patterns = []
    StubDetector.calls = []
    previous = register_detector(STUB_TYPE, StubDetector)
    try:
        yield StubDetector
    finally:
        register_detector(STUB_TYPE, previous)


@pytest.fixture(scope="session")
def btc_4h() -> pd.DataFrame:
    """Bundled real BTC/USDT 4h candles (about 11k bars)."""
    return read_candles_csv(BUNDLED_DIR / "BTC_USDT-4h.csv.gz")
