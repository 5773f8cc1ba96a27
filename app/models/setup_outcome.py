"""The trade outcome of every published setup (pattern or signal), with the parameter set that produced it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Double, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._time import utcnow

SETUP_KINDS = ("pattern", "signal")


class SetupOutcome(db.Model):
    """One published setup followed candle by candle until it closes (``app.evaluation.outcomes`` states)."""

    __tablename__ = "setup_outcomes"
    __table_args__ = (
        # Idempotent tracking: one outcome per published setup.
        Index("uq_setup_outcomes_setup", "setup_kind", "setup_id", unique=True),
        # The tracker: the setups of one slice still followed, and its newest closed one before a time (the
        # one-position seed); the monitor: one set's record in time order.
        Index("ix_setup_outcomes_slice", "symbol", "timeframe", "strategy", "state", "detected_at"),
        Index("ix_setup_outcomes_set", "parameter_set_id", "detected_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    setup_kind: Mapped[str] = mapped_column(String(10))
    setup_id: Mapped[int] = mapped_column(Integer)
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(5))
    strategy: Mapped[str] = mapped_column(String(30))
    direction: Mapped[int] = mapped_column(Integer)  # +1 long / bullish, -1 short / bearish
    detected_at: Mapped[datetime] = mapped_column()
    # Provenance: app.enums.ParamSource (production | default | user), the production set's id, what it traded.
    params_source: Mapped[str] = mapped_column(String(20))
    parameter_set_id: Mapped[int | None] = mapped_column(Integer, default=None)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    costs: Mapped[dict[str, Any]] = mapped_column(JSON)
    entry_order: Mapped[str] = mapped_column(String(10))
    max_wait_bars: Mapped[int] = mapped_column(Integer)
    entry: Mapped[float | None] = mapped_column(Double, default=None)
    stop: Mapped[float | None] = mapped_column(Double, default=None)
    target: Mapped[float | None] = mapped_column(Double, default=None)
    state: Mapped[str] = mapped_column(String(10), default="waiting")
    filled_at: Mapped[datetime | None] = mapped_column(default=None)
    exited_at: Mapped[datetime | None] = mapped_column(default=None)
    exit_price: Mapped[float | None] = mapped_column(Double, default=None)
    exit_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    r_multiple: Mapped[float | None] = mapped_column(Double, default=None)
    bars_held: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SetupOutcome {self.setup_kind}:{self.setup_id} {self.strategy} {self.state}>"
