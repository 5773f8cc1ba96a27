"""Keep the ``signals`` table current: the production side of the indicator strategies.

``scan_signals`` runs a strategy's ``setups`` (the same causal code the
backtester and the optimizer use) over a slice's stored history with the
production parameters of that slice, and publishes each signal with its
levels: entry, stop, TP1 = entry + 1R, TP2 = the strategy's target, TP3 =
entry + 1.5 x (TP2 - entry) (the pattern rule when no swing lies beyond).

A signal on the newest candle is ``pending``: its market order fills at the
next open, which nobody knows yet, so its levels are indicative (computed as
if it filled at the last close, ``indicator_base.pending_levels``). The next
scan, once that candle opened, makes it ``entered`` with the final levels.
Running a scan twice on the same candles changes nothing.

Parameters: the production set's, by regime (``production_params.production_by_regime``,
docs/outcomes.md#trading-by-regime): a signal is published with the parameters
of the regime at its own signal candle (the set's own set for that regime,
else the base); the candidates of all of them are followed through the one
position walk together (``tracker.follow_slice``). A set without regime sets
detects once with its parameters.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from app.core.levels import TP3_EXTENSION
from app.core.regimes import regime_codes
from app.evaluation.backtest import market_arrays
from app.extensions import db
from app.models import Signal
from app.services.candles.candle_store import candles_until, find_symbol, load_candles
from app.services.outcomes import tracker
from app.services.params.production_params import ProductionTimeline, production_by_regime
from app.services.scanning.stored_setups import StoredSignals, naive_utc
from app.strategies import INDICATOR, get_strategy, strategy_names
from app.strategies.indicator_base import pending_levels

logger = logging.getLogger(__name__)
DIRECTIONS = {1: "long", -1: "short"}
DIRECTION_CODES = {name: code for code, name in DIRECTIONS.items()}


@dataclass
class SignalScan:
    """What one scan of one (symbol, timeframe, strategy) did."""

    symbol: str
    timeframe: str
    strategy: str
    candles: int = 0
    new_by_direction: Counter = field(default_factory=Counter)
    entered: int = 0
    outcomes_changed: int = 0


def scan_signals(
    *,
    symbol: str,
    timeframe: str,
    strategy: str,
    until: datetime | None = None,
    history: pd.DataFrame | None = None,
    follow: bool = True,
    regimes: np.ndarray | None = None,
    timeline: ProductionTimeline | None = None,
    stored: StoredSignals | None = None,
) -> SignalScan:
    """Publish the signals of one slice with the production parameters; return what changed.

    ``until`` (naive UTC, the history replay): see only the candles opened up
    to then and trade the set active then; None (live): every stored candle, the active set.
    ``history``: the slice's stored candles loaded once by the caller (the replay), else read here.
    ``follow=False``: publish only; the caller follows the slice's outcomes (``tracker.follow_all``, the whole scan).
    ``regimes``: the per-bar regime codes of ``history`` when the caller has them (the replay), else computed here.
    ``timeline``: the slice's production sets over time as the caller keeps them (the replay,
    ``ProductionTimeline``), else resolved here.
    ``stored``: the slice's stored identities and pending signals as the caller keeps them across scans (the
    replay, ``StoredSignals``), else read here.
    """
    report = SignalScan(symbol=symbol, timeframe=timeframe, strategy=strategy)
    symbol_row = find_symbol(symbol)
    candles = candles_until(symbol, timeframe, until=until, history=history)
    report.candles = len(candles)
    if candles.empty:
        return report
    by_regime = (
        timeline.by_regime(until)
        if timeline is not None
        else production_by_regime(symbol=symbol, timeframe=timeframe, strategy=strategy, as_of=until)
    )
    codes = regime_codes(candles, known=regimes) if len(by_regime) > 1 else None
    market = market_arrays(candles)
    slice_filter = (Signal.symbol_id == symbol_row.id, Signal.timeframe == timeframe, Signal.strategy == strategy)
    stored = stored if stored is not None else StoredSignals(DIRECTION_CODES)
    stored.load(slice_filter)
    try:
        slice_key = {"symbol": symbol, "timeframe": timeframe, "strategy": strategy}
        for resolved, group in by_regime:
            levels = _levels(market, get_strategy(strategy).setups(market, resolved.params), resolved.params)
            if codes is not None:  # only the signals whose detection bar's regime trades these parameters
                chosen = group.trades_at(codes, levels["index"])
                levels = {name: values[chosen] for name, values in levels.items()}
            published = _publish(symbol_row, timeframe, strategy, candles, levels, stored=stored, report=report)
            tracker.register(published, resolved=resolved, **slice_key)
        if follow:
            report.outcomes_changed = tracker.follow_slice(**slice_key, candles=candles)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def _publish(symbol_row, timeframe, strategy, candles, levels, *, stored: StoredSignals, report) -> list[Signal]:
    """Store the signals of ``levels`` not stored yet, make stored pending ones entered; return the new ones."""
    stamps = candles.index[levels["index"]].as_unit("ns").asi8
    codes = levels["direction"]
    waiting = np.zeros(len(codes), np.bool_)
    for code, ns in stored.pending:
        waiting |= (codes == code) & (stamps == ns)
    # Most of the history is stored and entered already: only new and still pending signals are read further.
    candidates = np.flatnonzero(~stored.identities.contains(codes, stamps) | waiting)
    signal_at = naive_utc(candles.index[levels["index"][candidates]])
    published, changed = [], []
    for k, when in zip(candidates.tolist(), signal_at, strict=True):
        values = {name: float(levels[name][k]) for name in ("entry", "stop_loss", "tp1", "tp2", "tp3")}
        status = "pending" if levels["pending"][k] else "entered"
        direction = DIRECTIONS[int(codes[k])]
        if not waiting[k]:
            signal = Signal(
                symbol_id=symbol_row.id,
                timeframe=timeframe,
                strategy=strategy,
                direction=direction,
                signal_at=when,
                status=status,
                **values,
            )
            db.session.add(signal)
            published.append(signal)
            changed.append(signal)
            report.new_by_direction[direction] += 1
        elif status == "entered":
            signal = stored.pending[(int(codes[k]), int(stamps[k]))]
            signal.status = status
            for name, value in values.items():
                setattr(signal, name, value)
            changed.append(signal)
            report.entered += 1
    db.session.flush()
    stored.published(changed)
    return published


def _levels(market, setups, params) -> dict[str, np.ndarray]:
    """Return the publishable signals and their levels; the newest candle's signal gets indicative levels."""
    entry, stop, target = (setups.entry.copy(), setups.stop.copy(), setups.target.copy())
    pending = np.zeros(len(setups), np.bool_)
    last = len(market) - 1
    for k in np.flatnonzero((setups.index == last) & np.isnan(entry)):
        guess = pending_levels(
            market, index=last, direction=int(setups.direction[k]), entry=float(market.close[last]), params=params
        )
        entry[k], stop[k], target[k], pending[k] = guess["entry"], guess["stop"], guess["target"], True
    usable = np.isfinite(entry) & np.isfinite(stop) & np.isfinite(target)
    entry, stop, target = entry[usable], stop[usable], target[usable]
    sign = np.sign(target - entry)
    return {
        "index": setups.index[usable],
        "direction": setups.direction[usable],
        "pending": pending[usable],
        "entry": entry,
        "stop_loss": stop,
        "tp1": entry + sign * np.abs(entry - stop),
        "tp2": target,
        "tp3": entry + TP3_EXTENSION * (target - entry),
    }


def scan_all(*, symbols: list[str], timeframes: list[str]) -> list[SignalScan]:
    """Scan every indicator strategy over the given symbols and timeframes (the hourly scan's second half)."""
    reports, scanned = [], {}
    for symbol in symbols:
        for timeframe in timeframes:
            history = load_candles(symbol, timeframe)  # once for every strategy of the slice
            for strategy in strategy_names(INDICATOR):
                report = scan_signals(
                    symbol=symbol, timeframe=timeframe, strategy=strategy, history=history, follow=False
                )
                scanned[(symbol, timeframe, strategy)] = (report, history)
                if report.candles:
                    reports.append(report)
                    logger.info(
                        "signals %s %s %s over %d candles: %d new long, %d new short, %d entered",
                        symbol,
                        timeframe,
                        strategy,
                        report.candles,
                        report.new_by_direction["long"],
                        report.new_by_direction["short"],
                        report.entered,
                    )
    tracker.follow_scanned(scanned)
    return reports
