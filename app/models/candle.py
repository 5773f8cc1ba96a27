"""OHLCV candles."""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Candle(db.Model):
    """One candle; ``timestamp`` is its UTC OPEN time in epoch milliseconds.

    Milliseconds (as ccxt and the CSV files give them) rather than DATETIME:
    exact, identical on SQLite and MySQL, and fast to bulk-load into pandas.
    """

    __tablename__ = "candles"
    __table_args__ = (UniqueConstraint("symbol_id", "timeframe", "timestamp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(5))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float] = mapped_column(Double)
