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

from app.core.patterns import DETECTOR_CLASSES, OVERLAP_THRESHOLD, get_detector
from app.errors import ValidationError
from app.extensions import db
from app.models import Pattern, Symbol
from app.services.candles.candle_store import load_candles

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


def duplicate_examples(*, threshold: float = OVERLAP_THRESHOLD, per_group: int = 3) -> dict[tuple, list[dict]]:
    """Return up to ``per_group`` overlapping pairs per (symbol, timeframe, pattern_type), each pair's two zones.

    Scans each group's zones in detection order with the same rule as the count,
    stopping once enough pairs are found.
    """
    rows = db.session.execute(
        select(
            Symbol.name,
            Pattern.timeframe,
            Pattern.pattern_type,
            Pattern.direction,
            Pattern.zone_low,
            Pattern.zone_high,
            Pattern.detected_at,
        )
        .join(Symbol, Symbol.id == Pattern.symbol_id)
        .order_by(Symbol.name, Pattern.timeframe, Pattern.pattern_type, Pattern.direction, Pattern.detected_at)
    ).all()
    examples: dict[tuple, list[dict]] = {}
    for (name, timeframe, pattern_type, direction), group in groupby(rows, key=lambda r: tuple(r[:4])):
        found = examples.setdefault((name, timeframe, pattern_type), [])
        zones = list(group)
        for i, a in enumerate(zones):
            for b in zones[i + 1 :]:
                if len(found) >= per_group:
                    break
                inter = min(a[5], b[5]) - max(a[4], b[4])
                smaller = min(a[5] - a[4], b[5] - b[4])
                if inter > 0 and inter >= threshold * smaller:
                    found.append(
                        {
                            "direction": direction,
                            "overlap": inter / smaller if smaller else 1.0,
                            "a": _zone(a),
                            "b": _zone(b),
                        }
                    )
    return {key: value for key, value in examples.items() if value}


def _zone(row) -> dict:
    return {"low": row[4], "high": row[5], "detected_at": row[6].isoformat()}


def overlap_filter_effect(*, symbol: str, timeframe: str) -> list[dict]:
    """Detect on the stored candles with and without the overlap filter: what the filter removes, per type."""
    candles = load_candles(symbol, timeframe)
    if candles.empty:
        raise ValidationError(f"no candles stored for {symbol} {timeframe}")
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    out = []
    for pattern_type in DETECTOR_CLASSES:
        detector = get_detector(pattern_type)
        kept, raw = len(detector.find(*arrays)), len(detector.find(*arrays, use_overlap=False))
        out.append({"pattern_type": pattern_type, "without_filter": raw, "with_filter": kept, "removed": raw - kept})
    return out
