"""Live signals of the indicator strategies and their published trade levels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._time import utcnow
from app.models.symbol import Symbol

# pending: signalled at the newest candle's close, the market order fills at the next open (levels indicative,
# from the last close); entered: the next candle opened, levels are final.
SIGNAL_STATUSES = ("pending", "entered")


class Signal(db.Model):
    """A signal found by a production indicator strategy, with the setup it implies."""

    __tablename__ = "signals"
    __table_args__ = (
        # Idempotent scans: one signal per slice, strategy, direction and candle.
        Index("uq_signals_identity", "symbol_id", "timeframe", "strategy", "direction", "signal_at", unique=True),
        Index("ix_signals_status_signal_at", "status", "signal_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(5))
    strategy: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(10))
    signal_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")
    entry: Mapped[float] = mapped_column(Double)
    stop_loss: Mapped[float] = mapped_column(Double)
    tp1: Mapped[float] = mapped_column(Double)
    tp2: Mapped[float] = mapped_column(Double)
    tp3: Mapped[float] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    symbol: Mapped[Symbol] = relationship()

    def __repr__(self) -> str:
        return f"<Signal {self.strategy} {self.direction} {self.signal_at} {self.status}>"
