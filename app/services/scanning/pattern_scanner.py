"""Keep the ``patterns`` table current: the production side of every detector.

``scan_detector`` runs a detector's finding code (the same ``find`` the
backtester uses) over a slice's whole stored history, so production sees
exactly the patterns a backtest of the same candles sees. It then

1. stores the patterns not stored yet (identity: slice, type, direction and
   detection candle), with their production trade levels, dropping any that
   overlap an ACTIVE stored pattern of the same type and direction by the
   detector's overlap threshold (a guard for patterns stored under other
   parameters or from older history);
2. moves stored patterns to ``mitigated`` / ``invalidated`` / ``expired`` as
   price reaches them (``zone_statuses`` rules; invalidated and expired are
   final, a mitigated zone can still be invalidated).

Parameters: the production set's, by regime (``production_params.production_by_regime``,
docs/outcomes.md#trading-by-regime): a pattern is stored with the parameters
of the regime at its own detection candle (the set's own set for that regime,
else the base), so what a scan stores does not depend on when scans ran. A
set without regime sets detects once with its parameters.

Running it twice on the same candles changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from flask import current_app
from sqlalchemy import select

from app.core.indicators import wilder_atr
from app.core.levels import production_level_arrays
from app.core.patterns import STATUS_NAMES, PatternArrays, get_detector, zone_statuses
from app.core.patterns.base import DIRECTION_NAMES, STATUS_ACTIVE, PatternDetector
from app.core.regimes import regime_codes
from app.extensions import db
from app.models import Pattern, Symbol
from app.services.candles.candle_store import (
    candles_until,
    check_timeframe,
    find_symbol,
    load_candles,
    stamp_positions,
)
from app.services.outcomes import tracker
from app.services.params.production_params import ProductionTimeline, production_by_regime
from app.services.scanning.stored_setups import StoredZones, naive_utc
from app.strategies import PATTERN, strategy_names

logger = logging.getLogger(__name__)


@dataclass
class SliceScan:
    """What one scan of one (symbol, timeframe, pattern_type) did."""

    symbol: str
    timeframe: str
    pattern_type: str
    candles: int = 0
    new_by_direction: Counter = field(default_factory=Counter)
    status_changes: Counter = field(default_factory=Counter)
    skipped_overlap: int = 0
    outcomes_changed: int = 0


def scan_detector(
    detector: PatternDetector,
    *,
    symbol: str,
    timeframe: str,
    until: datetime | None = None,
    history: pd.DataFrame | None = None,
) -> list[Pattern]:
    """Detect, persist and update patterns of one slice; return the newly stored ones.

    ``until`` (naive UTC, the history replay): see only the candles opened up
    to then and trade the set active then; None (live): every stored candle, the active set.
    ``history``: the slice's stored candles loaded once by the caller (the replay), else read here.
    """
    return scan_slice(detector, symbol=symbol, timeframe=timeframe, until=until, history=history)[0]


def scan_slice(
    detector: PatternDetector,
    *,
    symbol: str,
    timeframe: str,
    until: datetime | None = None,
    history: pd.DataFrame | None = None,
    follow: bool = True,
    regimes: np.ndarray | None = None,
    timeline: ProductionTimeline | None = None,
    stored: StoredZones | None = None,
) -> tuple[list[Pattern], SliceScan]:
    """``scan_detector`` that also returns what the scan did (the history replay's counts).

    ``follow=False``: publish only; the caller follows the slice's outcomes (``tracker.follow_all``, the whole scan).
    ``regimes``: the per-bar regime codes of ``history`` when the caller has them (the replay), else computed here.
    ``timeline``: the slice's production sets over time as the caller keeps them (the replay,
    ``ProductionTimeline``), else resolved here.
    ``stored``: the slice's stored identities and followed zones as the caller keeps them across scans going
    forward in time (the replay, ``StoredZones``), else read here.
    """
    report = SliceScan(symbol=symbol, timeframe=timeframe, pattern_type=detector.pattern_type)
    symbol_row = find_symbol(symbol)
    candles = candles_until(symbol, timeframe, until=until, history=history)
    report.candles = len(candles)
    if candles.empty:
        return [], report
    by_regime = (
        timeline.by_regime(until)
        if timeline is not None
        else production_by_regime(symbol=symbol, timeframe=timeframe, strategy=detector.pattern_type, as_of=until)
    )
    codes = regime_codes(candles, known=regimes) if len(by_regime) > 1 else None
    o, h, lo, c = (candles[col].to_numpy() for col in ("open", "high", "low", "close"))
    detections = []
    for resolved, group in by_regime:
        params = resolved.params
        found = detector.find(o, h, lo, c, min_zone_pct=params["min_zone_pct"], use_overlap=params["use_overlap"])
        if codes is not None:  # only the setups whose detection bar's regime trades these parameters
            found = found.take(group.trades_at(codes, found.index))
        detections.append((resolved, found))
    slice_filter = (
        Pattern.symbol_id == symbol_row.id,
        Pattern.timeframe == timeframe,
        Pattern.pattern_type == detector.pattern_type,
    )
    zones = stored if stored is not None else StoredZones()
    zones.load(slice_filter, until)
    followed = zones.followed(until)
    try:
        if until is not None:
            # The replay: the overlap guard sees each zone's status as of ``until``, not as a later step left it.
            _update_statuses(detector, candles, zones, followed, report)
        slice_key = {"symbol": symbol, "timeframe": timeframe, "strategy": detector.pattern_type}
        new = []
        for resolved, found in detections:
            stored = _store_new(
                detector,
                found,
                symbol_row=symbol_row,
                timeframe=timeframe,
                candles=candles,
                zones=zones,
                followed=followed,
                params=resolved.params,
                report=report,
            )
            tracker.register(stored, resolved=resolved, **slice_key)
            new.extend(stored)
        added = zones.add(new)
        # The replay's stored zones are up to date already (the same candles): only the new ones are left.
        _update_statuses(detector, candles, zones, added if until is not None else np.append(followed, added), report)
        if follow:
            report.outcomes_changed = tracker.follow_slice(**slice_key, candles=candles)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return new, report


def _store_new(
    detector, found, *, symbol_row, timeframe, candles, zones: StoredZones, followed: np.ndarray, params, report
) -> list[Pattern]:
    """Store the zones of ``found`` not stored yet that overlap no active followed zone; return them, flushed."""
    stamps = candles.index[found.index].as_unit("ns").asi8
    fresh = np.flatnonzero(~zones.identities.contains(found.direction, stamps)).tolist()
    active = followed[zones.status[followed] == STATUS_ACTIVE]
    keep = [i for i in fresh if not _overlaps_active(detector, found, i, stamps[i], zones, active)]
    report.skipped_overlap += len(fresh) - len(keep)
    if not keep:
        return []
    chosen = found.take(np.asarray(keep, dtype=np.int64))
    h, lo, c = (candles[col].to_numpy() for col in ("high", "low", "close"))
    levels = production_level_arrays(
        patterns=chosen,
        high=h,
        low=lo,
        close=c,
        atr=wilder_atr(h, lo, c),
        entry_method=params["entry_method"],
        sl_buffer_pct=params["sl_buffer_pct"],
        tp_method=params["tp_method"],
        rr_target=params["rr_target"],
        swing_length=detector.swing_length,
    )
    new = []
    for row, (i, detected_at) in enumerate(zip(keep, naive_utc(candles.index[found.index[keep]]), strict=True)):
        pattern = Pattern(
            symbol_id=symbol_row.id,
            timeframe=timeframe,
            pattern_type=detector.pattern_type,
            direction=DIRECTION_NAMES[int(found.direction[i])],
            zone_low=float(found.zone_low[i]),
            zone_high=float(found.zone_high[i]),
            detected_at=detected_at,
            status="active",
            **{name: _finite_or_none(values[row]) for name, values in levels.items()},
        )
        report.new_by_direction[pattern.direction] += 1
        new.append(pattern)
    db.session.add_all(new)
    db.session.flush()
    return new


def _overlaps_active(
    detector, found: PatternArrays, i: int, detected_ns: int, zones: StoredZones, active: np.ndarray
) -> bool:
    """Whether zone ``i`` of ``found`` overlaps an active stored zone (positions ``active``) of its direction detected
    before it by the detector's threshold of its height."""
    low, high = float(found.zone_low[i]), float(found.zone_high[i])
    height = high - low
    if not height > 0:
        return False
    mine = active[(zones.direction[active] == found.direction[i]) & (zones.detected_ns[active] < detected_ns)]
    overlap = np.minimum(high, zones.zone_high[mine]) - np.maximum(low, zones.zone_low[mine])
    return bool(np.any(overlap >= detector.overlap_threshold * height))


