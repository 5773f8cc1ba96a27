"""Read and validate candle DataFrames (pure: no Flask, no SQLAlchemy).

The candle format used everywhere downstream (DESIGN section 3): a UTC
``DatetimeIndex`` named ``timestamp`` holding each candle's OPEN time, sorted
and unique, and float64 columns ``open, high, low, close, volume``.

CSV files follow ``data/candles/README.md``: header
``timestamp,open,high,low,close,volume`` with epoch-millisecond timestamps,
plain or gzip-compressed. Validation never repairs silently: any bad row makes
the whole file fail with a message naming the file, the row and the field.
"""

from __future__ import annotations

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
    except KeyError:
        known = ", ".join(TIMEFRAME_MS)
        raise ValueError(f"unknown timeframe '{timeframe}' (known: {known})") from None


def read_candles_csv(path: str | Path) -> pd.DataFrame:
    """Read a candle CSV (plain or .gz) into a validated candle DataFrame.

    Row numbers in errors are 1-based file lines (line 1 is the header), so a
    user can open the file and go straight to the bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise CandleValidationError("file not found", source=str(path))
    try:
        raw = pd.read_csv(path, compression="infer")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise CandleValidationError(f"cannot parse CSV ({exc})", source=str(path)) from None
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
            raise CandleValidationError(
                f"not a finite number: {raw[col].iloc[pos]!r}", source=str(path), row=pos + 2, field=col
            )
        numeric[col] = values
    ts = numeric.pop("timestamp").astype("int64")
    frame = pd.DataFrame({col: numeric[col].astype("float64") for col in OHLCV_COLUMNS})
    frame.index = pd.DatetimeIndex(pd.to_datetime(ts.to_numpy(), unit="ms", utc=True), name="timestamp")
    return validate_candles(frame, source=str(path), row_offset=2)


def validate_candles(df: pd.DataFrame, *, source: str = "candles", row_offset: int = 0) -> pd.DataFrame:
    """Check a candle DataFrame against DESIGN section 3 and return it normalised.

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
