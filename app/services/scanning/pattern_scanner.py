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
from sqlalchemy import inspect, or_, select
from sqlalchemy.orm.util import identity_key

from app.core.indicators import wilder_atr
from app.core.levels import production_level_arrays
from app.core.patterns import STATUS_NAMES, PatternArrays, get_detector, zone_statuses
from app.core.patterns.base import DIRECTION_CODES, DIRECTION_NAMES, PatternDetector
from app.core.regimes import regime_codes
from app.extensions import db
from app.models import Pattern, Symbol
from app.services.candles.candle_store import (
    candle_positions,
    candles_until,
    check_timeframe,
    find_symbol,
    load_candles,
)
from app.services.outcomes import tracker
from app.services.params.production_params import production_by_regime
from app.strategies import PATTERN, strategy_names

FINAL_STATUSES = ("invalidated", "expired")

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


def _naive_utc(stamps: pd.DatetimeIndex) -> list:
    return list(stamps.tz_convert("UTC").tz_localize(None).to_pydatetime())


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
    known: set[tuple] | None = None,
) -> tuple[list[Pattern], SliceScan]:
    """``scan_detector`` that also returns what the scan did (the history replay's counts).

    ``follow=False``: publish only; the caller follows the slice's outcomes (``tracker.follow_all``, the whole scan).
    ``regimes``: the per-bar regime codes of ``history`` when the caller has them (the replay), else computed here.
    ``known``: the identities (direction, detection candle) of every stored pattern of the slice when the caller
    keeps them (the replay, updated after each scan), else read here.
    """
    report = SliceScan(symbol=symbol, timeframe=timeframe, pattern_type=detector.pattern_type)
    symbol_row = find_symbol(symbol)
    candles = candles_until(symbol, timeframe, until=until, history=history)
    report.candles = len(candles)
    if candles.empty:
        return [], report
    by_regime = production_by_regime(symbol=symbol, timeframe=timeframe, strategy=detector.pattern_type, as_of=until)
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
    # Identities of everything stored (light tuples), ORM objects only for patterns still followed.
    if known is None:
        known = set(map(tuple, db.session.execute(select(Pattern.direction, Pattern.detected_at).where(*slice_filter))))
    open_stored = _open_stored(slice_filter, until)
    try:
        if until is not None:
            # The replay: the overlap guard sees each zone's status as of ``until``, not as a later step left it.
            _update_statuses(detector, candles, open_stored, report)
        slice_key = {"symbol": symbol, "timeframe": timeframe, "strategy": detector.pattern_type}
        new = []
        for resolved, found in detections:
            stored = _store_new(
                detector, symbol_row, timeframe, candles, found, known, open_stored, resolved.params, report
            )
            tracker.register(stored, resolved=resolved, **slice_key)
            new.extend(stored)
        # The replay's stored zones are up to date already (the same candles): only the new ones are left.
        _update_statuses(detector, candles, new if until is not None else [*open_stored, *new], report)
        if follow:
            report.outcomes_changed = tracker.follow_slice(**slice_key, candles=candles)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return new, report


def _open_stored(slice_filter: tuple, until: datetime | None) -> list[Pattern]:
    """The stored patterns still followed; with ``until`` (the replay) the ones followed then.

    A replay run again finds rows a later step stored or closed: a pattern
    detected after ``until`` was not known then, one closed after it was still followed.
    """
    still_open = Pattern.status.not_in(FINAL_STATUSES)
    if until is None:
        return _patterns(select(Pattern.id).where(*slice_filter, still_open))
    followed_then = or_(still_open, Pattern.status_changed_at > until)
    return _patterns(select(Pattern.id).where(*slice_filter, Pattern.detected_at <= until, followed_then))


