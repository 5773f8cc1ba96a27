"""Store and load candles: the one door between the ``candles`` table and pandas.

Everything downstream (detectors, backtester, optimizer) reads candles through
``load_candles``; everything upstream (CSV import, ccxt fetch) writes through
``store_candles``, which validates first and inserts only candles not already
stored, in one transaction, so a bad file changes nothing and a re-import adds
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select

from app.errors import NotFoundError, ValidationError
from app.extensions import db
from app.models import Candle, Symbol
from app.services.candle_frame import (
    OHLCV_COLUMNS,
    CandleValidationError,
    empty_candles,
    find_gaps,
    read_candles_csv,
    timeframe_ms,
    validate_candles,
)

# Data files are named like the shared set: BTC_USDT-1h.csv.gz -> BTC/USDT, 1h.
DATA_FILE_PATTERN = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<timeframe>\d+[mhdw])\.csv(\.gz)?$")

# Rows per INSERT statement: large enough to be fast, small enough for MySQL's packet limit.
INSERT_CHUNK = 5_000


@dataclass(frozen=True)
class StoreResult:
    """How many candles a store call received and how many were new."""

    received: int
    inserted: int

    @property
    def skipped(self) -> int:
        return self.received - self.inserted


def get_or_create_symbol(name: str, *, exchange: str = "binance") -> Symbol:
    """Return the symbol row for ``name``, creating it (active) on first use."""
    symbol = db.session.scalar(select(Symbol).where(Symbol.name == name, Symbol.exchange == exchange))
    if symbol is None:
        symbol = Symbol(name=name, exchange=exchange, is_active=True)
        db.session.add(symbol)
        db.session.flush()
    return symbol


def find_symbol(name: str) -> Symbol:
    """Return the stored symbol called ``name`` or raise NotFoundError naming it."""
    symbol = db.session.scalar(select(Symbol).where(Symbol.name == name).order_by(Symbol.id))
    if symbol is None:
        raise NotFoundError(f"unknown symbol '{name}'")
    return symbol


def check_symbol_name(name: str) -> str:
    """Reject names that are not ``BASE/QUOTE`` (ccxt's unified spelling)."""
    base, sep, quote = name.partition("/")
    if not sep or not base or not quote or not name.replace("/", "").isalnum():
        raise ValidationError(f"symbol must look like BASE/QUOTE (e.g. BTC/USDT), not '{name}'")
    return name.upper()


def store_candles(df: pd.DataFrame, *, symbol: str, timeframe: str, exchange: str = "binance") -> StoreResult:
    """Validate ``df`` and insert the candles not yet stored, committing once.

    Raises ValidationError (and writes nothing) when the candles are invalid.
    """
    try:
        timeframe_ms(timeframe)
        frame = validate_candles(df)
    except (CandleValidationError, ValueError) as exc:
        raise ValidationError(str(exc)) from None
    symbol = check_symbol_name(symbol)
    try:
        symbol_row = get_or_create_symbol(symbol, exchange=exchange)
        stamps = frame.index.as_unit("ms").asi8
        new = ~np.isin(stamps, _stored_stamps(symbol_row.id, timeframe, stamps))
        rows = _rows(frame[new], stamps[new], symbol_row.id, timeframe)
        for start in range(0, len(rows), INSERT_CHUNK):
            db.session.execute(insert(Candle), rows[start : start + INSERT_CHUNK])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return StoreResult(received=len(frame), inserted=len(rows))


def import_csv(path: str | Path, *, symbol: str, timeframe: str, exchange: str = "binance") -> StoreResult:
    """Import one candle CSV (plain or .gz); all or nothing."""
    try:
        frame = read_candles_csv(path)
    except CandleValidationError as exc:
        raise ValidationError(str(exc)) from None
    return store_candles(frame, symbol=symbol, timeframe=timeframe, exchange=exchange)


def import_directory(directory: str | Path) -> Iterator[tuple[Path, str, str, StoreResult]]:
    """Import every ``BASE_QUOTE-TF.csv[.gz]`` file of ``directory``, yielding each result."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"candle data directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if DATA_FILE_PATTERN.match(p.name))
    if not files:
        raise ValidationError(f"no candle files named like BTC_USDT-1h.csv.gz in {directory}")
    for path in files:
        match = DATA_FILE_PATTERN.match(path.name)
        symbol = f"{match['base']}/{match['quote']}"
        yield path, symbol, match["timeframe"], import_csv(path, symbol=symbol, timeframe=match["timeframe"])


def _stored_stamps(symbol_id: int, timeframe: str, stamps: np.ndarray) -> np.ndarray:
    if len(stamps) == 0:
        return np.empty(0, dtype="int64")
    query = select(Candle.timestamp).where(
        Candle.symbol_id == symbol_id,
        Candle.timeframe == timeframe,
        Candle.timestamp.between(int(stamps.min()), int(stamps.max())),
    )
    return np.fromiter(db.session.scalars(query), dtype="int64")


def _rows(frame: pd.DataFrame, stamps: np.ndarray, symbol_id: int, timeframe: str) -> list[dict]:
    columns = {col: frame[col].to_numpy().tolist() for col in OHLCV_COLUMNS}
    return [
        {"symbol_id": symbol_id, "timeframe": timeframe, "timestamp": ts, **{c: columns[c][i] for c in OHLCV_COLUMNS}}
        for i, ts in enumerate(stamps.tolist())
    ]


def _to_ms(value: str | pd.Timestamp | None) -> int | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def load_candles(
    symbol: str,
    timeframe: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Return stored candles of ``symbol``/``timeframe`` with open time in [start, end].

    The result is in the DESIGN's candle format (validated). An unknown symbol
    raises NotFoundError; a known symbol without candles in range gives an
    empty frame.
    """
    symbol_row = find_symbol(symbol)
    query = select(Candle.timestamp, *(getattr(Candle, c) for c in OHLCV_COLUMNS)).where(
        Candle.symbol_id == symbol_row.id, Candle.timeframe == timeframe
    )
    start_ms, end_ms = _to_ms(start), _to_ms(end)
    if start_ms is not None:
        query = query.where(Candle.timestamp >= start_ms)
    if end_ms is not None:
        query = query.where(Candle.timestamp <= end_ms)
    rows = [tuple(row) for row in db.session.execute(query.order_by(Candle.timestamp))]
    if not rows:
        return empty_candles()
    arr = np.asarray(rows, dtype="float64")
    frame = pd.DataFrame(arr[:, 1:], columns=list(OHLCV_COLUMNS))
    frame.index = pd.DatetimeIndex(pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True), name="timestamp")
    return validate_candles(frame, source=f"stored candles {symbol} {timeframe}")


