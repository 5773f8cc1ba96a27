"""Trade levels for detected zones, shared by production and the backtester (pure: no Flask, no SQLAlchemy).

docs/design-rules.md#trade-levels-and-the-backtest, bullish (bearish mirrors every rule):

- entry: ``zone_edge`` = zone_high; ``zone_mid`` = (zone_low + zone_high) / 2;
  ``atr_buffer`` = zone_high + 0.1 x ATR(14) at the detection bar
  (bearish: zone_low - 0.1 x ATR).
- stop: zone_low - sl_buffer_pct / 100 x (zone_high - zone_low).
- risk R = entry - stop. target: ``fixed_rr`` = entry + rr_target x R;
  ``atr_multiple`` = entry + rr_target x ATR; ``swing_target`` = the nearest
  unbroken swing high at least 1R above entry (``level >= entry + R``), else
  the ``fixed_rr`` target.

Swing-target choice (documented): a swing high counts when it is confirmed at
or before the detection bar (pivot + swing_length <= index) and no high since
its pivot, up to and including the detection bar, traded strictly above it.
Unbroken swing highs form a stack whose levels never increase from oldest to
newest, so one numba pass over the bars keeps that stack and answers each
pattern with a binary search.

Every input used is at or before each pattern's index (no lookahead). Where
ATR is NaN at detection (fewer than 14 bars), atr-based methods give NaN for
entry, stop and target alike (the setup is skipped); a setup whose risk is not
positive (a zero-height zone with no stop buffer) is NaN too.

Production TP1/TP2/TP3 (``production_level_arrays`` / ``production_levels``): TP1 = entry + 1R; TP2 = the
target of the chosen ``tp_method`` with ``rr_target``; TP3 = the nearest
unbroken swing high strictly beyond TP2 (same swing rules as above), else
entry + 1.5 x (TP2 - entry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.indicators import swing_masks, wilder_atr
from app.core.jit import njit
from app.core.patterns.base import BULLISH, DEFAULT_SWING_LENGTH, PatternArrays, as_float_array, direction_code

ENTRY_METHODS = ("zone_edge", "zone_mid", "atr_buffer")
TP_METHODS = ("fixed_rr", "swing_target", "atr_multiple")
ATR_ENTRY_BUFFER = 0.1
TP3_EXTENSION = 1.5

DEFAULT_ENTRY_METHOD = "zone_edge"
DEFAULT_SL_BUFFER_PCT = 10.0
DEFAULT_TP_METHOD = "fixed_rr"
DEFAULT_RR_TARGET = 2.0


@dataclass(frozen=True)
class TradeLevels:
    """Hold entry, stop and target arrays, one row per pattern (NaN = no setup)."""

    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return int(self.entry.shape[0])


@dataclass(frozen=True)
class ProductionLevels:
    """Hold the published levels of one production setup."""

    entry: float
    stop_loss: float
    tp1: float
    tp2: float
    tp3: float

    def as_dict(self) -> dict[str, float]:
        """Return the levels as a plain dict."""
        return {"entry": self.entry, "stop_loss": self.stop_loss, "tp1": self.tp1, "tp2": self.tp2, "tp3": self.tp3}


@njit(cache=True)
def _nearest_swings(
    order, index, direction, threshold, strict, high, low, sh_mask, sl_mask, length
):  # pragma: no cover
    # Walk the bars once; `order` visits patterns by increasing index.
    m = order.shape[0]
    n = high.shape[0]
    out = np.full(m, np.nan)
    highs = np.empty(n, np.float64)  # unbroken swing highs, non-increasing bottom -> top
    n_highs = 0
    lows = np.empty(n, np.float64)  # unbroken swing lows, non-decreasing bottom -> top
    n_lows = 0
    p = 0
    for t in range(n):
        if p >= m:
            break
        while n_highs > 0 and highs[n_highs - 1] < high[t]:
            n_highs -= 1
        while n_lows > 0 and lows[n_lows - 1] > low[t]:
            n_lows -= 1
        j = t - length  # pivot confirmed at the close of bar t
        if j >= 0:
            if sh_mask[j]:
                while n_highs > 0 and highs[n_highs - 1] < high[j]:  # no-op by construction; keeps the order safe
                    n_highs -= 1
                highs[n_highs] = high[j]
                n_highs += 1
            if sl_mask[j]:
                while n_lows > 0 and lows[n_lows - 1] > low[j]:
                    n_lows -= 1
                lows[n_lows] = low[j]
                n_lows += 1
        while p < m and index[order[p]] == t:
            q = order[p]
            thr = threshold[q]
            if not np.isnan(thr):
                # Qualifying levels form a prefix of the stack (from its bottom); the answer is its last element.
                lo_i = 0
                hi_i = n_highs if direction[q] > 0 else n_lows
                while lo_i < hi_i:
                    mid = (lo_i + hi_i) // 2
                    if direction[q] > 0:
                        ok = highs[mid] > thr if strict else highs[mid] >= thr
                    else:
                        ok = lows[mid] < thr if strict else lows[mid] <= thr
                    if ok:
                        lo_i = mid + 1
                    else:
                        hi_i = mid
                if lo_i > 0:
                    out[q] = highs[lo_i - 1] if direction[q] > 0 else lows[lo_i - 1]
            p += 1
    return out


def nearest_swing_levels(
    *,
    patterns: PatternArrays,
    threshold: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    swing_length: int,
    strict: bool = False,
    swings: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Return, per pattern, the nearest unbroken confirmed swing at or beyond ``threshold`` (NaN if none).

    Bullish: the lowest unbroken swing high with level >= threshold (> when
    ``strict``); bearish: the highest unbroken swing low with level <=
    threshold (<). Swing rules as in the module docstring. Patterns may come
    in any order. ``swings``: ``swing_masks(high, low, swing_length)`` when the
    caller already has them (a grid asks for many targets on the same candles).
    """
    high = as_float_array(high)
    low = as_float_array(low)
    index = np.ascontiguousarray(patterns.index, dtype=np.int64)
    if len(index) and (index.min() < 0 or index.max() >= high.shape[0]):
        raise ValueError("pattern index out of range of the candle arrays")
    order = np.argsort(index, kind="stable").astype(np.int64)
    return _nearest_swings(
        order,
        index,
        np.ascontiguousarray(patterns.direction, dtype=np.int8),
        as_float_array(threshold),
        bool(strict),
        high,
        low,
        *(swings or swing_masks(high, low, swing_length)),
        int(swing_length),
    )


