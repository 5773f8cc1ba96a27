"""Min-zone and overlap filters, zone status and expiry on crafted zones."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from pattern_helpers import pattern_rows

from app.core.patterns import BEARISH, BULLISH, PatternArrays, PatternDetector, zone_status, zone_statuses

N = 40


class FixedDetector(PatternDetector):
    """Return the candidates it was given, so the shared filters can be tested alone."""

    pattern_type = "imbalance"

    def __init__(self, rows, **kw):
        super().__init__(**kw)
        idx, direction, lo, hi = zip(*rows, strict=True) if rows else ((), (), (), ())
        self.rows = PatternArrays.from_arrays(index=idx, direction=direction, zone_low=lo, zone_high=hi)

    def find_candidates(self, open_, high, low, close):
        return self.rows


# The zone the status tests share: 100-110, detected at bar 2, expiring 5 bars later.
status_of_zone_100_110 = partial(zone_status, zone_low=100.0, zone_high=110.0, detected_index=2, expiry_bars=5)


def run(rows, close=None, *, use_overlap=True, min_zone_pct=0.0, **kw):
    close = np.full(N, 105.0) if close is None else np.asarray(close, dtype=float)
    found = FixedDetector(rows, min_zone_pct=min_zone_pct, **kw).find(
        close, close + 1, close - 1, close, use_overlap=use_overlap
    )
    return pattern_rows(found)


A = (5, BULLISH, 100.0, 110.0)


def test_min_zone_uses_close_at_pattern_index():
    close = np.full(N, 100.0)
    close[3] = 400.0
    rows = [(2, BULLISH, 100.0, 101.0), (3, BULLISH, 200.0, 201.0)]  # 1 % and 0.25 %
    assert run(rows, close, min_zone_pct=0.5) == [rows[0]]
    assert run(rows, close, min_zone_pct=0.2) == rows


def test_min_zone_default_and_per_call_override():
    close = np.full(N, 100.0)
    rows = [(2, BULLISH, 100.0, 100.1), (4, BULLISH, 50.0, 50.2)]  # 0.1 % and 0.2 %
    det = FixedDetector(rows)  # production default 0.15
    assert det.find(close, close, close, close).index.tolist() == [4]
    assert det.find(close, close, close, close, min_zone_pct=0.05).index.tolist() == [2, 4]


def test_overlap_at_least_threshold_is_dropped():
    rows = [A, (7, BULLISH, 101.0, 108.0), (8, BULLISH, 105.0, 115.0), (9, BULLISH, 103.0, 113.0)]
    # 7: fully inside A; 8: 50 % of its height inside A -> kept; 9: exactly 70 % inside A -> dropped
    assert run(rows) == [A, rows[2]]
    assert run(rows, use_overlap=False) == rows


def test_overlap_threshold_is_a_parameter():
    rows = [A, (9, BULLISH, 103.0, 113.0)]
    assert run(rows, overlap_threshold=0.71) == rows


def test_other_direction_never_overlaps():
    rows = [A, (6, BEARISH, 100.0, 110.0)]
    assert run(rows) == rows


def test_dropped_duplicates_never_become_active():
    rows = [A, (6, BULLISH, 104.0, 112.0), (7, BULLISH, 109.0, 112.0)]
    # 6 is 75 % inside A (dropped); 7 would be 100 % inside 6 but only 33 % inside A
    assert run(rows) == [A, rows[2]]


def test_min_zone_filter_runs_before_overlap():
    close = np.full(N, 100.0)
    rows = [(5, BULLISH, 100.0, 100.1), (6, BULLISH, 100.0, 100.5)]  # the first is too small
    assert run(rows, close, min_zone_pct=0.15) == [rows[1]]


def test_invalidated_zone_stops_suppressing():
    close = np.full(N, 105.0)
    close[6] = 99.0  # bullish A [100, 110] invalidated by the close of bar 6
    b = (7, BULLISH, 101.0, 109.0)
    assert run([A, b], close) == [A, b]
    assert run([A, b]) == [A]


def test_zone_invalidated_on_the_new_zones_bar_no_longer_counts():
    close = np.full(N, 105.0)
    close[7] = 99.5
    b = (7, BULLISH, 99.0, 109.0)
    assert run([A, b], close) == [A, b]
    close[7] = 100.0  # at the far edge, not beyond it
    assert run([A, b], close) == [A]


def test_bearish_zone_invalidated_by_close_above_its_high():
    close = np.full(N, 105.0)
    a = (5, BEARISH, 100.0, 110.0)
    b = (8, BEARISH, 101.0, 109.0)
    assert run([a, b], close) == [a]
    close[6] = 110.5
    assert run([a, b], close) == [a, b]


def test_expiry_ends_suppression():
    assert run([A, (8, BULLISH, 101.0, 109.0)], expiry_bars=3) == [A]
    assert run([A, (9, BULLISH, 101.0, 109.0)], expiry_bars=3) == [A, (9, BULLISH, 101.0, 109.0)]


def test_invalid_thresholds_are_rejected():
    with pytest.raises(ValueError, match="min_zone_pct"):
        FixedDetector([], min_zone_pct=-1)
    with pytest.raises(ValueError, match="overlap_threshold"):
        FixedDetector([], overlap_threshold=0)
    with pytest.raises(ValueError, match="expiry_bars"):
        FixedDetector([], expiry_bars=0)


# zone_status: bullish zone [100, 110] detected at bar 2
def bars(n=12):
    high = np.full(n, 120.0)
    low = np.full(n, 115.0)
    close = np.full(n, 118.0)
    return high, low, close


def test_status_active_then_expired():
    high, low, close = bars(8)
    assert status_of_zone_100_110(direction="bullish", high=high, low=low, close=close) == ("active", 2)
    high, low, close = bars(9)
    assert status_of_zone_100_110(direction="bullish", high=high, low=low, close=close) == ("expired", 8)


def test_status_mitigated_at_first_touch():
    high, low, close = bars()
    low[4] = 110.0
    low[6] = 105.0
    assert status_of_zone_100_110(direction="bullish", high=high, low=low, close=close) == ("mitigated", 4)


def test_status_invalidated_wins_over_earlier_touch():
    high, low, close = bars()
    low[4] = 105.0
    low[6], close[6] = 95.0, 99.0
    assert status_of_zone_100_110(direction=BULLISH, high=high, low=low, close=close) == ("invalidated", 6)


def test_status_events_after_expiry_are_ignored():
    high, low, close = bars()
    low[8], close[8] = 95.0, 99.0  # bar 8 is older than 5 bars after bar 2
    assert status_of_zone_100_110(direction="bullish", high=high, low=low, close=close) == ("expired", 8)


def test_status_detection_bar_itself_is_not_an_event():
    high, low, close = bars(5)
    low[2], close[2] = 95.0, 99.0
    assert status_of_zone_100_110(direction="bullish", high=high, low=low, close=close) == ("active", 2)


def test_status_bearish_mirrors():
    high, low, close = bars()
    high[:], low[:], close[:] = 90.0, 85.0, 88.0
    high[3] = 100.0
    assert status_of_zone_100_110(direction="bearish", high=high, low=low, close=close) == ("mitigated", 3)
    high[5], close[5] = 112.0, 111.0
    assert status_of_zone_100_110(direction="bearish", high=high, low=low, close=close) == ("invalidated", 5)


def test_status_array_version_matches_scalar():
    high, low, close = bars()
    low[4] = 105.0
    codes, at = zone_statuses(
        direction=np.array([1, 1]),
        zone_low=np.array([100.0, 50.0]),
        zone_high=np.array([110.0, 60.0]),
        detected_index=np.array([2, 3]),
        high=high,
        low=low,
        close=close,
        expiry_bars=5,
    )
    assert codes.tolist() == [1, 3] and at.tolist() == [4, 9]
