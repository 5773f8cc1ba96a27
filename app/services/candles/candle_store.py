"""Store and load candles: the one door between the ``candles`` table and pandas.

Everything downstream (detectors, backtester, optimizer) reads candles through
``load_candles``; everything upstream (CSV import, ccxt fetch) writes through
``store_candles``, which validates first and inserts only candles not already
stored, in one transaction, so a bad file changes nothing and a re-import adds
nothing.

What is stored must pass ``candle_frame.validate_candles`` AND
``candle_frame.check_storable`` (on the timeframe's grid, typical spacing equal
to the timeframe, 2009..now, positive sane prices): a wrong ``--timeframe``, a
file in epoch seconds or a corrupt price is refused with a message naming the
row. A symbol row is only created in the transaction that stores its first
candles, so a refused file never leaves a symbol without candles.

Each store also rewrites the series' ``candle_series`` summary (count, first,
last, gaps) in the same transaction, so ``coverage()`` reads one row per
series instead of every candle.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import case, func, insert, select

from app.core.candles import (
    OHLCV_COLUMNS,
    CandleValidationError,
    check_storable,
    empty_candles,
    read_candles_csv,
    timeframe_ms,
    validate_candles,
)
from app.errors import NotFoundError, ValidationError
from app.extensions import db
from app.models import Candle, CandleSeries, Symbol

logger = logging.getLogger(__name__)

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


class FileImport(NamedTuple):
    """One file of a folder import: where it came from and what it stored."""

    path: Path
    symbol: str
    timeframe: str
    result: StoreResult


def get_or_create_symbol(name: str, *, exchange: str = "binance") -> Symbol:
    """Return the symbol row for ``name``, creating it (active) on first use.

    Flushes, never commits: call it only inside the transaction that stores
    the symbol's (already validated) candles, so a failure rolls both back.
    """
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
    if not sep or not base or not quote or not name.replace("/", "").isalnum() or len(name) > 30:
        raise ValidationError(f"symbol must look like BASE/QUOTE (e.g. BTC/USDT), not '{name}'")
    return name.upper()


def check_exchange_name(exchange: str) -> str:
    """Reject exchange ids that cannot be stored (empty, spaces, longer than the 30-character column)."""
    if not exchange or len(exchange) > 30 or not exchange.replace("_", "").isalnum():
        raise ValidationError(f"exchange must be a ccxt id such as binance (letters, digits, _), not '{exchange}'")
    return exchange


def check_timeframe(timeframe: str) -> int:
    """Return the timeframe's length in ms; ValidationError naming it and the known ones otherwise."""
    try:
        return timeframe_ms(timeframe)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def store_candles(
    df: pd.DataFrame, *, symbol: str, timeframe: str, exchange: str = "binance", source: str = "candles"
) -> StoreResult:
    """Validate ``df`` and insert the candles not yet stored, committing once.

    Raises ValidationError (and writes nothing) when the candles are invalid
    or not storable as ``timeframe`` candles (see ``check_storable``).
    """
    symbol = check_symbol_name(symbol)
    check_exchange_name(exchange)
    frame = _storable(df, timeframe=timeframe, source=source)
    try:
        result = _insert(frame, symbol=symbol, timeframe=timeframe, exchange=exchange)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    logger.info(
        "stored %s %s %s from %s: %d new, %d already stored",
        exchange,
        symbol,
        timeframe,
        source,
        result.inserted,
        result.skipped,
    )
    return result


def import_csv(path: str | Path, *, symbol: str, timeframe: str, exchange: str = "binance") -> StoreResult:
    """Import one candle CSV (plain or .gz); all or nothing."""
    symbol = check_symbol_name(symbol)
    check_exchange_name(exchange)
    check_timeframe(timeframe)
    frame = _read_file(Path(path), timeframe)
    return store_candles(frame, symbol=symbol, timeframe=timeframe, exchange=exchange, source=str(path))


