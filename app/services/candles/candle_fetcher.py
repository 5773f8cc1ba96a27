"""Fetch candles from an exchange through ccxt and store them page by page.

This module is the only place that talks to ccxt. ``fetch_candles`` takes an
exchange OBJECT (``make_exchange`` builds a real one; tests pass a fake) and:

- validates the timeframe (the app's list and ``exchange.timeframes``) and the
  symbol (``exchange.load_markets()``) before fetching anything;
- resumes after the newest stored candle of the slice when no ``since_ms`` is
  given or when ``since_ms`` is older than that candle (so it never backfills
  history older than what is stored; with nothing stored and no ``since_ms`` it
  takes the exchange's latest page);
- paginates ``fetch_ohlcv(symbol, timeframe, since, limit)``: the next page
  starts one timeframe after the last closed candle received. A short page is
  NOT taken as the end (exchanges cap ``limit`` silently); the fetch stops when
  a page is empty, holds the still-open candle, or the next candle cannot have
  closed yet;
- never stores the still-open candle (open time + timeframe > now, with ``now``
  from ``exchange.milliseconds()`` read BEFORE the request, so every candle kept
  had closed before the exchange answered and its values are final);
- stores each page as it arrives through ``store_candles`` (validated, only new
  rows, one commit), so an interrupted fetch keeps the pages already stored and
  a bad page stores nothing of itself;
- retries ``ccxt.NetworkError`` (RequestTimeout, RateLimitExceeded,
  ExchangeNotAvailable, ...) with exponential backoff, a bounded number of
  times, then raises ``CandleFetchError``; any other ccxt error fails at once.

Rate limit: exchanges built by ``make_exchange`` have ``enableRateLimit=True``,
so ccxt's own throttle spaces requests ``exchange.rateLimit`` ms apart and we
do not sleep again (that would double the wait). Only when an exchange object
has ``enableRateLimit`` off do we sleep ``rateLimit`` ms before each request
after the first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import ccxt
import pandas as pd

from app.core.candles import CandleValidationError, candles_from_rows, check_storable, timeframe_ms
from app.errors import AppError, ValidationError
from app.services.candles.candle_store import StoreResult, check_symbol_name, last_stored_timestamp, store_candles

# Backoff before retry n (0-based) is BACKOFF_BASE_S * 2**n seconds, capped at BACKOFF_MAX_S.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0

logger = logging.getLogger(__name__)


class CandleFetchError(AppError):
    """The exchange could not deliver candles (gave up retrying, or it refused the request).

    ``details`` holds the progress made before the failure (pages already stored stay stored).
    """

    status_code = 502
    exit_code = 1  # the exchange failed: re-running resumes
    code = "fetch_error"


@dataclass
class FetchResult:
    """What one fetch did: requests made, closed candles received, new rows stored."""

    exchange: str
    symbol: str
    timeframe: str
    since_ms: int | None = None  # where fetching started (after resume); None = exchange's latest page
    resumed_from_ms: int | None = None  # newest stored open time when the fetch started
    pages: int = 0  # successful fetch_ohlcv requests
    fetched: int = 0  # closed candles received (and handed to store_candles)
    inserted: int = 0  # of those, candles not stored before
    first_ms: int | None = None  # open time of the first closed candle received
    last_ms: int | None = None  # open time of the last closed candle received

    @property
    def first(self) -> str | None:
        return _iso(self.first_ms)

    @property
    def last(self) -> str | None:
        return _iso(self.last_ms)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "first": self.first, "last": self.last}


@dataclass(frozen=True)
class PageReport:
    """Progress after one stored page, for a progress bar or a log line."""

    page: int
    since_ms: int | None
    fetched: int  # closed candles in this page
    inserted: int  # of those, new
    first_ms: int  # open time of the page's first stored candle
    last_ms: int
    expected_total: int | None  # rough count of closed candles from the start to now (gaps make it high)
    result: FetchResult


def make_exchange(name: str) -> ccxt.Exchange:
    """Build the ccxt exchange called ``name`` with ccxt's own rate limiting on."""
    key = name.strip().lower()
    if key not in ccxt.exchanges:
        raise ValidationError(f"unknown exchange '{name}' (ccxt knows e.g. binance, bybit, kraken, okx)")
    return getattr(ccxt, key)({"enableRateLimit": True})