def validate_level_params(*, entry_method: str, sl_buffer_pct: float, tp_method: str, rr_target: float) -> None:
    """Raise ValueError naming the offending argument when a level parameter is invalid."""
    if entry_method not in ENTRY_METHODS:
        raise ValueError(f"entry_method must be one of {', '.join(ENTRY_METHODS)}; got {entry_method!r}")
    if tp_method not in TP_METHODS:
        raise ValueError(f"tp_method must be one of {', '.join(TP_METHODS)}; got {tp_method!r}")
    if not np.isfinite(rr_target) or rr_target <= 0:
        raise ValueError(f"rr_target must be > 0, got {rr_target!r}")
    if not np.isfinite(sl_buffer_pct) or sl_buffer_pct < 0:
        raise ValueError(f"sl_buffer_pct must be >= 0, got {sl_buffer_pct!r}")


def compute_levels(
    *,
    patterns: PatternArrays,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    entry_method: str,
    sl_buffer_pct: float,
    tp_method: str,
    rr_target: float,
    swing_length: int = DEFAULT_SWING_LENGTH,
    swings: tuple[np.ndarray, np.ndarray] | None = None,
    swing_cache: dict[bytes, np.ndarray] | None = None,
) -> TradeLevels:
    """Return entry, stop and target for every pattern (vectorized, no lookahead).

    ``atr`` is ``wilder_atr(high, low, close)`` computed once by the caller,
    ``swings`` (optional) ``swing_masks(high, low, swing_length)`` likewise.
    ``swing_cache`` (optional): a dict the caller keeps across calls on the
    same patterns and candles; the swing targets' nearest swings are kept in
    it by their 1R threshold, which does not depend on ``rr_target`` (a grid
    of five targets searches once). ``close`` is accepted for interface
    symmetry (no current rule reads it).
    """
    validate_level_params(
        entry_method=entry_method, sl_buffer_pct=sl_buffer_pct, tp_method=tp_method, rr_target=rr_target
    )
    if int(swing_length) < 1:
        raise ValueError(f"swing_length must be >= 1, got {swing_length}")
    idx = patterns.index
    bull = patterns.direction == BULLISH
    sign = np.where(bull, 1.0, -1.0)
    zl = patterns.zone_low
    zh = patterns.zone_high
    height = zh - zl
    near = np.where(bull, zh, zl)  # the edge price reaches first
    far = np.where(bull, zl, zh)
    atr_at = np.asarray(atr, dtype=np.float64)[idx] if len(idx) else np.empty(0)

    if entry_method == "zone_edge":
        entry = near.copy()
    elif entry_method == "zone_mid":
        entry = (zl + zh) / 2.0
    else:
        entry = near + sign * ATR_ENTRY_BUFFER * atr_at
    stop = far - sign * (sl_buffer_pct / 100.0) * height
    risk = sign * (entry - stop)
    fixed = entry + sign * rr_target * risk
    if tp_method == "fixed_rr":
        target = fixed
    elif tp_method == "atr_multiple":
        target = entry + sign * rr_target * atr_at
    else:
        threshold = entry + sign * risk
        cache = {} if swing_cache is None else swing_cache
        key = threshold.tobytes()
        if key not in cache:
            cache[key] = nearest_swing_levels(
                patterns=patterns, threshold=threshold, high=high, low=low, swing_length=swing_length, swings=swings
            )
        swing = cache[key]
        target = np.where(np.isnan(swing), fixed, swing)

    bad = ~(np.isfinite(entry) & np.isfinite(stop) & np.isfinite(target) & (risk > 0))
    if bad.any():
        entry = np.where(bad, np.nan, entry)
        stop = np.where(bad, np.nan, stop)
        target = np.where(bad, np.nan, target)
    return TradeLevels(entry=entry, stop=stop, target=target)


