"""Follow every published setup to its trade outcome: the production side of ``app.evaluation.outcomes``.

The scanners call ``register`` for each pattern or signal they publish (with
the resolved parameters that produced it: source, production set id,
parameters, the set's cost model) and ``follow_slice`` with the candles they
just scanned. Following updates only outcomes not closed yet (``waiting``,
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
from app.strategies import get_strategy

FOLLOWED_STATES = (WAITING, OPEN)
PATTERN_KIND, SIGNAL_KIND = "pattern", "signal"
DIRECTION_SIGNS = {"bullish": 1, "long": 1, "bearish": -1, "short": -1}


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
    rows = _followed(symbol, timeframe, strategy)
    if not rows or candles.empty:
        return 0
    stamps = candles.index.tz_convert("UTC").tz_localize(None)
    positions = stamps.searchsorted([r.detected_at for r in rows])
    # A setup whose detection candle is not stored (history pruned) cannot be followed: left as it is.
    pairs = [
        (r, int(k)) for r, k in zip(rows, positions, strict=True) if k < len(stamps) and stamps[k] == r.detected_at
    ]
    if not pairs:
        return 0
    start = min(k for _, k in pairs)  # the engine looks forward only: a window from the oldest setup is exact
    window = candles.iloc[start:]
    market = market_arrays(window)
    changed = 0
    by_order: dict[str, list] = {}
    for row, k in pairs:
        by_order.setdefault(row.entry_order, []).append((row, k - start))
    for entry_order, group in by_order.items():
        changed += _follow_group(market, group, entry_order)
    return changed


def _followed(symbol: str, timeframe: str, strategy: str) -> list[SetupOutcome]:
    where = (SetupOutcome.symbol == symbol, SetupOutcome.timeframe == timeframe, SetupOutcome.strategy == strategy)
    rows = list(
        db.session.scalars(
            select(SetupOutcome)
            .where(*where, SetupOutcome.state.in_(FOLLOWED_STATES))
            .order_by(SetupOutcome.detected_at)
        )
    )
    if rows and get_strategy(strategy).entry_order == TAKER:
        # One position at a time: the walk starts from the last trade already closed (its exit frees the position).
        seed = db.session.scalar(
            select(SetupOutcome)
            .where(*where, SetupOutcome.state == CLOSED, SetupOutcome.detected_at < rows[0].detected_at)
            .order_by(SetupOutcome.detected_at.desc())
            .limit(1)
        )
        rows = ([seed] if seed is not None else []) + rows
    _refresh_signal_levels([r for r in rows if r.setup_kind == SIGNAL_KIND and r.state == WAITING])
    return rows


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


def outcome_to_dict(row: SetupOutcome) -> dict[str, Any]:
    """Return one outcome as JSON-safe values (the API's and the page's row)."""
    return {
        "id": row.id,
        "setup_kind": row.setup_kind,
        "setup_id": row.setup_id,
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "strategy": row.strategy,
        "direction": "long" if row.direction > 0 else "short",
        "detected_at": row.detected_at.isoformat(),
        "params_source": row.params_source,
        "parameter_set_id": row.parameter_set_id,
        "entry": row.entry,
        "stop": row.stop,
        "target": row.target,
        "state": row.state,
        "filled_at": None if row.filled_at is None else row.filled_at.isoformat(),
        "exited_at": None if row.exited_at is None else row.exited_at.isoformat(),
        "exit_price": row.exit_price,
        "exit_reason": row.exit_reason,
        "r_multiple": row.r_multiple,
        "bars_held": row.bars_held,
    }
