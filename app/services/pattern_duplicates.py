"""Duplicate analysis: stored pattern pairs whose zones overlap by 70% or more.

Two patterns of the same symbol, timeframe, pattern type and direction are a
duplicate pair when their zones' intersection covers at least ``threshold`` of
the smaller zone's height (symmetric, so each pair counts once). With the
overlap filter on, production should store few of them; the count shows how
well that holds.
"""

from __future__ import annotations

from itertools import groupby

import numpy as np
from sqlalchemy import select

from app.extensions import db
from app.models import Pattern, Symbol
from app.services.patterns import OVERLAP_THRESHOLD

# Pairs are counted in blocks of this many rows to bound memory on big slices.
BLOCK = 2_000


def count_overlapping_pairs(
    zone_low: np.ndarray, zone_high: np.ndarray, *, threshold: float = OVERLAP_THRESHOLD
) -> int:
    """Return how many pairs (i < j) overlap by at least ``threshold`` of the smaller height."""
    n = len(zone_low)
    total = 0
    for start in range(0, n, BLOCK):
        lo, hi = zone_low[start : start + BLOCK, None], zone_high[start : start + BLOCK, None]
        inter = np.minimum(hi, zone_high[None, :]) - np.maximum(lo, zone_low[None, :])
        smaller = np.minimum(hi - lo, (zone_high - zone_low)[None, :])
        hits = (inter > 0) & (inter >= threshold * smaller)
        rows = np.arange(start, start + hi.shape[0])[:, None]
        total += int((hits & (np.arange(n)[None, :] > rows)).sum())
    return total


def duplicate_report(*, threshold: float = OVERLAP_THRESHOLD) -> list[dict]:
    """Count duplicate pairs per symbol / timeframe / pattern_type (only groups with any)."""
    rows = db.session.execute(
        select(
            Symbol.name, Pattern.timeframe, Pattern.pattern_type, Pattern.direction, Pattern.zone_low, Pattern.zone_high
        )
        .join(Symbol, Symbol.id == Pattern.symbol_id)
        .order_by(Symbol.name, Pattern.timeframe, Pattern.pattern_type, Pattern.direction)
    ).all()
    counts: dict[tuple[str, str, str], dict] = {}
    for (name, timeframe, pattern_type, _direction), group in groupby(rows, key=lambda r: tuple(r[:4])):
        zones = np.array([(r[4], r[5]) for r in group], dtype=np.float64)
        entry = counts.setdefault(
            (name, timeframe, pattern_type),
            {
                "symbol": name,
                "timeframe": timeframe,
                "pattern_type": pattern_type,
                "patterns": 0,
                "overlapping_pairs": 0,
            },
        )
        entry["patterns"] += len(zones)
        entry["overlapping_pairs"] += count_overlapping_pairs(zones[:, 0], zones[:, 1], threshold=threshold)
    return list(counts.values())
