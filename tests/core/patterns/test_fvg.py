"""Fair value gap ('imbalance') detection on hand-built candles."""

from __future__ import annotations

import pytest
from pattern_helpers import candles, mirror, mirrored, summary

from app.core.patterns import FVGDetector

BULL_FVG = [
    (100.0, 101.0, 99.0, 100.5),
    (100.5, 104.0, 100.25, 103.75),  # middle candle closes up
    (103.75, 105.0, 102.0, 104.5),  # low 102 > high[0] 101
]


def test_bullish_gap_zone_and_index():
    found = FVGDetector(min_zone_pct=0).detect_historical(candles(BULL_FVG))
    assert summary(found) == [(2, "bullish", 101.0, 102.0)]
    assert found[0]["pattern_type"] == "imbalance"
    assert found[0]["detected_at"] == candles(BULL_FVG).index[2]


def test_bearish_gap_mirrors_bullish():
    found = FVGDetector(min_zone_pct=0).detect_historical(mirror(candles(BULL_FVG)))
    assert summary(found) == mirrored([(2, "bullish", 101.0, 102.0)])


def test_zero_width_gap_is_not_a_gap():
    rows = [*BULL_FVG[:2], (103.75, 105.0, 101.0, 104.5)]  # low[2] == high[0]
    assert FVGDetector(min_zone_pct=0).detect_historical(candles(rows)) == []
    assert FVGDetector(min_zone_pct=0).detect_historical(mirror(candles(rows))) == []


@pytest.mark.parametrize("middle", [(103.75, 104.0, 100.25, 100.5), (101.0, 104.0, 100.25, 101.0)])
def test_middle_candle_down_or_doji_gives_no_bullish_gap(middle):
    rows = [BULL_FVG[0], middle, BULL_FVG[2]]
    assert FVGDetector(min_zone_pct=0).detect_historical(candles(rows)) == []
    assert FVGDetector(min_zone_pct=0).detect_historical(mirror(candles(rows))) == []


def test_min_zone_pct_uses_close_of_detection_bar():
    # zone height 1 at close 104.5: 0.957 %
    assert len(FVGDetector(min_zone_pct=0.95).detect_historical(candles(BULL_FVG))) == 1
    assert FVGDetector(min_zone_pct=0.96).detect_historical(candles(BULL_FVG)) == []


def test_too_few_bars_gives_nothing():
    assert FVGDetector().detect_historical(candles(BULL_FVG[:2])) == []