def fetch_candles(
    exchange: Any,
    *,
    symbol: str,
    timeframe: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 1000,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[PageReport], None] | None = None,
) -> FetchResult:
    """Fetch closed candles of ``symbol``/``timeframe`` from ``exchange`` and store them.

    ``since_ms``/``until_ms`` bound candle OPEN times (epoch ms, both inclusive).
    ``max_retries`` is the number of retries after a network error (attempts =
    max_retries + 1). ``sleep`` is injectable so tests record delays instead of
    waiting. Raises ValidationError for a bad symbol/timeframe or a corrupt page,
    CandleFetchError when the exchange fails; pages stored before stay stored.
    """
    if limit < 1:
        raise ValidationError(f"limit must be at least 1, not {limit}")
    if max_retries < 0:
        raise ValidationError(f"max_retries must be 0 or more, not {max_retries}")
    symbol = check_symbol_name(symbol)
    tf_ms = _check_timeframe(exchange, timeframe)
    name = str(getattr(exchange, "id", None) or type(exchange).__name__).lower()
    result = FetchResult(exchange=name, symbol=symbol, timeframe=timeframe)
    caller = _Caller(exchange, max_retries=max_retries, sleep=sleep, result=result)

    if getattr(exchange, "has", {}).get("fetchOHLCV", True) is False:
        raise ValidationError(f"exchange '{name}' does not offer OHLCV candles")
    _check_symbol(exchange, caller, symbol, name)

    result.resumed_from_ms = last_stored_timestamp(symbol, timeframe, exchange=name)
    cursor = since_ms
    if result.resumed_from_ms is not None:
        resume = result.resumed_from_ms + tf_ms
        if cursor is None or cursor < resume:
            cursor = resume
    result.since_ms = cursor
    where = f"{name} {symbol} {timeframe}"

    while until_ms is None or cursor is None or cursor <= until_ms:
        now = int(exchange.milliseconds())
        if cursor is not None and cursor + tf_ms > now:
            break  # the next candle has not closed yet: up to date
        rows = caller.call(
            "fetch_ohlcv", f"fetch_ohlcv {where} since {_iso(cursor)}", symbol, timeframe, since=cursor, limit=limit
        )
        result.pages += 1
        if not rows:
            break
        source = f"{where} page {result.pages} (since {_iso(cursor)})"
        try:
            _check_row_shapes(rows, source=source)
            frame = candles_from_rows(rows, source=source)
            # The same rules store_candles applies, here so the error names the page and candle.
            check_storable(frame, timeframe=timeframe, source=source)
        except ValueError as exc:
            raise ValidationError(_page_error(exc, rows, result), details=result.to_dict()) from None
        stamps = frame.index.as_unit("ms").asi8
        keep = stamps + tf_ms <= now
        if cursor is not None:
            keep &= stamps >= cursor  # some exchanges also return the candle containing `since`
        if until_ms is not None:
            keep &= stamps <= until_ms
        closed = frame[keep]
        if len(closed):
            stored = store_candles(closed, symbol=symbol, timeframe=timeframe, exchange=name, source=source)
            page_stamps = stamps[keep]
            result.fetched += len(closed)
            result.inserted += stored.inserted
            result.first_ms = int(page_stamps[0]) if result.first_ms is None else result.first_ms
            result.last_ms = int(page_stamps[-1])
            if progress is not None:
                progress(_report(result, page_stamps, cursor=cursor, now=now, tf_ms=tf_ms, stored=stored))
        last_open = int(stamps[-1])
        if last_open + tf_ms > now or (until_ms is not None and last_open >= until_ms):
            break  # reached the still-open candle or the end of the range
        if cursor is not None and last_open < cursor:
            raise CandleFetchError(
                f"{where}: exchange returned only candles before since={_iso(cursor)}; stopping to avoid a loop; "
                f"{_progress_text(result)}",
                details=result.to_dict(),
            )
        cursor = last_open + tf_ms
    logger.info(
        "fetched %s: %d page(s), %d closed candles, %d new (%s .. %s)",
        where,
        result.pages,
        result.fetched,
        result.inserted,
        result.first,
        result.last,
    )
    return result