def _patterns(ids_query, chunk: int = 500) -> list[Pattern]:
    """The patterns of ``ids_query`` (their ids) in id order: the ones the session holds loaded (the replay keeps
    them, ``replay._rows_kept``) taken from it, the others loaded in one query per ``chunk`` ids."""
    session = db.session()
    rows, missing = {}, []
    for pattern_id in db.session.scalars(ids_query):
        held = session.identity_map.get(identity_key(Pattern, pattern_id))
        if held is not None and not inspect(held).expired_attributes:
            rows[pattern_id] = held
        else:
            missing.append(pattern_id)
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        rows.update((p.id, p) for p in db.session.scalars(select(Pattern).where(Pattern.id.in_(part))))
    return [rows[pattern_id] for pattern_id in sorted(rows)]


def _store_new(detector, symbol_row, timeframe, candles, found, known, open_stored, params, report) -> list[Pattern]:
    fresh = _not_stored(candles, found, known)
    detected_at = dict(zip(fresh, _naive_utc(candles.index[found.index[fresh]]), strict=True))
    active = [p for p in open_stored if p.status == "active"]
    keep = [i for i in fresh if not _overlaps_active(detector, found, i, detected_at[i], active)]
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
    for row, i in enumerate(keep):
        pattern = Pattern(
            symbol_id=symbol_row.id,
            timeframe=timeframe,
            pattern_type=detector.pattern_type,
            direction=DIRECTION_NAMES[int(found.direction[i])],
            zone_low=float(found.zone_low[i]),
            zone_high=float(found.zone_high[i]),
            detected_at=detected_at[i],
            status="active",
            **{name: _finite_or_none(values[row]) for name, values in levels.items()},
        )
        report.new_by_direction[pattern.direction] += 1
        new.append(pattern)
    db.session.add_all(new)
    db.session.flush()
    return new


def _not_stored(candles: pd.DataFrame, found: PatternArrays, known: set[tuple]) -> list[int]:
    """Positions in ``found`` of the patterns not stored yet (identity: direction, detection candle), by one
    vectorized lookup per direction."""
    stamps = candles.index[found.index].as_unit("ns").asi8
    fresh = np.ones(len(found), np.bool_)
    for code, name in DIRECTION_NAMES.items():
        stored = pd.DatetimeIndex([at for direction, at in known if direction == name]).as_unit("ns").asi8
        mine = found.direction == code
        fresh[mine] = ~np.isin(stamps[mine], stored)
    return np.flatnonzero(fresh).tolist()


def _overlaps_active(detector, found: PatternArrays, i: int, detected_at, active: list[Pattern]) -> bool:
    low, high = float(found.zone_low[i]), float(found.zone_high[i])
    direction = DIRECTION_NAMES[int(found.direction[i])]
    height = high - low
    for other in active:
        if other.direction != direction or other.detected_at >= detected_at:
            continue
        overlap = min(high, other.zone_high) - max(low, other.zone_low)
        if height > 0 and overlap >= detector.overlap_threshold * height:
            return True
    return False


def _update_statuses(detector, candles: pd.DataFrame, patterns: list[Pattern], report: SliceScan) -> None:
    if not patterns:
        return
    positions = candle_positions(candles, [p.detected_at for p in patterns])
    # A pattern whose candle is no longer stored cannot be followed; leave it as it is.
    followable = [(p, int(k)) for p, k in zip(patterns, positions.tolist(), strict=True) if k >= 0]
    if not followable:
        return
    codes, at = zone_statuses(
        direction=np.array([DIRECTION_CODES[p.direction] for p, _ in followable], np.int8),
        zone_low=np.array([p.zone_low for p, _ in followable]),
        zone_high=np.array([p.zone_high for p, _ in followable]),
        detected_index=np.array([k for _, k in followable], np.int64),
        high=candles["high"].to_numpy(),
        low=candles["low"].to_numpy(),
        close=candles["close"].to_numpy(),
        expiry_bars=detector.expiry_bars,
    )
    for (pattern, _), code, bar in zip(followable, codes.tolist(), at.tolist(), strict=True):
        status = STATUS_NAMES[code]
        if status != pattern.status:
            pattern.status = status
            pattern.status_changed_at = _naive_utc(candles.index[[min(bar, len(candles) - 1)]])[0]
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
