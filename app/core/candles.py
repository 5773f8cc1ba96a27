"""Read and validate candle DataFrames (pure: no Flask, no SQLAlchemy).

The candle format used everywhere downstream (docs/design-rules.md#candles): a UTC
``DatetimeIndex`` named ``timestamp`` holding each candle's OPEN time, sorted
and unique, and float64 columns ``open, high, low, close, volume``.

CSV files follow ``data/candles/README.md``: header
``timestamp,open,high,low,close,volume`` with epoch-millisecond timestamps,
plain or gzip-compressed. Validation never repairs silently: any bad row makes
the whole file fail with a message naming the file, the row and the field.

Two levels of checks:

- ``validate_candles`` (every reader: CSV, exchange, database, the backtester's
  input): finite values, non-negative prices, consistent OHLC, sorted unique
  timestamps;
- ``check_storable`` (only what is STORED: CSV import and ccxt fetch): the
  structural rules real exchange data always obeys, so a wrong file is refused
  instead of silently poisoning every backtest. Open times must lie between
  2009-01-01 and now, sit on the timeframe's grid (multiples of the timeframe
  since the epoch, UTC), and their typical spacing (lower median of the
  differences, needing at least two) must equal the timeframe: gaps are
  allowed, a wrong ``--timeframe`` is not. Prices must be positive and at most
  ``MAX_PRICE``. Epoch seconds, microseconds and nanoseconds are recognised and
  refused with a hint.
"""

from __future__ import annotations

import gzip
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
CSV_COLUMNS = ("timestamp", *OHLCV_COLUMNS)

# Millisecond length of each supported ccxt timeframe string.
TIMEFRAME_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


# The first exchange-traded crypto data is from 2009; anything older is a unit or parsing error.
MIN_TIMESTAMP_MS = 1_230_768_000_000  # 2009-01-01T00:00:00Z
# Open times this far past "now" are tolerated (clock skew between exchange and host).
FUTURE_TOLERANCE_MS = 60_000
# No traded asset is quoted above this; 1e308 and friends are corrupt data.
MAX_PRICE = 1e9
PRICE_COLUMNS = ("open", "high", "low", "close")
# (factor turning a value in that unit into ms, hint) for timestamps in the wrong unit.
UNIT_HINTS = (
    (1000.0, "epoch SECONDS: multiply by 1000"),
    (1e-3, "epoch MICROSECONDS: divide by 1000"),
    (1e-6, "epoch NANOSECONDS: divide by 1,000,000"),
)


