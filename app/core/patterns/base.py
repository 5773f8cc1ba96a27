"""Pattern detector base: pattern arrays, shared filters, zone status (pure: no Flask, no SQLAlchemy).

Every detector turns OHLC numpy arrays into ``PatternArrays`` (one row per
pattern, sorted by index then direction) in three steps (docs/design-rules.md#patterns):

1. ``find_candidates``: the raw patterns of the subclass, causal;
2. min zone size: ``(zone_high - zone_low) / close[index] * 100 >= min_zone_pct``;
3. overlap (with ``use_overlap``, the default): a zone whose intersection with a still
   active, earlier accepted zone of the same direction covers at least
   ``overlap_threshold`` of its own height is a duplicate and dropped. It runs
   after the min-zone filter, so a zone removed for its size never suppresses
   another; dropped duplicates never become active.

Overlap "active" rules (documented choices, all causal):
- an accepted zone detected at bar ``d`` is active for a new zone detected at
  bar ``t`` while ``t - d <= expiry_bars`` and no close in bars ``d+1 .. t``
  lies beyond its far edge (bullish: ``close < zone_low``; bearish:
  ``close > zone_high``);
- the close of bar ``t`` is processed BEFORE the zone detected at ``t``: a zone
  invalidated on the very bar a new zone appears no longer counts (both facts
  are known at the same close, so this stays causal);
- a zero-height new zone (only possible with ``min_zone_pct <= 0``) is a
  duplicate when it lies inside an active zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.core.indicators import DEFAULT_SWING_LENGTH, as_float_array
from app.core.jit import njit

BULLISH, BEARISH = 1, -1
DIRECTION_NAMES = {BULLISH: "bullish", BEARISH: "bearish"}
DIRECTION_CODES = {"bullish": BULLISH, "bearish": BEARISH}

MIN_ZONE_PERCENT = 0.15
OVERLAP_THRESHOLD = 0.70
DEFAULT_EXPIRY_BARS = 100

# Zone status codes of ``zone_statuses``; ``STATUS_NAMES`` maps them to the strings of ``zone_status``.
STATUS_ACTIVE, STATUS_MITIGATED, STATUS_INVALIDATED, STATUS_EXPIRED = 0, 1, 2, 3
STATUS_NAMES = ("active", "mitigated", "invalidated", "expired")


@dataclass(frozen=True)
class PatternArrays:
    """Hold patterns as parallel arrays, one row per pattern, sorted by index then direction.

    ``index`` is the bar position whose close makes the pattern known;
    ``direction`` is +1 (bullish) or -1 (bearish).
    """

    index: np.ndarray
    direction: np.ndarray
    zone_low: np.ndarray
    zone_high: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def take(self, mask_or_idx: np.ndarray) -> PatternArrays:
        """Return the rows selected by a boolean mask or an integer index array."""
        sel = np.asarray(mask_or_idx)
        return PatternArrays(
            index=self.index[sel],
            direction=self.direction[sel],
            zone_low=self.zone_low[sel],
            zone_high=self.zone_high[sel],
        )

    @classmethod
    def empty(cls) -> PatternArrays:
        """Return a PatternArrays with no rows."""
        return cls(
            index=np.empty(0, np.int64),
            direction=np.empty(0, np.int8),
            zone_low=np.empty(0, np.float64),
            zone_high=np.empty(0, np.float64),
        )

    @classmethod
    def from_arrays(
        cls, *, index: np.ndarray, direction: np.ndarray, zone_low: np.ndarray, zone_high: np.ndarray
    ) -> PatternArrays:
        """Build with canonical dtypes, sorted by (index, direction) with a stable sort."""
        index = np.asarray(index, dtype=np.int64)
        direction = np.asarray(direction, dtype=np.int8)
        order = np.lexsort((direction, index))
        return cls(
            index=np.ascontiguousarray(index[order]),
            direction=np.ascontiguousarray(direction[order]),
            zone_low=np.ascontiguousarray(np.asarray(zone_low, dtype=np.float64)[order]),
            zone_high=np.ascontiguousarray(np.asarray(zone_high, dtype=np.float64)[order]),
        )


@njit(cache=True)
def _min_zone_mask(index, zone_low, zone_high, close, min_zone_pct):  # pragma: no cover - numba
    keep = np.empty(index.shape[0], np.bool_)
    for p in range(index.shape[0]):
        keep[p] = (zone_high[p] - zone_low[p]) / close[index[p]] * 100.0 >= min_zone_pct
    return keep


@njit(cache=True)
def _overlap_mask(index, direction, zone_low, zone_high, close, threshold, expiry_bars):  # pragma: no cover
    m = index.shape[0]
    keep = np.zeros(m, np.bool_)
    act_id = np.empty(m, np.int64)
    act_end = np.empty(m, np.int64)  # first bar at which the accepted zone no longer counts
    count = 0
    for p in range(m):
        t = index[p]
        write = 0
        for a in range(count):
            if act_end[a] > t:
                act_id[write] = act_id[a]
                act_end[write] = act_end[a]
                write += 1
        count = write
        lo = zone_low[p]
        hi = zone_high[p]
        height = hi - lo
        dup = False
        for a in range(count):
            q = act_id[a]
            if direction[q] != direction[p]:
                continue
            if height > 0.0:
                inter = min(hi, zone_high[q]) - max(lo, zone_low[q])
                if inter >= threshold * height:
                    dup = True
                    break
            elif zone_low[q] <= lo and lo <= zone_high[q]:
                dup = True
                break
        if dup:
            continue
        keep[p] = True
        # Scanning forward here is causal: a decision at bar t only asks whether end <= t.
        act_id[count] = p
        act_end[count] = _active_end(direction[p], lo, hi, t, close, expiry_bars)
        count += 1
    return keep


@njit(cache=True, inline="always")
def _active_end(direction, zone_low, zone_high, detected, close, expiry_bars):  # pragma: no cover - numba
    last = min(close.shape[0] - 1, detected + expiry_bars)
    for s in range(detected + 1, last + 1):
        if (direction > 0 and close[s] < zone_low) or (direction < 0 and close[s] > zone_high):
            return s
    return detected + expiry_bars + 1


@njit(cache=True)
def _active_ends(index, direction, zone_low, zone_high, close, expiry_bars):  # pragma: no cover - numba
    end = np.empty(index.shape[0], np.int64)
    for p in range(index.shape[0]):
        end[p] = _active_end(direction[p], zone_low[p], zone_high[p], index[p], close, expiry_bars)
    return end


def active_until(zones: PatternArrays, *, close: np.ndarray, expiry_bars: int) -> np.ndarray:
    """Return, per zone, the first bar at which it is no longer active (the overlap rule's "active").

    A zone detected at bar ``d`` is active at bar ``t`` while ``t < end``:
    ``end`` is the first bar in ``d+1 .. d+expiry_bars`` whose close lies beyond
    the far edge (bullish: ``close < zone_low``; bearish: ``close > zone_high``),
    else ``d + expiry_bars + 1``. Causal: whether ``end <= t`` reads closes up to ``t`` only.
    """
    return _active_ends(
        zones.index, zones.direction, zones.zone_low, zones.zone_high, as_float_array(close), int(expiry_bars)
    )


@njit(cache=True)
def _zone_statuses(direction, zone_low, zone_high, detected_index, high, low, close, expiry_bars):  # pragma: no cover
    m = direction.shape[0]
    n = close.shape[0]
    status = np.zeros(m, np.int8)
    at = np.empty(m, np.int64)
    for p in range(m):
        d = detected_index[p]
        lo = zone_low[p]
        hi = zone_high[p]
        bull = direction[p] > 0
        last = min(n - 1, d + expiry_bars)
        touched = -1
        status[p] = STATUS_ACTIVE
        at[p] = d
        for s in range(d + 1, last + 1):
            if (bull and close[s] < lo) or ((not bull) and close[s] > hi):
                status[p] = STATUS_INVALIDATED
                at[p] = s
                break
            if touched < 0 and ((bull and low[s] <= hi) or ((not bull) and high[s] >= lo)):
                touched = s
        if status[p] == STATUS_INVALIDATED:
            continue
        if touched >= 0:
            status[p] = STATUS_MITIGATED
            at[p] = touched
        elif n - 1 - d > expiry_bars:
            status[p] = STATUS_EXPIRED
            at[p] = d + expiry_bars + 1
    return status, at


def direction_code(direction: int | str) -> int:
    if isinstance(direction, str):
        try:
            return DIRECTION_CODES[direction]
        except KeyError:
            raise ValueError(f"direction must be 'bullish' or 'bearish', got {direction!r}") from None
    if int(direction) not in (BULLISH, BEARISH):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    return int(direction)


def zone_statuses(
    *,
    direction: np.ndarray,
    zone_low: np.ndarray,
    zone_high: np.ndarray,
    detected_index: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    expiry_bars: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (status codes int8, bar index int64) for many zones as of the last bar.

    Only bars ``detected_index + 1 .. min(last bar, detected_index + expiry_bars)``
    are looked at. Precedence (bullish; bearish mirrors):

    1. ``invalidated`` at the first close below ``zone_low`` in that window,
       even if the zone was touched earlier (a failed zone is a failed zone);
    2. else ``mitigated`` at the first bar whose low <= ``zone_high`` (price
       traded back into the zone);
    3. else ``expired`` at bar ``detected_index + expiry_bars + 1`` once the
       data reaches it (the zone is older than ``expiry_bars``);
    4. else ``active``, with index ``detected_index``.

    Codes are ``STATUS_ACTIVE/MITIGATED/INVALIDATED/EXPIRED``; names in ``STATUS_NAMES``.
    """
    direction = np.ascontiguousarray(np.asarray(direction, dtype=np.int8))
    detected_index = np.ascontiguousarray(np.asarray(detected_index, dtype=np.int64))
    return _zone_statuses(
        direction,
        as_float_array(zone_low),
        as_float_array(zone_high),
        detected_index,
        as_float_array(high),
        as_float_array(low),
        as_float_array(close),
        int(expiry_bars),
    )


def zone_status(
    *,
    direction: int | str,
    zone_low: float,
    zone_high: float,
    detected_index: int,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    expiry_bars: int,
) -> tuple[str, int]:
    """Return ('active'|'mitigated'|'invalidated'|'expired', bar index) for one zone.

    Positional parameters as issue 3 spells them. Same rules and precedence as
    ``zone_statuses``; ``direction`` is 'bullish'/'bearish' or +1/-1.
    """
    codes, at = zone_statuses(
        direction=np.array([direction_code(direction)], np.int8),
        zone_low=np.array([zone_low], np.float64),
        zone_high=np.array([zone_high], np.float64),
        detected_index=np.array([detected_index], np.int64),
        high=high,
        low=low,
        close=close,
        expiry_bars=expiry_bars,
    )
    return STATUS_NAMES[int(codes[0])], int(at[0])


class PatternDetector:
    """Find one pattern type causally in OHLC arrays and apply the shared filters.

    Subclasses set ``pattern_type`` and implement ``find_candidates``. Thresholds
    are constructor parameters with production defaults; ``find`` can override
    ``min_zone_pct`` per call (the backtester sweeps it).
    """

    pattern_type: str = ""

    def __init__(
        self,
        *,
        min_zone_pct: float = MIN_ZONE_PERCENT,
        overlap_threshold: float = OVERLAP_THRESHOLD,
        swing_length: int = DEFAULT_SWING_LENGTH,
        expiry_bars: int = DEFAULT_EXPIRY_BARS,
    ) -> None:
        if min_zone_pct < 0:
            raise ValueError(f"min_zone_pct must be >= 0, got {min_zone_pct}")
        if not 0 < overlap_threshold <= 1:
            raise ValueError(f"overlap_threshold must be in (0, 1], got {overlap_threshold}")
        if int(swing_length) < 1:
            raise ValueError(f"swing_length must be >= 1, got {swing_length}")
        if int(expiry_bars) < 1:
            raise ValueError(f"expiry_bars must be >= 1, got {expiry_bars}")
        self.min_zone_pct = float(min_zone_pct)
        self.overlap_threshold = float(overlap_threshold)
        self.swing_length = int(swing_length)
        self.expiry_bars = int(expiry_bars)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(min_zone_pct={self.min_zone_pct}, overlap_threshold={self.overlap_threshold}, "
            f"swing_length={self.swing_length}, expiry_bars={self.expiry_bars})"
        )

    def find_candidates(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> PatternArrays:
        """Return the raw, unfiltered patterns (implemented by each subclass)."""
        raise NotImplementedError

    def find(
        self,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        *,
        min_zone_pct: float | None = None,
        use_overlap: bool = True,
    ) -> PatternArrays:
        """Return candidates after the min-zone filter and (with ``use_overlap``) the overlap filter."""
        close = as_float_array(close)
        cands = self.find_candidates(as_float_array(open_), as_float_array(high), as_float_array(low), close)
        pct = self.min_zone_pct if min_zone_pct is None else float(min_zone_pct)
        found = cands.take(_min_zone_mask(cands.index, cands.zone_low, cands.zone_high, close, pct))
        if not use_overlap or len(found) == 0:
            return found
        keep = _overlap_mask(
            found.index,
            found.direction,
            found.zone_low,
            found.zone_high,
            close,
            self.overlap_threshold,
            self.expiry_bars,
        )
        return found.take(keep)

    def detect_historical(self, df: pd.DataFrame, skip_overlap: bool = False) -> list[dict]:
        """Return the patterns of a candle DataFrame as dicts, oldest first.

        Keys: pattern_type, direction ('bullish'|'bearish'), zone_low,
        zone_high, index (int position in df), detected_at (pd.Timestamp of
        that candle's open time).
        """
        found = self.find(
            df["open"].to_numpy(),
            df["high"].to_numpy(),
            df["low"].to_numpy(),
            df["close"].to_numpy(),
            use_overlap=not skip_overlap,
        )
        stamps = df.index[found.index]
        return [
            {
                "pattern_type": self.pattern_type,
                "direction": DIRECTION_NAMES[d],
                "zone_low": lo,
                "zone_high": hi,
                "index": i,
                "detected_at": ts,
            }
            for i, d, lo, hi, ts in zip(
                found.index.tolist(),
                found.direction.tolist(),
                found.zone_low.tolist(),
                found.zone_high.tolist(),
                stamps,
                strict=True,
            )
        ]
