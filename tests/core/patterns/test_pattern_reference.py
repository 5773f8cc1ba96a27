"""The numba detectors against plain-Python references written straight from docs/design-rules.md#patterns."""

from __future__ import annotations

import pytest
from pattern_helpers import arrays, pattern_rows

from app.core.patterns import FVGDetector, LiquiditySweepDetector, OrderBlockDetector, PatternDetector

L = 3


def is_swing(values, j, length, sign):
    if j < length or j + length >= len(values):
        return False
    return all(sign * values[j] > sign * values[k] for k in range(j - length, j + length + 1) if k != j)


def ref_fvg(o, h, lo, c):
    out = []
    for i in range(2, len(c)):
        if lo[i] > h[i - 2] and c[i - 1] > o[i - 1]:
            out.append((i, 1, h[i - 2], lo[i]))
        elif h[i] < lo[i - 2] and c[i - 1] < o[i - 1]:
            out.append((i, -1, h[i], lo[i - 2]))
    return out


def ref_order_blocks(o, h, lo, c, length):
    out = []
    last_high = last_low = None  # pivot of the latest confirmed, unbroken swing
    for i in range(len(c)):
        j = i - 1 - length
        if j >= 0 and is_swing(h[:i], j, length, 1):
            last_high = j
        if j >= 0 and is_swing(lo[:i], j, length, -1):
            last_low = j
        if last_low is not None and c[i] < lo[last_low]:
            ups = [m for m in range(last_low + 1, i) if c[m] > o[m]]
            if ups:
                out.append((i, -1, lo[ups[-1]], h[ups[-1]]))
            last_low = None
        if last_high is not None and c[i] > h[last_high]:
            downs = [m for m in range(last_high + 1, i) if c[m] < o[m]]
            if downs:
                out.append((i, 1, lo[downs[-1]], h[downs[-1]]))
            last_high = None
    return out


def ref_sweeps(h, lo, c, length):
    out = []
    swing_lows, swing_highs = [], []  # unswept levels, any order
    for i in range(len(c)):
        j = i - 1 - length
        if j >= 0 and is_swing(lo[:i], j, length, -1):
            swing_lows.append(lo[j])
        if j >= 0 and is_swing(h[:i], j, length, 1):
            swing_highs.append(h[j])
        swept_high = [v for v in swing_highs if h[i] > v]
        swing_highs = [v for v in swing_highs if h[i] <= v]
        reclaimed = [v for v in swept_high if c[i] < v]
        if reclaimed:
            out.append((i, -1, min(reclaimed), h[i]))
        swept_low = [v for v in swing_lows if lo[i] < v]
        swing_lows = [v for v in swing_lows if lo[i] >= v]
        reclaimed = [v for v in swept_low if c[i] > v]
        if reclaimed:
            out.append((i, 1, lo[i], max(reclaimed)))
    return out


def ref_filters(rows, close, min_zone_pct, threshold, expiry):
    kept = []
    for i, d, zl, zh in rows:
        if (zh - zl) / close[i] * 100.0 < min_zone_pct:
            continue
        dup = False
        for j, d2, zl2, zh2 in kept:
            if d2 != d or i - j > expiry:
                continue
            if any((c < zl2) if d > 0 else (c > zh2) for c in close[j + 1 : i + 1]):
                continue
            if min(zh, zh2) - max(zl, zl2) >= threshold * (zh - zl):
                dup = True
                break
        if not dup:
            kept.append((i, d, zl, zh))
    return kept


def rows_of(found):
    return pattern_rows(found)


@pytest.fixture(scope="module")
def sample(btc_1h):
    return arrays(btc_1h.iloc[:4000])


@pytest.mark.parametrize(
    ("detector", "reference"),
    [
        (FVGDetector(), lambda o, h, lo, c: ref_fvg(o, h, lo, c)),
        (OrderBlockDetector(swing_length=L), lambda o, h, lo, c: ref_order_blocks(o, h, lo, c, L)),
        (LiquiditySweepDetector(swing_length=L), lambda o, h, lo, c: ref_sweeps(h, lo, c, L)),
    ],
    ids=["imbalance", "order_block", "liquidity_sweep"],
)
def test_candidates_and_filters_match_reference(sample, detector: PatternDetector, reference):
    o, h, lo, c = sample
    expected = reference(o, h, lo, c)
    assert len({d for _, d, _, _ in expected}) == 2 and len(expected) > 50
    assert rows_of(detector.find_candidates(o, h, lo, c)) == expected
    assert rows_of(detector.find(o, h, lo, c, use_overlap=False)) == ref_filters(expected, c, 0.15, 2.0, 0)
    det = type(detector)(swing_length=L, expiry_bars=30)
    assert rows_of(det.find(o, h, lo, c)) == ref_filters(expected, c, 0.15, 0.7, 30)
    assert rows_of(det.find(o, h, lo, c, min_zone_pct=0.4)) == ref_filters(expected, c, 0.4, 0.7, 30)
