"""Per-user, per-symbol settings: notifications and custom trading parameters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Double, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.symbol import Symbol
from app.models.user import User


class UserSymbolPreference(db.Model):
    """What one user wants for one symbol; custom params apply when use_custom_params is set."""

    __tablename__ = "user_symbol_preferences"
    __table_args__ = (UniqueConstraint("user_id", "symbol_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    notify_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_imbalance: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_order_block: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_liquidity_sweep: Mapped[bool] = mapped_column(Boolean, default=True)
    rr_target: Mapped[float | None] = mapped_column(Double, default=None)
    sl_buffer_pct: Mapped[float | None] = mapped_column(Double, default=None)
    tp_method: Mapped[str | None] = mapped_column(String(20), default=None)
    entry_method: Mapped[str | None] = mapped_column(String(20), default=None)
    min_zone_pct: Mapped[float | None] = mapped_column(Double, default=None)
    use_overlap: Mapped[bool | None] = mapped_column(Boolean, default=None)
    use_custom_params: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the custom parameters came from ("manual", "optimization:<job id>", ...) and when.
    params_source: Mapped[str | None] = mapped_column(String(50), default=None)
    params_updated_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()
    symbol: Mapped[Symbol] = relationship()