def last_stored_timestamp(symbol: str, timeframe: str, *, exchange: str = "binance") -> int | None:
    """Return the newest stored open time (epoch ms) of a slice, or None."""
    query = (
        select(func.max(Candle.timestamp))
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .where(Symbol.name == symbol, Symbol.exchange == exchange, Candle.timeframe == timeframe)
    )
    return db.session.scalar(query)


def coverage() -> list[dict]:
    """Summarise stored candles per symbol and timeframe: first, last, count and gaps."""
    query = (
        select(Symbol.name, Candle.timeframe, func.min(Candle.timestamp), func.max(Candle.timestamp), func.count())
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .group_by(Symbol.name, Candle.timeframe)
        .order_by(Symbol.name, Candle.timeframe)
    )
    report = []
    for name, timeframe, first, last, count in db.session.execute(query):
        stamps = db.session.scalars(
            select(Candle.timestamp)
            .join(Symbol, Symbol.id == Candle.symbol_id)
            .where(Symbol.name == name, Candle.timeframe == timeframe)
            .order_by(Candle.timestamp)
        ).all()
        gaps = find_gaps(pd.DatetimeIndex(pd.to_datetime(stamps, unit="ms", utc=True)), timeframe)
        report.append(
            {
                "symbol": name,
                "timeframe": timeframe,
                "first": pd.Timestamp(first, unit="ms", tz="UTC").isoformat(),
                "last": pd.Timestamp(last, unit="ms", tz="UTC").isoformat(),
                "count": count,
                "gaps": len(gaps),
                "missing_bars": sum(g[2] for g in gaps),
            }
        )
    return report