class CandleValidationError(ValueError):
    """Candles failed validation; the message names the source, row and field."""

    def __init__(self, message: str, *, source: str = "", row: int | None = None, field: str | None = None):
        self.source = source
        self.row = row
        self.field = field
        where = ", ".join(
            part
            for part in (
                source,
                f"row {row}" if row is not None else "",
                f"field '{field}'" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


def timeframe_ms(timeframe: str) -> int:
    """Return the length of one candle of ``timeframe`` in milliseconds."""
    try:
        return TIMEFRAME_MS[timeframe]
    except (KeyError, TypeError):
        known = ", ".join(TIMEFRAME_MS)
        raise ValueError(f"unknown timeframe '{timeframe}' (known: {known})") from None


def format_duration(ms: int | float) -> str:
    """Render a spacing in ms as the timeframe string it equals, else in minutes/hours/days."""
    for name, length in TIMEFRAME_MS.items():
        if ms == length:
            return name
    for unit, length in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= length:
            return f"{ms / length:g}{unit}"
    return f"{ms:g}ms"


def _iso_ms(ms: int | float) -> str:
    try:
        return pd.Timestamp(int(ms), unit="ms", tz="UTC").floor("s").isoformat()
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return "outside any representable date"


def _show(value: object) -> str:
    """Render a bad cell for a message: numbers plainly (not numpy reprs), text quoted."""
    if isinstance(value, (int, float, np.number)):
        return "empty" if np.isnan(value) else f"{float(value):g}"
    return repr(value)


def read_candles_csv(path: str | Path, *, timeframe: str | None = None, now_ms: int | None = None) -> pd.DataFrame:
    """Read a candle CSV (plain or .gz) into a validated candle DataFrame.

    Row numbers in errors are 1-based file lines (line 1 is the header), so a
    user can open the file and go straight to the bad line. With
    ``timeframe`` the file must also pass ``check_storable`` (what an import
    needs); without it only ``validate_candles`` applies.
    """
    path = Path(path)
    if not path.is_file():
        raise CandleValidationError("file not found", source=str(path))
    try:
        raw = pd.read_csv(path, compression="infer")
    except pd.errors.EmptyDataError:
        raise CandleValidationError(
            f"empty file; expected header {','.join(CSV_COLUMNS)} and one candle per line", source=str(path)
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CandleValidationError(
            f"truncated or corrupt gzip file ({exc}); download or copy it again", source=str(path)
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise CandleValidationError(f"cannot parse CSV ({_first_line(exc)})", source=str(path)) from None
    missing = [col for col in CSV_COLUMNS if col not in raw.columns]
    if missing:
        raise CandleValidationError(
            f"missing column(s) {', '.join(missing)}; expected header {','.join(CSV_COLUMNS)}",
            source=str(path),
            field=missing[0],
        )
    numeric = {}
    for col in CSV_COLUMNS:
        # Fast path: pandas already parsed a clean numeric column.
        values = raw[col] if pd.api.types.is_numeric_dtype(raw[col]) else pd.to_numeric(raw[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            shown = _show(raw[col].iloc[pos])
            message = "missing value" if shown == "empty" else f"not a finite number: {shown}"
            raise CandleValidationError(message, source=str(path), row=pos + 2, field=col)
        numeric[col] = values
    if raw.empty:
        raise CandleValidationError("no candles: the file has a header but no rows", source=str(path))
    raw_ts = numeric.pop("timestamp").to_numpy(dtype="float64")
    check_timestamp_values(raw_ts, source=str(path), row_offset=2, now_ms=now_ms)
    frame = pd.DataFrame({col: numeric[col].astype("float64") for col in OHLCV_COLUMNS})
    try:
        stamps = pd.to_datetime(raw_ts.astype("int64"), unit="ms", utc=True)
    except (pd.errors.OutOfBoundsDatetime, OverflowError) as exc:
        # check_timestamp_values bounds the values first; this is a safety net, never a traceback.
        raise CandleValidationError(f"timestamp out of range ({exc})", source=str(path), field="timestamp") from None
    frame.index = pd.DatetimeIndex(stamps, name="timestamp")
    frame = validate_candles(frame, source=str(path), row_offset=2)
    if timeframe is not None:
        check_storable(frame, timeframe=timeframe, source=str(path), row_offset=2, now_ms=now_ms)
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_timestamp_values(
    stamps: np.ndarray, *, source: str = "candles", row_offset: int = 0, now_ms: int | None = None
) -> None:
    """Refuse raw epoch values that are not whole milliseconds between 2009 and now.

    Runs on the raw numbers BEFORE they become datetimes, so a value such as
    1e20 gives this message instead of pandas' OutOfBoundsDatetime. Recognises
    epoch seconds, microseconds and nanoseconds and says how to fix them.
    """
    stamps = np.asarray(stamps, dtype="float64")
    if len(stamps) == 0:
        return
    now_ms = _now_ms() if now_ms is None else now_ms
    max_ms = now_ms + FUTURE_TOLERANCE_MS

    def fail(pos: int, message: str) -> None:
        raise CandleValidationError(message, source=source, row=pos + row_offset, field="timestamp")

    frac = np.flatnonzero(stamps != np.floor(stamps))
    if len(frac):
        fail(int(frac[0]), f"{stamps[frac[0]]:.1f} is not a whole number of epoch milliseconds")
    bad = np.flatnonzero((stamps < MIN_TIMESTAMP_MS) | (stamps > max_ms))
    if not len(bad):
        return
    pos = int(bad[0])
    value = float(stamps[pos])
    for factor, hint in UNIT_HINTS:
        if MIN_TIMESTAMP_MS <= value * factor <= max_ms:
            fail(pos, f"{value:.0f} looks like {hint} (timestamps must be epoch milliseconds)")
    if value < MIN_TIMESTAMP_MS:
        fail(pos, f"{value:.0f} is {_iso_ms(value)}, before 2009-01-01 (timestamps must be epoch milliseconds)")
    fail(pos, f"{value:.0f} is {_iso_ms(value)}, in the future (now is {_iso_ms(now_ms)})")


def check_storable(
    df: pd.DataFrame,
    *,
    timeframe: str,
    source: str = "candles",
    row_offset: int = 0,
    now_ms: int | None = None,
) -> None:
    """Refuse validated candles that cannot be real ``timeframe`` exchange candles.

    Checks (see the module docstring): open times between 2009 and now, the
    typical spacing equals the timeframe (checked first: it gives the best
    hint for a wrong ``--timeframe``), every open time on the timeframe's
    grid, prices positive and at most ``MAX_PRICE``. Raises
    ``CandleValidationError`` naming the row, or ``ValueError`` for an unknown
    timeframe.
    """
    step = timeframe_ms(timeframe)
    if len(df) == 0:
        raise CandleValidationError("no candles", source=source)
    stamps = df.index.as_unit("ms").asi8

    def fail(pos: int, message: str, field: str) -> None:
        raise CandleValidationError(message, source=source, row=pos + row_offset, field=field)

    check_timestamp_values(stamps, source=source, row_offset=row_offset, now_ms=now_ms)
    if len(stamps) >= 3:
        diffs = np.diff(stamps)
        typical = int(np.sort(diffs)[(len(diffs) - 1) // 2])  # lower median: robust to a few gaps
        if typical != step:
            fail(
                int(np.flatnonzero(diffs != step)[0]) + 1,
                f"candles are typically {format_duration(typical)} apart, not {timeframe}: "
                f"wrong timeframe? (gaps are allowed, a different spacing is not)",
                "timestamp",
            )
    off = np.flatnonzero(stamps % step != 0)
    if len(off):
        pos = int(off[0])
        fail(
            pos,
            f"open time {_iso_ms(stamps[pos])} is not on the {timeframe} grid "
            f"(open times must be whole multiples of {timeframe} since 1970-01-01 UTC)",
            "timestamp",
        )
    for col in PRICE_COLUMNS:
        values = df[col].to_numpy(dtype="float64")
        bad = np.flatnonzero(values <= 0)
        if len(bad):
            fail(int(bad[0]), f"price must be positive, not {_show(values[bad[0]])}", col)
        bad = np.flatnonzero(values > MAX_PRICE)
        if len(bad):
            fail(int(bad[0]), f"absurd price {_show(values[bad[0]])} (above {MAX_PRICE:g})", col)


def validate_candles(df: pd.DataFrame, *, source: str = "candles", row_offset: int = 0) -> pd.DataFrame:
    """Check a candle DataFrame against the candle rules (docs/design-rules.md#candles) and return it normalised.

    Raises ``CandleValidationError`` for NaN or infinite values, negative
    prices or volume, ``high < low``, ``high < max(open, close)``,
    ``low > min(open, close)``, and duplicate or unsorted timestamps.
    ``row_offset`` turns positions into the caller's row numbers (CSV lines).
    """
    if not isinstance(df.index, pd.DatetimeIndex):
        raise CandleValidationError("index must be a DatetimeIndex of candle open times", source=source)
    missing = [col for col in OHLCV_COLUMNS if col not in df.columns]
    if missing:
        raise CandleValidationError(f"missing column(s) {', '.join(missing)}", source=source, field=missing[0])
    frame = df.loc[:, list(OHLCV_COLUMNS)].astype("float64")
    index = df.index.tz_localize("UTC") if df.index.tz is None else df.index.tz_convert("UTC")
    frame.index = index.as_unit("ns").rename("timestamp")

    def fail(mask: np.ndarray, message: str, field: str) -> None:
        if mask.any():
            pos = int(np.flatnonzero(mask)[0])
            raise CandleValidationError(message, source=source, row=pos + row_offset, field=field)

    values = {col: frame[col].to_numpy() for col in OHLCV_COLUMNS}
    for col in OHLCV_COLUMNS:
        fail(~np.isfinite(values[col]), "missing or non-finite value", col)
        fail(values[col] < 0, "negative value", col)
    o, h, lo, c = values["open"], values["high"], values["low"], values["close"]
    fail(h < lo, "high is below low", "high")
    fail(h < np.maximum(o, c), "high is below open/close", "high")
    fail(lo > np.minimum(o, c), "low is above open/close", "low")
    stamps = frame.index.asi8
    if len(stamps) > 1:
        step = np.diff(stamps)
        fail(np.concatenate([[False], step == 0]), "duplicate timestamp", "timestamp")
        fail(np.concatenate([[False], step < 0]), "timestamp not in ascending order", "timestamp")
    return frame


def candles_from_rows(rows: list[list[float]], *, source: str = "exchange") -> pd.DataFrame:
    """Build a validated candle DataFrame from ccxt-style ``[ms, o, h, l, c, v]`` rows."""
    if not rows:
        return empty_candles()
    arr = np.asarray(rows, dtype="float64")
    if arr.ndim != 2 or arr.shape[1] < 6:
        raise CandleValidationError("each row must be [timestamp, open, high, low, close, volume]", source=source)
    frame = pd.DataFrame(arr[:, 1:6], columns=list(OHLCV_COLUMNS))
    frame.index = pd.DatetimeIndex(pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True), name="timestamp")
    return validate_candles(frame, source=source)


def empty_candles() -> pd.DataFrame:
    """Return an empty DataFrame in the candle format."""
    frame = pd.DataFrame({col: pd.Series(dtype="float64") for col in OHLCV_COLUMNS})
    frame.index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return frame


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """Return ``(last_before, first_after, missing_bars)`` for each hole in ``index``."""
    if len(index) < 2:
        return []
    step_ns = timeframe_ms(timeframe) * 1_000_000
    stamps = index.as_unit("ns").asi8
    diffs = np.diff(stamps)
    holes = np.flatnonzero(diffs > step_ns)
    return [(index[i], index[i + 1], int(diffs[i] // step_ns) - 1) for i in holes]
