"""Active stored patterns with their trade levels, newest first (the dashboard reads them; so may the API)."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Pattern, Symbol


def active_patterns(*, limit: int = 100) -> list[dict]:
    """Return the newest active patterns: slice, type, direction, zone, entry, stop and TP1-3."""
    rows = db.session.execute(
        select(Pattern, Symbol.name)
        .join(Symbol, Symbol.id == Pattern.symbol_id)
        .where(Pattern.status == "active")
        .order_by(Pattern.detected_at.desc(), Pattern.id.desc())
        .limit(limit)
    )
    return [
        {
            "symbol": name,
            "timeframe": p.timeframe,
            "pattern_type": p.pattern_type,
            "direction": p.direction,
            "zone_low": p.zone_low,
            "zone_high": p.zone_high,
            "detected_at": p.detected_at.isoformat(),
            "entry": p.entry,
            "stop_loss": p.stop_loss,
            "tp1": p.tp1,
            "tp2": p.tp2,
            "tp3": p.tp3,
        }
        for p, name in rows
    ]