def production_level_arrays(
    *,
    patterns: PatternArrays,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray,
    entry_method: str = DEFAULT_ENTRY_METHOD,
    sl_buffer_pct: float = DEFAULT_SL_BUFFER_PCT,
    tp_method: str = DEFAULT_TP_METHOD,
    rr_target: float = DEFAULT_RR_TARGET,
    swing_length: int = DEFAULT_SWING_LENGTH,
) -> dict[str, np.ndarray]:
    """Return {'entry', 'stop_loss', 'tp1', 'tp2', 'tp3'} arrays, one row per pattern (vectorized).

    TP1 = entry + 1R; TP2 = the ``tp_method`` target with ``rr_target`` (the
    ``compute_levels`` target); TP3 = the nearest unbroken confirmed swing
    strictly beyond TP2 (same swing rules as ``swing_target``), else
    entry + 1.5 x (TP2 - entry). NaN in every field where the setup is skipped.
    """
    lv = compute_levels(
        patterns=patterns,
        high=high,
        low=low,
        close=close,
        atr=atr,
        entry_method=entry_method,
        sl_buffer_pct=sl_buffer_pct,
        tp_method=tp_method,
        rr_target=rr_target,
        swing_length=swing_length,
    )
    sign = np.where(patterns.direction == BULLISH, 1.0, -1.0)
    entry, stop, tp2 = lv.entry, lv.stop, lv.target
    tp1 = entry + sign * np.abs(entry - stop)
    beyond = nearest_swing_levels(
        patterns=patterns, threshold=tp2, high=high, low=low, swing_length=swing_length, strict=True
    )
    tp3 = np.where(np.isnan(beyond), entry + TP3_EXTENSION * (tp2 - entry), beyond)
    tp3 = np.where(np.isnan(entry), np.nan, tp3)
    return {"entry": entry, "stop_loss": stop, "tp1": tp1, "tp2": tp2, "tp3": tp3}


def production_levels(
    *,
    direction: int | str,
    zone_low: float,
    zone_high: float,
    index: int,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray | None = None,
    entry_method: str = DEFAULT_ENTRY_METHOD,
    sl_buffer_pct: float = DEFAULT_SL_BUFFER_PCT,
    tp_method: str = DEFAULT_TP_METHOD,
    rr_target: float = DEFAULT_RR_TARGET,
    swing_length: int = DEFAULT_SWING_LENGTH,
) -> ProductionLevels:
    """Return entry, stop_loss, TP1, TP2, TP3 of one pattern detected at bar ``index``.

    The one-pattern form of ``production_level_arrays`` (same rules).
    """
    high, low, close = as_float_array(high), as_float_array(low), as_float_array(close)
    one = PatternArrays(
        index=np.array([index], np.int64),
        direction=np.array([direction_code(direction)], np.int8),
        zone_low=np.array([zone_low], np.float64),
        zone_high=np.array([zone_high], np.float64),
    )
    levels = production_level_arrays(
        patterns=one,
        high=high,
        low=low,
        close=close,
        atr=wilder_atr(high, low, close) if atr is None else atr,
        entry_method=entry_method,
        sl_buffer_pct=sl_buffer_pct,
        tp_method=tp_method,
        rr_target=rr_target,
        swing_length=swing_length,
    )
    return ProductionLevels(**{name: float(values[0]) for name, values in levels.items()})
