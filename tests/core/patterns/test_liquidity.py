"""Liquidity sweep detection on hand-built candles."""

from __future__ import annotations

from pattern_helpers import candles, mirror, mirrored, summary

from app.core.patterns import LiquiditySweepDetector

# swing_length=2: swing low 97 at bar 2, confirmed at the close of bar 4.
BASE = [
    (100.0, 101.0, 99.0, 100.0),
    (100.0, 100.5, 98.5, 99.0),
    (99.0, 99.5, 97.0, 98.0),  # swing low 97
    (98.0, 100.0, 97.5, 99.5),
    (99.5, 101.0, 98.0, 100.5),  # confirmation bar
]
SWEEP = (100.5, 101.0, 96.0, 98.0)  # trades to 96, closes back above 97


def detect(rows, length=2):
    return summary(LiquiditySweepDetector(swing_length=length, min_zone_pct=0).detect_historical(candles(rows)))


def test_bullish_sweep_of_confirmed_swing_low():
    assert detect([*BASE, SWEEP]) == [(5, "bullish", 96.0, 97.0)]


def test_bearish_sweep_mirrors_bullish():
    found = LiquiditySweepDetector(swing_length=2, min_zone_pct=0).detect_historical(mirror(candles([*BASE, SWEEP])))
    assert summary(found) == mirrored([(5, "bullish", 96.0, 97.0)])


def test_sweep_closing_beyond_the_level_is_not_a_sweep_and_consumes_the_level():
    breakdown = (100.5, 101.0, 96.0, 96.5)
    reclaim = (96.5, 98.5, 96.25, 98.0)  # would be a sweep if the level were still unswept
    assert detect([*BASE, breakdown]) == []
    assert detect([*BASE, breakdown, reclaim]) == []


def test_close_exactly_at_the_level_is_not_a_sweep():
    assert detect([*BASE, (100.5, 101.0, 96.0, 97.0)]) == []


def test_low_equal_to_the_level_does_not_sweep_it():
    touch = (100.5, 101.0, 97.0, 98.0)
    assert detect([*BASE, touch]) == []
    assert detect([*BASE, touch, SWEEP]) == [(6, "bullish", 96.0, 97.0)]


def test_unconfirmed_swing_cannot_be_swept():
    # Bar 4 dips below bar 2 before the swing is confirmed: bar 2 is then no swing at all.
    rows = [*BASE[:4], (99.5, 101.0, 96.5, 98.0)]
    assert detect(rows) == []


def test_each_level_is_swept_once():
    assert detect([*BASE, SWEEP, (98.0, 99.0, 95.5, 98.5)]) == [(5, "bullish", 96.0, 97.0)]


# swing_length=1: swing lows 95 (bar 1) and 97 (bar 3), confirmed at bars 2 and 4.
TWO_LEVELS = [
    (100.0, 101.0, 99.0, 100.0),
    (100.0, 100.0, 95.0, 99.5),
    (99.5, 101.0, 98.0, 100.5),
    (100.5, 102.0, 97.0, 101.0),
    (101.0, 101.5, 99.0, 100.0),
]


def test_multiple_levels_zone_uses_highest_reclaimed_level():
    assert detect([*TWO_LEVELS, (100.0, 100.5, 94.0, 96.0)], length=1) == [(5, "bullish", 94.0, 95.0)]
    assert detect([*TWO_LEVELS, (100.0, 100.5, 94.0, 98.0)], length=1) == [(5, "bullish", 94.0, 97.0)]
