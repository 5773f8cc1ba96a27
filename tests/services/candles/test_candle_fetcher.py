"""Tests for the ccxt candle fetcher and ``flask candles fetch``; a fake exchange, never the network."""

from __future__ import annotations

import ccxt
import pytest
from sqlalchemy import func, select

from app.cli import candles_fetch
from app.errors import ValidationError
from app.extensions import db
from app.models import Candle, Symbol
from app.services.candles import candle_fetcher
from app.services.candles.candle_fetcher import CandleFetchError, FetchResult, fetch_candles, make_exchange
from app.services.candles.candle_store import last_stored_timestamp

H = 3_600_000  # one 1h candle in ms
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
EX = "fakex"


def make_rows(n: int, *, start: int = T0, step: int = H) -> list[list[float]]:
    """Return ``n`` valid ccxt rows [ms, o, h, l, c, v], one per ``step``."""
    rows = []
    for i in range(n):
        o = 100.0 + i
        rows.append([start + i * step, o, o + 2.0, o - 1.0, o + 1.0, 10.0 + i])
    return rows


class FakeExchange:
    """Mimic a ccxt exchange the way Binance paginates OHLCV.

    ``fetch_ohlcv`` returns at most ``min(limit, max_limit)`` candles opened at or
    after ``since`` (the most recent ones when ``since`` is None) and only candles
    that have opened by ``now``. From fetch call number ``fail_from_call``
    (0-based) on, each call pops and raises one exception from ``failures`` while
    any are left.
    """

    id = EX

    def __init__(
        self,
        rows: list[list[float]],
        *,
        now: int,
        markets: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
        failures: list[Exception] | None = None,
        fail_from_call: int = 0,
        enable_rate_limit: bool = True,
        rate_limit: int = 50,
        max_limit: int = 1000,
    ):
        self.rows = rows
        self.now = now
        self.markets = markets
        self.failures = list(failures or [])
        self.fail_from_call = fail_from_call
        self.enableRateLimit = enable_rate_limit
        self.rateLimit = rate_limit
        self.max_limit = max_limit
        self.timeframes = {tf: tf for tf in ("1m", "3m", "5m", "15m", "1h", "4h", "1d")}
        self.has = {"fetchOHLCV": True}
        self.calls: list[tuple[int | None, int | None]] = []  # (since, limit) of each fetch_ohlcv call
        self.market_loads = 0

    def milliseconds(self) -> int:
        return self.now

    def load_markets(self) -> dict:
        self.market_loads += 1
        return {name: {"symbol": name} for name in self.markets}

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        self.calls.append((since, limit))
        if len(self.calls) > self.fail_from_call and self.failures:
            raise self.failures.pop(0)
        if symbol not in self.markets:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        size = min(limit or 500, self.max_limit)
        opened = [list(r) for r in self.rows if r[0] <= self.now]
        if since is None:
            return opened[-size:]
        return [r for r in opened if r[0] >= since][:size]

    @property
    def sinces(self) -> list[int | None]:
        return [since for since, _ in self.calls]