def _update_statuses(detector, candles: pd.DataFrame, zones: StoredZones, members: np.ndarray, report) -> None:
    """Move the zones at ``members`` to the status ``zone_statuses`` gives them over ``candles``."""
    positions = stamp_positions(candles, zones.detected_ns[members])
    # A pattern whose candle is no longer stored cannot be followed; leave it as it is.
    followable = positions >= 0
    members, positions = members[followable], positions[followable]
    if not len(members):
        return
    codes, at = zone_statuses(
        direction=zones.direction[members],
        zone_low=zones.zone_low[members],
        zone_high=zones.zone_high[members],
        detected_index=positions,
        high=candles["high"].to_numpy(),
        low=candles["low"].to_numpy(),
        close=candles["close"].to_numpy(),
        expiry_bars=detector.expiry_bars,
    )
    changed = np.flatnonzero(codes != zones.status[members])
    stamps = candles.index.as_unit("ns").asi8[np.minimum(at[changed], len(candles) - 1)]
    for j, ns in zip(changed.tolist(), stamps.tolist(), strict=True):
        status = STATUS_NAMES[int(codes[j])]
        zones.set_status(int(members[j]), status, changed_ns=ns)
        report.status_changes[status] += 1


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def scan_scope(*, symbol: str | None = None, timeframe: str | None = None) -> tuple[list[str], list[str]]:
    """Return the (symbols, timeframes) a scan covers: the ones named, else every active symbol x SCAN_TIMEFRAMES."""
    symbols = (
        [symbol]
        if symbol
        else list(db.session.scalars(select(Symbol.name).where(Symbol.is_active.is_(True)).order_by(Symbol.name)))
    )
    timeframes = [timeframe] if timeframe else list(current_app.config["SCAN_TIMEFRAMES"])
    for tf in timeframes:
        check_timeframe(tf)  # an unknown timeframe is named, not reported as "no candles"
    if symbol:
        find_symbol(symbol)
    return symbols, timeframes


