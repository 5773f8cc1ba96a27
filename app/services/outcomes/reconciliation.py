"""Replay the backtest over a slice's stored candles and compare it with the tracked outcomes.

Per parameter set that produced tracked outcomes in the window, the
strategy's own backtest (``single_run``) runs with that set's parameters,
costs and ``max_wait_bars`` over the slice's whole stored history (what the
scanner saw: detection needs its warm-up), and its setups detected while
that set produced the slice's setups (its first to last tracked detection
inside the window) are compared with the tracked ones
(``app.evaluation.reconciliation``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from app.core.costs import resolve_costs
from app.errors import ValidationError
from app.evaluation.backtest import market_arrays
from app.evaluation.reconciliation import reconcile_records, replayed_records
from app.extensions import db
from app.models import SetupOutcome
from app.services.candles.candle_store import check_timeframe, find_symbol, load_candles
from app.strategies import get_strategy


def _ns(when) -> int:
    return (
        int(pd.Timestamp(when).tz_localize("UTC").value) if pd.Timestamp(when).tz is None else pd.Timestamp(when).value
    )


def tracked_record(row: SetupOutcome) -> dict[str, Any]:
    """Return a stored outcome as a comparable record (``app.evaluation.reconciliation``)."""
    return {
        "detected_at_ns": _ns(row.detected_at),
        "direction": int(row.direction),
        "state": row.state,
        "filled_at_ns": None if row.filled_at is None else _ns(row.filled_at),
        "exited_at_ns": None if row.exited_at is None else _ns(row.exited_at),
        "exit_reason": row.exit_reason,
        "exit_price": row.exit_price,
        "r_multiple": row.r_multiple,
        "bars_held": row.bars_held,
    }


def _bound(value, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} is not a date/time: {value!r}") from None
    return ts.tz_localize(None) if ts.tz is not None else ts


def reconcile(*, symbol: str, timeframe: str, strategy: str, start: Any = None, end: Any = None) -> dict[str, Any]:
    """Return per producing set how many tracked setups the backtest reproduces exactly, and the first that not."""
    check_timeframe(timeframe)
    find_symbol(symbol)
    try:
        chosen = get_strategy(strategy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    lo, hi = _bound(start, "start"), _bound(end, "end")
    query = select(SetupOutcome).where(
        SetupOutcome.symbol == symbol, SetupOutcome.timeframe == timeframe, SetupOutcome.strategy == strategy
    )
    if lo is not None:
        query = query.where(SetupOutcome.detected_at >= lo)
    if hi is not None:
        query = query.where(SetupOutcome.detected_at <= hi)
    rows = list(db.session.scalars(query.order_by(SetupOutcome.detected_at, SetupOutcome.id)))
    candles = load_candles(symbol, timeframe)
    sets = []
    if rows and not candles.empty:
        market = market_arrays(candles)
        for group in _by_set(rows):
            sets.append(_reconcile_set(chosen, market, group))
    compared = sum(s["compared"] for s in sets)
    matched = sum(s["matched"] for s in sets)
    first = next((s["first_mismatch"] for s in sets if s["first_mismatch"]), None)
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
        "compared": compared,
        "matched": matched,
        "identical": compared == matched,
        "first_mismatch": first,
        "sets": sets,
    }


def _by_set(rows: list[SetupOutcome]) -> list[list[SetupOutcome]]:
    groups: dict[tuple, list[SetupOutcome]] = {}
    for row in rows:
        key = (
            row.parameter_set_id,
            repr(sorted(row.params.items())),
            repr(sorted(row.costs.items())),
            row.max_wait_bars,
        )
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def _reconcile_set(chosen, market, group: list[SetupOutcome]) -> dict[str, Any]:
    first = group[0]
    run = chosen.single_run(
        market, chosen.space.validate(first.params), costs=resolve_costs(first.costs), max_wait_bars=first.max_wait_bars
    )
    tracked = [tracked_record(r) for r in group]
    lo, hi = tracked[0]["detected_at_ns"], tracked[-1]["detected_at_ns"]
    replayed = [r for r in replayed_records(market, run) if lo <= r["detected_at_ns"] <= hi]
    result = reconcile_records(tracked, replayed)
    mismatch = result.first_mismatch
    if mismatch is not None:
        mismatch = {**mismatch, "detected_at": pd.Timestamp(mismatch["detected_at_ns"], tz="UTC").isoformat()}
    return {
        "parameter_set_id": first.parameter_set_id,
        "params_source": first.params_source,
        "params": first.params,
        "compared": result.compared,
        "matched": result.matched,
        "mismatches": result.mismatches,
        "first_mismatch": mismatch,
    }