class Sleeps(list):
    """An injected ``sleep`` that records delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def stored_stamps(symbol: str = "BTC/USDT", timeframe: str = "1h") -> list[int]:
    query = (
        select(Candle.timestamp)
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .where(Symbol.name == symbol, Symbol.exchange == EX, Candle.timeframe == timeframe)
        .order_by(Candle.timestamp)
    )
    return list(db.session.scalars(query))


def candle_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Candle))


def fetch(exchange: FakeExchange, **kwargs) -> FetchResult:
    kwargs.setdefault("symbol", "BTC/USDT")
    kwargs.setdefault("timeframe", "1h")
    kwargs.setdefault("sleep", Sleeps())
    return fetch_candles(exchange, **kwargs)


# 30 hourly candles; "now" is halfway through the last one, so 29 are closed.
ROWS = make_rows(30)
NOW = T0 + 29 * H + H // 2
CLOSED = [r[0] for r in ROWS[:29]]


# --- pagination and the open candle -----------------------------------------------------------


def test_full_pagination_stores_every_closed_candle_once(app):
    ex = FakeExchange(ROWS, now=NOW)
    result = fetch(ex, since_ms=T0, limit=10)

    assert stored_stamps() == CLOSED
    assert ex.sinces == [T0, T0 + 10 * H, T0 + 20 * H]
    assert all(limit == 10 for _, limit in ex.calls)
    assert (result.pages, result.fetched, result.inserted) == (3, 29, 29)
    assert (result.first_ms, result.last_ms) == (T0, T0 + 28 * H)
    assert result.first == "2024-01-01T00:00:00+00:00"


def test_pages_shorter_than_limit_do_not_end_the_fetch(app):
    ex = FakeExchange(ROWS, now=NOW, max_limit=7)  # the exchange silently caps limit at 7
    result = fetch(ex, since_ms=T0, limit=10)

    assert stored_stamps() == CLOSED
    assert ex.sinces == [T0 + k * 7 * H for k in range(5)]
    assert result.inserted == 29


def test_open_candle_is_never_stored(app):
    ex = FakeExchange(ROWS, now=NOW)
    fetch(ex, since_ms=T0, limit=1000)

    assert T0 + 29 * H not in stored_stamps()
    assert last_stored_timestamp("BTC/USDT", "1h", exchange=EX) == T0 + 28 * H


def test_candle_that_just_closed_is_stored(app):
    ex = FakeExchange(ROWS, now=T0 + 30 * H)  # candle 29 closed exactly now
    result = fetch(ex, since_ms=T0)

    assert stored_stamps() == [r[0] for r in ROWS]
    assert result.pages == 1  # the next candle cannot have closed: no extra request


def test_without_since_or_stored_candles_fetches_the_latest_page(app):
    ex = FakeExchange(ROWS, now=NOW)
    result = fetch(ex, limit=10)

    assert ex.sinces == [None]
    assert stored_stamps() == CLOSED[-9:]  # latest 10 rows minus the open one
    assert result.since_ms is None


def test_until_bounds_the_open_times_inclusively(app):
    ex = FakeExchange(ROWS, now=NOW)
    result = fetch(ex, since_ms=T0 + 2 * H, until_ms=T0 + 14 * H, limit=5)

    assert stored_stamps() == [T0 + k * H for k in range(2, 15)]
    assert ex.sinces == [T0 + 2 * H, T0 + 7 * H, T0 + 12 * H]
    assert result.last_ms == T0 + 14 * H


def test_progress_is_reported_per_stored_page(app):
    reports = []
    ex = FakeExchange(ROWS, now=NOW)
    fetch(ex, since_ms=T0, limit=10, progress=reports.append)

    assert [(r.page, r.fetched, r.first_ms, r.last_ms) for r in reports] == [
        (1, 10, T0, T0 + 9 * H),
        (2, 10, T0 + 10 * H, T0 + 19 * H),
        (3, 9, T0 + 20 * H, T0 + 28 * H),
    ]
    assert reports[0].expected_total == 29


# --- resume -----------------------------------------------------------------------------------


def test_resume_fetches_only_newer_candles(app):
    ex = FakeExchange(ROWS, now=T0 + 12 * H + H // 2)  # first run: 12 candles closed
    first = fetch(ex, since_ms=T0, limit=10)
    assert first.inserted == 12

    ex.now = NOW
    ex.calls.clear()
    second = fetch(ex, limit=10)  # no since: resume after the newest stored candle

    assert ex.sinces == [T0 + 12 * H, T0 + 22 * H]
    assert second.resumed_from_ms == T0 + 11 * H
    assert (second.fetched, second.inserted) == (17, 17)
    assert stored_stamps() == CLOSED


def test_since_older_than_stored_resumes_after_stored(app):
    ex = FakeExchange(ROWS, now=T0 + 12 * H + H // 2)
    fetch(ex, since_ms=T0)
    ex.now = NOW
    ex.calls.clear()

    result = fetch(ex, since_ms=T0 + 3 * H)

    assert ex.sinces == [T0 + 12 * H]
    assert result.fetched == result.inserted == 17


def test_since_newer_than_stored_is_honoured(app):
    ex = FakeExchange(ROWS, now=T0 + 5 * H + H // 2)
    fetch(ex, since_ms=T0)
    ex.now = NOW
    ex.calls.clear()

    fetch(ex, since_ms=T0 + 20 * H)

    assert ex.sinces == [T0 + 20 * H]
    assert stored_stamps() == CLOSED[:5] + CLOSED[20:]


def test_up_to_date_slice_makes_no_request(app):
    ex = FakeExchange(ROWS, now=NOW)
    fetch(ex, since_ms=T0)
    ex.calls.clear()

    result = fetch(ex)

    assert ex.calls == []
    assert (result.pages, result.fetched, result.inserted) == (0, 0, 0)


# --- retries and rate limit -------------------------------------------------------------------


def test_network_errors_are_retried_with_growing_backoff(app):
    failures = [ccxt.NetworkError("reset"), ccxt.RequestTimeout("timeout"), ccxt.RateLimitExceeded("429")]
    ex = FakeExchange(ROWS, now=NOW, failures=failures)
    sleeps = Sleeps()
    result = fetch(ex, since_ms=T0, limit=10, sleep=sleeps)

    assert sleeps == [1.0, 2.0, 4.0]  # ccxt throttles itself (enableRateLimit): backoff only
    assert ex.sinces == [T0] * 4 + [T0 + 10 * H, T0 + 20 * H]
    assert result.inserted == 29
    assert stored_stamps() == CLOSED


def test_giving_up_raises_a_clear_error_and_keeps_stored_pages(app):
    ex = FakeExchange(ROWS, now=NOW, failures=[ccxt.RequestTimeout("timed out")] * 10, fail_from_call=2)
    sleeps = Sleeps()
    with pytest.raises(CandleFetchError) as info:
        fetch(ex, since_ms=T0, limit=10, max_retries=3, sleep=sleeps)

    message = info.value.message
    assert "after 4 attempt(s)" in message
    assert "RequestTimeout" in message
    assert "BTC/USDT" in message and "2024-01-01T20:00:00+00:00" in message
    assert "20 candles" in message
    assert sleeps == [1.0, 2.0, 4.0]
    assert ex.sinces == [T0, T0 + 10 * H] + [T0 + 20 * H] * 4
    assert stored_stamps() == CLOSED[:20]
    assert info.value.details["inserted"] == 20


def test_non_network_error_fails_at_once(app):
    ex = FakeExchange(ROWS, now=NOW, failures=[ccxt.ExchangeError("maintenance: try later")])
    sleeps = Sleeps()
    with pytest.raises(CandleFetchError, match="ExchangeError: maintenance"):
        fetch(ex, since_ms=T0, sleep=sleeps)

    assert sleeps == []
    assert len(ex.calls) == 1
    assert candle_count() == 0


def test_bad_symbol_from_the_exchange_is_a_validation_error(app):
    ex = FakeExchange(ROWS, now=NOW, failures=[ccxt.BadSymbol("binance does not have market symbol XRP/EUR")])
    with pytest.raises(ValidationError, match="unknown symbol"):
        fetch(ex, since_ms=T0)
    assert len(ex.calls) == 1


def test_rate_limit_sleeps_between_calls_when_ccxt_does_not_throttle(app):
    ex = FakeExchange(ROWS, now=NOW, enable_rate_limit=False, rate_limit=250)
    sleeps = Sleeps()
    fetch(ex, since_ms=T0, limit=10, sleep=sleeps)

    # load_markets, then 3 fetch_ohlcv calls: a 0.25 s gap before each call after the first.
    assert ex.market_loads == 1 and len(ex.calls) == 3
    assert sleeps == [0.25, 0.25, 0.25]


def test_rate_limit_and_backoff_both_apply_without_throttle(app):
    ex = FakeExchange(ROWS, now=NOW, enable_rate_limit=False, rate_limit=250, failures=[ccxt.NetworkError("x")])
    sleeps = Sleeps()
    fetch(ex, since_ms=T0, limit=100, sleep=sleeps)

    assert sleeps == [0.25, 1.0, 0.25]


# --- validation -------------------------------------------------------------------------------


def test_unknown_symbol_is_rejected_before_fetching(app):
    ex = FakeExchange(ROWS, now=NOW)
    with pytest.raises(ValidationError, match="unknown symbol 'DOGE/USDT' on fakex"):
        fetch(ex, symbol="DOGE/USDT", since_ms=T0)

    assert ex.calls == []
    assert candle_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Symbol)) == 0


@pytest.mark.parametrize(
    ("timeframe", "fragment"),
    [("30m", "timeframe '30m' is not offered by fakex"), ("3m", "unknown timeframe '3m'"), ("1x", "unknown timeframe")],
)
def test_unknown_timeframe_is_rejected(app, timeframe, fragment):
    ex = FakeExchange(ROWS, now=NOW)
    with pytest.raises(ValidationError, match=fragment):
        fetch(ex, timeframe=timeframe, since_ms=T0)
    assert ex.calls == []
    assert candle_count() == 0


def test_malformed_symbol_is_rejected(app):
    ex = FakeExchange(ROWS, now=NOW)
    with pytest.raises(ValidationError, match="BASE/QUOTE"):
        fetch(ex, symbol="BTCUSDT", since_ms=T0)
    assert ex.calls == []


def test_unknown_exchange_is_rejected():
    with pytest.raises(ValidationError, match="unknown exchange 'nosuchexchange'"):
        make_exchange("nosuchexchange")


def test_make_exchange_turns_on_ccxt_rate_limiting():
    exchange = make_exchange("Binance")
    assert isinstance(exchange, ccxt.binance)
    assert exchange.enableRateLimit is True


def test_corrupt_row_names_the_row_and_stores_nothing_of_its_page(app):
    rows = make_rows(30)
    rows[13][2] = rows[13][3] - 5.0  # high below low in the second page (since T0+10h), position 3
    ex = FakeExchange(rows, now=NOW)
    with pytest.raises(ValidationError) as info:
        fetch(ex, since_ms=T0, limit=10)

    message = info.value.message
    assert "page 2" in message and "row 3" in message and "'high'" in message
    assert "2024-01-01T13:00:00+00:00" in message
    assert stored_stamps() == CLOSED[:10]


def test_missing_value_in_a_row_is_rejected(app):
    rows = make_rows(30)
    rows[4][5] = None  # ccxt gives None for unknown volume
    ex = FakeExchange(rows, now=NOW)
    with pytest.raises(ValidationError, match="'volume'"):
        fetch(ex, since_ms=T0, limit=10)
    assert candle_count() == 0


@pytest.mark.parametrize("bad_row", [[None, 1.0, 2.0, 0.5, 1.5, 3.0], [T0 + 12 * H, 1.0, 2.0]])
def test_row_without_open_time_or_fields_is_rejected(app, bad_row):
    rows = make_rows(30)
    rows[12] = bad_row
    ex = FakeExchange(rows, now=NOW)
    ex.fetch_ohlcv = lambda symbol, timeframe, since=None, limit=None: [list(r) for r in rows[10:20]]
    with pytest.raises(ValidationError, match="row 2"):
        fetch(ex, since_ms=T0 + 10 * H, limit=10)
    assert candle_count() == 0


def test_exchange_ignoring_since_stops_instead_of_looping(app):
    ex = FakeExchange(ROWS, now=NOW)
    ex.fetch_ohlcv = lambda symbol, timeframe, since=None, limit=None: [list(r) for r in ROWS[:5]]
    with pytest.raises(CandleFetchError, match="only candles before since"):
        fetch(ex, since_ms=T0, limit=5)
    assert stored_stamps() == CLOSED[:5]


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def fake_exchange(monkeypatch):
    ex = FakeExchange(ROWS, now=NOW)
    names = []

    def fake_make_exchange(name):
        names.append(name)
        return ex

    monkeypatch.setattr(candle_fetcher, "make_exchange", fake_make_exchange)
    ex.requested_names = names
    return ex


def test_cli_fetch_stores_and_prints_a_summary(app, fake_exchange):
    runner = app.test_cli_runner()
    result = runner.invoke(
        candles_fetch.fetch_command,
        ["--exchange", "fakex", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01", "--limit", "10"],
    )

    assert result.exit_code == 0, result.output
    assert fake_exchange.requested_names == ["fakex"]
    assert stored_stamps() == CLOSED
    assert "page 3: 9 candles" in result.output  # plain log lines: the runner's stdout is not a TTY
    assert "3 page(s), 29 candles fetched, 29 new" in result.output
    assert "first 2024-01-01T00:00:00+00:00, last 2024-01-02T04:00:00+00:00" in result.output


def test_cli_second_run_reports_up_to_date(app, fake_exchange):
    runner = app.test_cli_runner()
    args = ["--exchange", "fakex", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01"]
    assert runner.invoke(candles_fetch.fetch_command, args).exit_code == 0

    result = runner.invoke(candles_fetch.fetch_command, args)

    assert result.exit_code == 0, result.output
    assert "no new closed candles (newest stored candle 2024-01-02T04:00:00+00:00)" in result.output
    assert candle_count() == 29


def test_cli_unknown_symbol_fails_with_its_name(app, fake_exchange):
    runner = app.test_cli_runner()
    result = runner.invoke(candles_fetch.fetch_command, ["--symbol", "XRP/EUR", "--timeframe", "1h"])

    assert result.exit_code == 2  # bad input (docs/design-rules.md#exit-codes)
    assert "unknown symbol 'XRP/EUR'" in result.output
    assert fake_exchange.requested_names == ["binance"]  # config default
    assert candle_count() == 0


def test_cli_rejects_a_bad_since(app, fake_exchange):
    runner = app.test_cli_runner()
    result = runner.invoke(
        candles_fetch.fetch_command, ["--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "yesterday-ish"]
    )

    assert result.exit_code == 2
    assert "not a date/time" in result.output
    assert fake_exchange.calls == []


def test_cli_unknown_exchange_fails_clearly(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        candles_fetch.fetch_command, ["--exchange", "nope", "--symbol", "BTC/USDT", "--timeframe", "1h"]
    )

    assert result.exit_code == 2  # bad input (docs/design-rules.md#exit-codes)
    assert "unknown exchange 'nope'" in result.output