def scan(
    *, symbol: str | None = None, timeframe: str | None = None, fetch: bool = False, log=lambda message: None
) -> list[SliceScan]:
    """Scan every active symbol x configured timeframe x pattern type (or the ones named).

    With ``fetch``, the latest closed candles are pulled through ccxt first
    (resuming from the last stored candle of each slice).
    """
    symbols, timeframes = scan_scope(symbol=symbol, timeframe=timeframe)
    reports, scanned = [], {}
    for name in symbols:
        for tf in timeframes:
            if fetch:
                _fetch_latest(name, tf, log)
            history = load_candles(name, tf)  # once for every pattern type of the slice
            for pattern_type in strategy_names(PATTERN):
                _, report = scan_slice(
                    get_detector(pattern_type), symbol=name, timeframe=tf, history=history, follow=False
                )
                scanned[(name, tf, pattern_type)] = (report, history)
                if report.candles or (symbol and timeframe):
                    reports.append(report)
                if report.candles:
                    logger.info(
                        "scanned %s %s %s over %d candles: %d new bullish, %d new bearish, status changes %s",
                        name,
                        tf,
                        pattern_type,
                        report.candles,
                        report.new_by_direction["bullish"],
                        report.new_by_direction["bearish"],
                        dict(report.status_changes) or "none",
                    )
    tracker.follow_scanned(scanned)
    logger.info(
        "pattern scan done: %d symbol(s) x %d timeframe(s), %d new patterns",
        len(symbols),
        len(timeframes),
        sum(sum(r.new_by_direction.values()) for r in reports),
    )
    return reports


def _fetch_latest(symbol: str, timeframe: str, log) -> None:
    from app.services.candles.candle_fetcher import fetch_candles, make_exchange

    exchange_name = find_symbol(symbol).exchange
    result = fetch_candles(make_exchange(exchange_name), symbol=symbol, timeframe=timeframe)
    log(f"fetched {symbol} {timeframe} from {exchange_name}: {result.inserted} new candles, newest {result.last}")