class _Caller:
    """Call exchange methods with pacing (when ccxt does not throttle) and network retries."""

    def __init__(self, exchange: Any, *, max_retries: int, sleep: Callable[[float], None], result: FetchResult):
        self.exchange = exchange
        self.max_retries = max_retries
        self.sleep = sleep
        self.result = result
        self.calls = 0
        # With enableRateLimit ccxt sleeps inside each request; pacing again would double the wait.
        throttled = bool(getattr(exchange, "enableRateLimit", False))
        self.pace_s = 0.0 if throttled else max(float(getattr(exchange, "rateLimit", 0) or 0), 0.0) / 1000

    def call(self, method: str, what: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(self.max_retries + 1):
            if self.calls and self.pace_s:
                self.sleep(self.pace_s)
            self.calls += 1
            try:
                return getattr(self.exchange, method)(*args, **kwargs)
            except ccxt.NetworkError as exc:
                if attempt == self.max_retries:
                    raise CandleFetchError(
                        f"{what} failed after {attempt + 1} attempt(s): {type(exc).__name__}: {exc}; "
                        f"{_progress_text(self.result)}",
                        details=self.result.to_dict(),
                    ) from exc
                # The pacing sleep before the next call also runs, so the gap is never below rateLimit.
                self.sleep(min(BACKOFF_BASE_S * 2**attempt, BACKOFF_MAX_S))
            except ccxt.BadSymbol as exc:
                raise ValidationError(f"{what}: unknown symbol ({exc})", details=self.result.to_dict()) from exc
            except ccxt.BaseError as exc:
                raise CandleFetchError(
                    f"{what} failed: {type(exc).__name__}: {exc}; {_progress_text(self.result)}",
                    details=self.result.to_dict(),
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _check_timeframe(exchange: Any, timeframe: str) -> int:
    try:
        tf_ms = timeframe_ms(timeframe)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    supported = getattr(exchange, "timeframes", None)
    if supported and timeframe not in supported:
        name = getattr(exchange, "id", "exchange")
        raise ValidationError(f"timeframe '{timeframe}' is not offered by {name} (it has: {', '.join(supported)})")
    return tf_ms


def _check_symbol(exchange: Any, caller: _Caller, symbol: str, name: str) -> None:
    if not callable(getattr(exchange, "load_markets", None)):
        return
    markets = caller.call("load_markets", f"load_markets {name}")
    if markets and symbol not in markets:
        raise ValidationError(f"unknown symbol '{symbol}' on {name}")


def _check_row_shapes(rows: list, *, source: str) -> None:
    """Reject rows candles_from_rows cannot index: wrong length or a missing/non-numeric open time."""
    for pos, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) < 6:
            raise CandleValidationError(f"expected [timestamp, o, h, l, c, v], got {row!r}", source=source, row=pos)
        stamp = row[0]
        if isinstance(stamp, bool) or not isinstance(stamp, numbers.Real) or not math.isfinite(stamp):
            raise CandleValidationError(f"bad open time {stamp!r}", source=source, row=pos, field="timestamp")


def _page_error(exc: ValueError, rows: list, result: FetchResult) -> str:
    """Name the bad row by its page position AND its open time, plus what was already stored."""
    message = str(exc)
    row = getattr(exc, "row", None)
    if row is not None and 0 <= row < len(rows):
        with contextlib.suppress(TypeError, ValueError, IndexError):  # the bad field may be the timestamp
            message += f" (candle opened {_iso(int(rows[row][0]))})"
    return f"{message}; nothing of this page stored; {_progress_text(result)}"


def _progress_text(result: FetchResult) -> str:
    if not result.fetched:
        return "nothing stored by this fetch"
    return (
        f"{result.pages} page(s) with {result.fetched} candles ({result.inserted} new) "
        f"stored up to {result.last}; re-run to resume"
    )


def _report(result: FetchResult, page_stamps, *, cursor: int | None, now: int, tf_ms: int, stored: StoreResult):
    start = result.since_ms if result.since_ms is not None else result.first_ms
    expected = max((now - start) // tf_ms, result.fetched) if start is not None else None
    return PageReport(
        page=result.pages,
        since_ms=cursor,
        fetched=len(page_stamps),
        inserted=stored.inserted,
        first_ms=int(page_stamps[0]),
        last_ms=int(page_stamps[-1]),
        expected_total=expected,
        result=result,
    )


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()
