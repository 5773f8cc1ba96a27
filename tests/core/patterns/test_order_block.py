"""Order block detection on hand-built candles (swing_length=2)."""

from __future__ import annotations

from pattern_helpers import candles, mirror, mirrored, summary

from app.core.patterns import OrderBlockDetector

# Swing high at bar 2 (105), confirmed at the close of bar 4; bar 3 is the last down candle; bar 5 breaks it.
BASE = [
    (100.0, 101.0, 99.0, 100.5),
    (100.5, 102.0, 100.0, 101.5),
    (101.5, 105.0, 101.0, 104.0),  # swing high 105
    (104.0, 104.5, 100.0, 100.5),  # down candle -> order block [100, 104.5]
    (100.5, 103.0, 99.5, 102.0),  # confirmation bar of the swing
    (102.0, 106.0, 101.5, 105.5),  # close 105.5 > 105: break of structure
]
EXPECTED = [(5, "bullish", 100.0, 104.5)]


def detect(rows, **kw):
    return summary(OrderBlockDetector(swing_length=2, min_zone_pct=0, **kw).detect_historical(candles(rows)))


def test_bullish_order_block_at_break_of_structure():
    assert detect(BASE) == EXPECTED


def test_bearish_order_block_mirrors_bullish():
    found = OrderBlockDetector(swing_length=2, min_zone_pct=0).detect_historical(mirror(candles(BASE)))
    assert summary(found) == mirrored(EXPECTED)


def test_close_at_swing_level_is_not_a_break():
    rows = [*BASE[:5], (102.0, 106.0, 101.5, 105.0)]
    assert detect(rows) == []


def test_wick_above_without_close_above_is_not_a_break():
    rows = [*BASE[:5], (102.0, 106.0, 101.5, 104.75)]
    assert detect(rows) == []


def test_unconfirmed_swing_cannot_be_broken():
    # With swing_length=3 bar 2 needs three lower highs after it; bar 5 (106) is higher, so no swing exists.
    assert summary(OrderBlockDetector(swing_length=3, min_zone_pct=0).detect_historical(candles(BASE))) == []


def test_last_down_candle_between_swing_and_break_is_used():
    rows = [*BASE[:4], (100.5, 103.0, 99.5, 100.25), BASE[5]]  # bar 4 is now also a down candle
    assert detect(rows) == [(5, "bullish", 99.5, 103.0)]


def test_no_down_candle_between_swing_and_break_gives_nothing():
    rows = [*BASE[:3], (104.0, 104.5, 100.0, 104.25), BASE[4], BASE[5]]  # bar 3 closes up now
    assert detect(rows) == []


def test_each_swing_is_broken_only_once():
    rows = [
        *BASE,
        (105.5, 106.0, 104.0, 104.5),  # a down candle after the break
        (104.5, 107.0, 104.25, 106.75),  # closes above 105 again
    ]
    assert detect(rows) == EXPECTED


def test_swing_confirmed_after_the_break_bar_is_not_used():
    # Truncated at the confirmation bar: nothing can be known yet.
    assert detect(BASE[:5]) == []
