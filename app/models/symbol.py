"""Tradable symbols (exchange pairs)."""

from __future__ import annotations

from sqlalchemy import Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Symbol(db.Model):
    """A pair such as ``BTC/USDT`` on one exchange."""

    __tablename__ = "symbols"
    __table_args__ = (UniqueConstraint("name", "exchange"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    exchange: Mapped[str] = mapped_column(String(30), default="binance")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    def __repr__(self) -> str:
        return f"<Symbol {self.name}@{self.exchange}>"
