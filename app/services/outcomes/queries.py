"""Read the tracked outcomes (``setup_outcomes``) for the API: filtered, newest first, limited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import SetupOutcome

OUTCOME_FIELDS = (
    "id", "setup_kind", "setup_id", "symbol", "timeframe", "strategy", "direction", "detected_at", "params_source",
    "parameter_set_id", "params", "entry_order", "entry", "stop", "target", "state", "filled_at", "exited_at",
    "exit_price", "exit_reason", "r_multiple", "bars_held",
)  # fmt: skip


def outcome_to_dict(row: SetupOutcome) -> dict[str, Any]:
    """Return a tracked outcome as JSON-ready data (times in ISO format)."""
    data = {name: getattr(row, name) for name in OUTCOME_FIELDS}
    for name in ("detected_at", "filled_at", "exited_at"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    return data


def list_outcomes(
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    strategy: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Return {total, rows}: the outcomes matching the filters, newest detection first, one page of them."""
    filters = [
        column == value
        for column, value in (
            (SetupOutcome.symbol, symbol),
            (SetupOutcome.timeframe, timeframe),
            (SetupOutcome.strategy, strategy),
            (SetupOutcome.state, state),
        )
        if value is not None
    ]
    total = db.session.scalar(select(func.count()).select_from(SetupOutcome).where(*filters))
    rows = db.session.scalars(
        select(SetupOutcome)
        .where(*filters)
        .order_by(SetupOutcome.detected_at.desc(), SetupOutcome.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {"total": total, "rows": [outcome_to_dict(row) for row in rows]}
