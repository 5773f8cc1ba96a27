"""Stored trade setups, newest first, filtered and paged: detected patterns and indicator signals with levels
(one listing for the API and the dashboard).

Both pages answer ``{rows, next_cursor}``; the cursor is the last row's id
(rows come newest id first), so a page costs the same however deep it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Pattern, Signal, Symbol

MAX_LIMIT = 500


def list_patterns(
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    strategy: str | None = None,
    status: str | None = "active",
    limit: int = 100,
    cursor: int | None = None,
) -> dict[str, Any]:
    """Return stored patterns (``strategy`` is the pattern type) with their zone and levels; ``status`` None: all."""
    query = select(Pattern, Symbol.name).join(Symbol, Symbol.id == Pattern.symbol_id)
    query = _filtered(query, Pattern, Pattern.pattern_type, symbol, timeframe, strategy, status, cursor)
    rows = db.session.execute(query.order_by(Pattern.id.desc()).limit(limit)).all()
    return _page([_pattern(p, name) for p, name in rows], limit)


def list_signals(
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    strategy: str | None = None,
    status: str | None = None,
    limit: int = 100,
    cursor: int | None = None,
) -> dict[str, Any]:
    """Return stored indicator signals with entry, stop and TP1-3; ``status`` None: all."""
    query = select(Signal, Symbol.name).join(Symbol, Symbol.id == Signal.symbol_id)
    query = _filtered(query, Signal, Signal.strategy, symbol, timeframe, strategy, status, cursor)
    rows = db.session.execute(query.order_by(Signal.id.desc()).limit(limit)).all()
    return _page([_signal(s, name) for s, name in rows], limit)


def _filtered(query, model, strategy_column, symbol, timeframe, strategy, status, cursor):
    for column, value in (
        (Symbol.name, symbol),
        (model.timeframe, timeframe),
        (strategy_column, strategy),
        (model.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor is not None:
        query = query.where(model.id < cursor)
    return query


def _page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"rows": rows, "next_cursor": rows[-1]["id"] if len(rows) == limit and rows else None}


def _pattern(p: Pattern, symbol: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "symbol": symbol,
        "timeframe": p.timeframe,
        "strategy": p.pattern_type,
        "direction": p.direction,
        "status": p.status,
        "zone_low": p.zone_low,
        "zone_high": p.zone_high,
        "detected_at": p.detected_at.isoformat(),
        "entry": p.entry,
        "stop_loss": p.stop_loss,
        "tp1": p.tp1,
        "tp2": p.tp2,
        "tp3": p.tp3,
    }


def _signal(s: Signal, symbol: str) -> dict[str, Any]:
    return {
        "id": s.id,
        "symbol": symbol,
        "timeframe": s.timeframe,
        "strategy": s.strategy,
        "direction": s.direction,
        "status": s.status,
        "signal_at": s.signal_at.isoformat(),
        "entry": s.entry,
        "stop_loss": s.stop_loss,
        "tp1": s.tp1,
        "tp2": s.tp2,
        "tp3": s.tp3,
    }
