"""Follow every published setup to its trade outcome: the production side of ``app.evaluation.outcomes``.

The scanners call ``register`` for each pattern or signal they publish (with
the resolved parameters that produced it: source, production set id,
parameters, the set's cost model) and follow with the candles they just
scanned: the hourly scan (``pattern_scanner.scan``, ``signal_scanner.scan_all``)
publishes every slice first and then follows them all at once
(``follow_scanned`` / ``follow_all``: three queries whatever the number of
slices); a single slice's scan (the replay, tests) runs ``follow_slice``, the
same code for one slice. Following updates only outcomes not closed yet (``waiting``,
``open``): a closed outcome is final, and the engine's rules look forward
from the detection bar only, so following on every new candle, in pieces, or
once over the whole history stores the same outcomes. Running a scan twice
changes nothing.

Levels are the published ones: a pattern keeps the levels it was stored
with (an open setup keeps them when the active set changes); a signal's
levels are read from its row on every pass (a pending signal gets its final
levels when it enters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from app.core.costs import TAKER, resolve_costs
from app.evaluation.backtest import DEFAULT_MAX_WAIT_BARS, market_arrays
from app.evaluation.outcomes import CLOSED, OPEN, WAITING, follow_setups
from app.extensions import db
from app.models import OptimizationJob, Pattern, ProductionParameterSet, SetupOutcome, Signal
from app.models._time import utcnow
from app.services.candles.candle_store import candle_positions
from app.strategies import get_strategy

FOLLOWED_STATES = (WAITING, OPEN)
PATTERN_KIND, SIGNAL_KIND = "pattern", "signal"
DIRECTION_SIGNS = {"bullish": 1, "long": 1, "bearish": -1, "short": -1}
SLICE_COLUMNS = (SetupOutcome.symbol, SetupOutcome.timeframe, SetupOutcome.strategy)
SliceKey = tuple[str, str, str]


def set_costs(set_id: int | None) -> dict[str, float]:
    """Return the cost model a production set was judged with (its job's), else the default preset."""
    if set_id is not None:
        job_id = db.session.scalar(select(ProductionParameterSet.job_id).where(ProductionParameterSet.id == set_id))
        job = db.session.get(OptimizationJob, job_id) if job_id is not None else None
        if job is not None:
            return resolve_costs(job.costs).as_dict()
    return resolve_costs(None).as_dict()


def register(setups: list[Pattern | Signal], *, resolved: Any, symbol: str, timeframe: str, strategy: str) -> int:
    """Add a ``waiting`` outcome for each newly published setup (flushed rows), with its provenance."""
    if not setups:
        return 0
    kind = PATTERN_KIND if isinstance(setups[0], Pattern) else SIGNAL_KIND
    known = set(
        db.session.scalars(
            select(SetupOutcome.setup_id).where(
                SetupOutcome.setup_kind == kind, SetupOutcome.setup_id.in_([s.id for s in setups])
            )
        )
    )
    costs = set_costs(resolved.set_id)
    entry_order = get_strategy(strategy).entry_order
    rows = [
        SetupOutcome(
            setup_kind=kind,
            setup_id=s.id,
            symbol_id=s.symbol_id,
            symbol=symbol,
            timeframe=timeframe,
            strategy=strategy,
            direction=DIRECTION_SIGNS[s.direction],
            detected_at=s.detected_at if kind == PATTERN_KIND else s.signal_at,
            params_source=str(resolved.source),
            parameter_set_id=resolved.set_id,
            params=dict(resolved.params),
            costs=costs,
            entry_order=entry_order,
            max_wait_bars=DEFAULT_MAX_WAIT_BARS,
            entry=s.entry,
            stop=s.stop_loss,
            target=s.tp2,
            state=WAITING,
        )
        for s in setups
        if s.id not in known
    ]
    db.session.add_all(rows)
    db.session.flush()
    return len(rows)


def follow_slice(*, symbol: str, timeframe: str, strategy: str, candles: pd.DataFrame) -> int:
    """Follow the slice's outcomes not closed yet over ``candles`` (its stored history); return how many changed."""
    key = (symbol, timeframe, strategy)
    return follow_all({key: candles})[key]


def follow_all(candles: Mapping[SliceKey, pd.DataFrame]) -> dict[SliceKey, int]:
    """Follow the outcomes not closed yet of every slice (symbol, timeframe, strategy) over its candles.

    Three queries whatever the number of slices (the followed rows, the
    one-position seeds, the entered signals' levels), then the same pure
    following per slice as ``follow_slice``; return how many changed per slice.
    """
    followed = _followed(list(candles))
    return {key: _follow_rows(followed.get(key, []), frame) for key, frame in candles.items()}


def follow_scanned(scanned: Mapping[SliceKey, tuple[Any, pd.DataFrame]]) -> None:
    """Follow the outcomes of every slice a scan published (``follow_all``), commit, count them in its report.

    ``scanned``: slice (symbol, timeframe, strategy) -> (its scan report, which has ``outcomes_changed``;
    the candles it scanned).
    """
    try:
        changed = follow_all({key: candles for key, (_, candles) in scanned.items()})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for key, (report, _) in scanned.items():
        report.outcomes_changed = changed[key]


def _follow_rows(rows: list[SetupOutcome], candles: pd.DataFrame) -> int:
    if not rows or candles.empty:
        return 0
    positions = candle_positions(candles, [r.detected_at for r in rows])
    # A setup whose detection candle is not stored (history pruned) cannot be followed: left as it is.
    pairs = [(r, int(k)) for r, k in zip(rows, positions.tolist(), strict=True) if k >= 0]
    if not pairs:
        return 0
    start = min(k for _, k in pairs)  # the engine looks forward only: a window from the oldest setup is exact
    market = market_arrays(candles.iloc[start:])
    by_order: dict[str, list] = {}
    for row, k in pairs:
        by_order.setdefault(row.entry_order, []).append((row, k - start))
    return sum(_follow_group(market, group, entry_order) for entry_order, group in by_order.items())


def _slice_of(row: SetupOutcome) -> SliceKey:
    return (row.symbol, row.timeframe, row.strategy)


def _in_scope(keys: list[SliceKey]) -> tuple:
    """A filter covering every slice of ``keys`` (and maybe more: callers keep only their slices)."""
    return tuple(column.in_(sorted({key[i] for key in keys})) for i, column in enumerate(SLICE_COLUMNS))


def _slice_filter(key: SliceKey) -> tuple:
    return tuple(column == value for column, value in zip(SLICE_COLUMNS, key, strict=True))


def _followed(keys: list[SliceKey]) -> dict[SliceKey, list[SetupOutcome]]:
    """The followed rows of each slice in detection order, after the one-position seed of a taker strategy."""
    if not keys:
        return {}
    wanted = set(keys)
    rows: dict[SliceKey, list[SetupOutcome]] = {}
    query = (
        select(SetupOutcome)
        .where(*_in_scope(keys), SetupOutcome.state.in_(FOLLOWED_STATES))
        .order_by(SetupOutcome.detected_at, SetupOutcome.id)
    )
    for row in db.session.scalars(query):
        if _slice_of(row) in wanted:
            rows.setdefault(_slice_of(row), []).append(row)
    for key, seed in _seeds(rows).items():
        rows[key].insert(0, seed)
    _refresh_signal_levels(
        [r for group in rows.values() for r in group if r.setup_kind == SIGNAL_KIND and r.state == WAITING]
    )
    return rows


def _seeds(rows: dict[SliceKey, list[SetupOutcome]]) -> dict[SliceKey, SetupOutcome]:
    """One position at a time: a taker slice's walk starts from its last trade closed before its oldest followed one
    (that trade's exit frees the position)."""
    firsts = {key: group[0].detected_at for key, group in rows.items() if get_strategy(key[2]).entry_order == TAKER}
    if not firsts:
        return {}
    newest_before = [
        select(SetupOutcome.id)
        .where(*_slice_filter(key), SetupOutcome.state == CLOSED, SetupOutcome.detected_at < first)
        .order_by(SetupOutcome.detected_at.desc(), SetupOutcome.id.desc())
        .limit(1)
        .scalar_subquery()
        for key, first in firsts.items()
    ]
    seeds = db.session.scalars(select(SetupOutcome).where(SetupOutcome.id.in_(newest_before)))
    return {_slice_of(seed): seed for seed in seeds}


def _refresh_signal_levels(rows: list[SetupOutcome]) -> None:
    if not rows:
        return
    signals = {s.id: s for s in db.session.scalars(select(Signal).where(Signal.id.in_([r.setup_id for r in rows])))}
    for row in rows:
        signal = signals.get(row.setup_id)
        if signal is not None and signal.status == "entered":
            row.entry, row.stop, row.target = signal.entry, signal.stop_loss, signal.tp2


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _follow_group(market, group: list[tuple[SetupOutcome, int]], entry_order: str) -> int:
    first = group[0][0]
    followed = follow_setups(
        market,
        index=np.array([k for _, k in group], np.int64),
        direction=np.array([r.direction for r, _ in group], np.int8),
        entry=np.array([_nan(r.entry) for r, _ in group]),
        stop=np.array([_nan(r.stop) for r, _ in group]),
        target=np.array([_nan(r.target) for r, _ in group]),
        entry_order=entry_order,
        costs=resolve_costs(first.costs),
        max_wait_bars=first.max_wait_bars,
    )
    changed = 0
    for j, (row, _) in enumerate(group):
        if row.state == CLOSED:  # the one-position seed: final already
            continue
        values = _stored_values(followed.record(j, market.time_ns))
        if any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            changed += 1
    return changed


def _stored_values(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": record["state"],
        "filled_at": _when(record["filled_at_ns"]),
        "exited_at": _when(record["exited_at_ns"]),
        "exit_price": record["exit_price"],
        "exit_reason": record["exit_reason"],
        "r_multiple": record["r_multiple"],
        "bars_held": record["bars_held"],
    }


def _when(ns: int | None) -> datetime | None:
    return None if ns is None else pd.Timestamp(ns, unit="ns").to_pydatetime()
