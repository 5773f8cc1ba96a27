"""Per-user settings: notifications per symbol, and custom parameter sets per symbol and strategy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._time import utcnow
from app.models.symbol import Symbol
from app.models.user import User


class UserSymbolPreference(db.Model):
    """What one user wants to hear about one symbol: every strategy, or only those listed."""

    __tablename__ = "user_symbol_preferences"
    __table_args__ = (UniqueConstraint("user_id", "symbol_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    notify_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Strategy names to notify about; None means every strategy.
    notify_strategies: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)

    user: Mapped[User] = relationship()
    symbol: Mapped[Symbol] = relationship()


class UserParameterSet(db.Model):
    """A user's own parameters for one symbol and strategy, validated by the strategy's declared space."""

    __tablename__ = "user_parameter_sets"
    __table_args__ = (UniqueConstraint("user_id", "symbol_id", "strategy", name="uq_user_parameter_set"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Custom parameters apply only while this is set; clearing it falls back to production.
    use_custom: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the parameters came from ("manual", "job:<id>/run:<id>", "production") and when.
    params_source: Mapped[str] = mapped_column(String(100), default="manual")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    symbol: Mapped[Symbol] = relationship()
