"""OHLCV candles."""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, ForeignKey, Integer, String, UniqueConstraint
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


class CandleSeries(db.Model):
    """Summary of one stored (symbol, timeframe) series, rewritten by every store in the same transaction.

    It keeps coverage (the home page, ``flask candles status``) O(number of
    series) instead of reading every timestamp: counting gaps needs each
    candle's neighbour, which costs over a second on 721k candles.
    """

    __tablename__ = "candle_series"
    __table_args__ = (UniqueConstraint("symbol_id", "timeframe"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol_id: Mapped[int] = mapped_column(ForeignKey("symbols.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(5))
    first_timestamp: Mapped[int] = mapped_column(BigInteger)  # epoch ms, open time of the oldest candle
    last_timestamp: Mapped[int] = mapped_column(BigInteger)
    candle_count: Mapped[int] = mapped_column(Integer)
    gaps: Mapped[int] = mapped_column(Integer)  # holes between consecutive candles
    missing_bars: Mapped[int] = mapped_column(Integer)  # candles those holes would hold
