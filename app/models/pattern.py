"""Detected patterns and their published trade levels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._time import utcnow
from app.models.symbol import Symbol

PATTERN_STATUSES = ("active", "mitigated", "invalidated", "expired")


class Pattern(db.Model):
    """A pattern found by a production detector, with the setup it implies."""

    __tablename__ = "patterns"
    __table_args__ = (
        # Scanner: active patterns of one slice (overlap check, status updates).
        Index("ix_patterns_scan", "symbol_id", "timeframe", "pattern_type", "status"),
        # Dashboard: newest patterns first, optionally per status.
        Index("ix_patterns_status_detected", "status", "detected_at"),
        # Idempotent scans: one pattern per slice, type, direction and candle.
        Index(
            "uq_patterns_identity",
            "symbol_id",
            "timeframe",
            "pattern_type",
            "direction",
            "detected_at",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(5))
    pattern_type: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(10))
    zone_low: Mapped[float] = mapped_column(Double)
    zone_high: Mapped[float] = mapped_column(Double)
    detected_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    entry: Mapped[float | None] = mapped_column(Double, default=None)
    stop_loss: Mapped[float | None] = mapped_column(Double, default=None)
    tp1: Mapped[float | None] = mapped_column(Double, default=None)
    tp2: Mapped[float | None] = mapped_column(Double, default=None)
    tp3: Mapped[float | None] = mapped_column(Double, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    symbol: Mapped[Symbol] = relationship()

    def __repr__(self) -> str:
        return f"<Pattern {self.pattern_type} {self.direction} {self.zone_low}-{self.zone_high}>"