def import_directory(directory: str | Path, *, exchange: str = "binance") -> list[FileImport]:
    """Import every ``BASE_QUOTE-TF.csv[.gz]`` file of ``directory``: all files or none.

    Every file is read and validated before anything is written; then all of
    them are stored in ONE transaction. So one bad file (a bad row, a wrong
    timeframe, a truncated .gz) raises ValidationError naming that file and
    leaves the database exactly as it was, good files included: fix the file
    and run the import again (already stored candles are skipped, so a re-run
    adds only what is new). Returns one ``FileImport`` per file, in name order.
    """
    check_exchange_name(exchange)
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"candle data directory not found: {directory}")
    files = sorted(p for p in directory.iterdir() if DATA_FILE_PATTERN.match(p.name))
    if not files:
        raise ValidationError(f"no candle files named like BTC_USDT-1h.csv.gz in {directory}")
    parsed = []
    for path in files:
        match = DATA_FILE_PATTERN.match(path.name)
        symbol, timeframe = f"{match['base']}/{match['quote']}", match["timeframe"]
        try:
            check_timeframe(timeframe)
        except ValidationError as exc:
            raise ValidationError(f"{path}: {exc.message}") from None
        parsed.append((path, check_symbol_name(symbol), timeframe, _read_file(path, timeframe)))
    imports = []
    try:
        for path, symbol, timeframe, frame in parsed:
            result = _insert(frame, symbol=symbol, timeframe=timeframe, exchange=exchange)
            imports.append(FileImport(path, symbol, timeframe, result))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for item in imports:
        logger.info(
            "imported %s as %s %s: %d new, %d already stored",
            item.path.name,
            item.symbol,
            item.timeframe,
            item.result.inserted,
            item.result.skipped,
        )
    return imports


def _read_file(path: Path, timeframe: str) -> pd.DataFrame:
    try:
        return read_candles_csv(path, timeframe=timeframe)
    except CandleValidationError as exc:
        raise ValidationError(str(exc)) from None


def _storable(df: pd.DataFrame, *, timeframe: str, source: str) -> pd.DataFrame:
    """Return ``df`` validated and checked storable as ``timeframe`` candles, or raise ValidationError."""
    check_timeframe(timeframe)
    try:
        frame = validate_candles(df, source=source)
        check_storable(frame, timeframe=timeframe, source=source)
    except (CandleValidationError, ValueError) as exc:
        raise ValidationError(str(exc)) from None
    return frame


def _insert(frame: pd.DataFrame, *, symbol: str, timeframe: str, exchange: str) -> StoreResult:
    """Insert the new candles of a checked frame and refresh its series summary; no commit."""
    symbol_row = get_or_create_symbol(symbol, exchange=exchange)
    stamps = frame.index.as_unit("ms").asi8
    new = ~np.isin(stamps, _stored_stamps(symbol_row.id, timeframe, stamps))
    rows = _rows(frame[new], stamps[new], symbol_row.id, timeframe)
    for start in range(0, len(rows), INSERT_CHUNK):
        db.session.execute(insert(Candle), rows[start : start + INSERT_CHUNK])
    if rows:
        refresh_series(symbol_row.id, timeframe)
    return StoreResult(received=len(frame), inserted=len(rows))


def refresh_series(symbol_id: int, timeframe: str) -> CandleSeries | None:
    """Recompute one series' ``candle_series`` row from its candles (one indexed query); no commit.

    Gaps come from a window function (LAG) over the series' timestamps:
    SQLite >= 3.25 and MariaDB >= 10.2 have it. Missing bars follow from the
    count and the span, since stored candles sit on the timeframe's grid.
    """
    step = timeframe_ms(timeframe)
    diff = (Candle.timestamp - func.lag(Candle.timestamp).over(order_by=Candle.timestamp)).label("diff")
    inner = (
        select(Candle.timestamp, diff).where(Candle.symbol_id == symbol_id, Candle.timeframe == timeframe).subquery()
    )
    first, last, count, gaps = db.session.execute(
        select(
            func.min(inner.c.timestamp),
            func.max(inner.c.timestamp),
            func.count(),
            func.sum(case((inner.c.diff > step, 1), else_=0)),
        )
    ).one()
    series = db.session.scalar(
        select(CandleSeries).where(CandleSeries.symbol_id == symbol_id, CandleSeries.timeframe == timeframe)
    )
    if not count:
        if series is not None:
            db.session.delete(series)
        return None
    if series is None:
        series = CandleSeries(symbol_id=symbol_id, timeframe=timeframe)
        db.session.add(series)
    series.first_timestamp, series.last_timestamp = int(first), int(last)
    series.candle_count, series.gaps = int(count), int(gaps or 0)
    series.missing_bars = max((int(last) - int(first)) // step + 1 - int(count), 0)
    db.session.flush()
    return series


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
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Return stored candles of ``symbol``/``timeframe`` with open time in [start, end].

    The result is in the candle format (docs/design-rules.md#candles) (validated). An unknown symbol
    raises NotFoundError; a known symbol without candles in range gives an
    empty frame.
    """
    symbol_row = find_symbol(symbol)
    columns = select(Candle.timestamp, *(getattr(Candle, c) for c in OHLCV_COLUMNS))
    query = _in_range(columns, symbol_row.id, timeframe, start, end)
    # The driver's plain tuples straight into numpy: no ORM row objects (this is every backtest's input).
    cursor = db.session.connection().connection.cursor()
    try:
        cursor.execute(*_compiled(query.order_by(Candle.timestamp)))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return empty_candles()
    arr = np.asarray(rows, dtype="float64")
    frame = pd.DataFrame(arr[:, 1:], columns=list(OHLCV_COLUMNS))
    frame.index = pd.DatetimeIndex(pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True), name="timestamp")
    return validate_candles(frame, source=f"stored candles {symbol} {timeframe}")


def candles_until(
    symbol: str, timeframe: str, *, until: datetime | None = None, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the stored candles opened up to ``until`` (naive UTC; None: all), from ``history`` when given."""
    end = None if until is None else pd.Timestamp(until, tz="UTC")
    if history is None:
        return load_candles(symbol, timeframe, end=end)
    return history if end is None else history.loc[:end]


def candle_positions(candles: pd.DataFrame, when: list[datetime]) -> np.ndarray:
    """The position in ``candles`` of the candle opened at each ``when`` (naive UTC); -1 where it is not stored."""
    return stamp_positions(candles, pd.DatetimeIndex(when).as_unit("ns").asi8)


def stamp_positions(candles: pd.DataFrame, wanted: np.ndarray) -> np.ndarray:
    """``candle_positions`` of open times given as nanoseconds since the epoch (UTC)."""
    stamps = candles.index.as_unit("ns").asi8
    positions = np.searchsorted(stamps, wanted)
    inside = positions < len(stamps)
    found = inside & (stamps[np.where(inside, positions, 0)] == wanted) if len(stamps) else inside
    return np.where(found, positions, -1)


def count_candles(
    symbol: str,
    timeframe: str,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> int:
    """Return how many candles ``load_candles`` would return, without reading them (NotFoundError likewise)."""
    return db.session.scalar(_in_range(select(func.count()), find_symbol(symbol).id, timeframe, start, end))


def _in_range(query, symbol_id: int, timeframe: str, start, end):
    """``query`` over the candles of one series with open time in [start, end] (either bound optional)."""
    query = query.where(Candle.symbol_id == symbol_id, Candle.timeframe == timeframe)
    start_ms, end_ms = _to_ms(start), _to_ms(end)
    if start_ms is not None:
        query = query.where(Candle.timestamp >= start_ms)
    if end_ms is not None:
        query = query.where(Candle.timestamp <= end_ms)
    return query


def _compiled(query) -> tuple[str, tuple | dict]:
    """Return a Core query as (SQL text, positional or named parameters) for the current dialect's driver."""
    compiled = query.compile(dialect=db.session.get_bind().dialect)
    if compiled.positiontup is not None:
        return compiled.string, tuple(compiled.params[name] for name in compiled.positiontup)
    return compiled.string, compiled.params


def last_stored_timestamp(symbol: str, timeframe: str, *, exchange: str = "binance") -> int | None:
    """Return the newest stored open time (epoch ms) of a slice, or None."""
    query = (
        select(func.max(Candle.timestamp))
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .where(Symbol.name == symbol, Symbol.exchange == exchange, Candle.timeframe == timeframe)
    )
    return db.session.scalar(query)


def coverage() -> list[dict]:
    """Summarise stored candles per symbol and timeframe: first, last, count and gaps.

    Reads the ``candle_series`` summaries (one row per series), so it costs
    the same with 700k candles as with 7.
    """
    query = (
        select(Symbol.name, CandleSeries)
        .join(Symbol, Symbol.id == CandleSeries.symbol_id)
        .order_by(Symbol.name, CandleSeries.timeframe)
    )
    return [
        {
            "symbol": name,
            "timeframe": series.timeframe,
            "first": pd.Timestamp(series.first_timestamp, unit="ms", tz="UTC").isoformat(),
            "last": pd.Timestamp(series.last_timestamp, unit="ms", tz="UTC").isoformat(),
            "count": series.candle_count,
            "gaps": series.gaps,
            "missing_bars": series.missing_bars,
        }
        for name, series in db.session.execute(query)
    ]
