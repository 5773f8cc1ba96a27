"""The production path: detect(), the scanner, status transitions and duplicate analysis."""

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from app.core.candles import candles_from_rows, read_candles_csv
from app.core.patterns import get_detector
from app.models import Pattern
from app.services.candles import candle_store
from app.services.scanning import pattern_scanner
from app.services.scanning.pattern_duplicates import count_overlapping_pairs, duplicate_report
from app.strategies import PATTERN, strategy_names


def _pattern_count(db, **filters) -> int:
    query = select(func.count()).select_from(Pattern)
    for name, value in filters.items():
        query = query.where(getattr(Pattern, name) == value)
    return db.session.scalar(query)


def _identity(p):
    return (p.pattern_type, p.direction, p.detected_at, round(p.zone_low, 8), round(p.zone_high, 8))


@pytest.fixture
def btc_daily(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    return read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz")


@pytest.mark.parametrize("pattern_type", strategy_names(PATTERN))
def test_detect_stores_exactly_what_detect_historical_finds(db, btc_daily, pattern_type):
    detector = get_detector(pattern_type)
    stored = pattern_scanner.scan_detector(detector, symbol="BTC/USDT", timeframe="1d")
    expected = detector.detect_historical(btc_daily)
    assert len(stored) == len(expected) > 10
    assert [_identity(p) for p in stored] == [
        (
            pattern_type,
            e["direction"],
            e["detected_at"].tz_localize(None).to_pydatetime(),
            round(e["zone_low"], 8),
            round(e["zone_high"], 8),
        )
        for e in expected
    ]
    # Every stored setup carries production levels on the right side of the zone.
    for p in stored:
        if p.entry is None:
            continue
        if p.direction == "bullish":
            assert p.stop_loss < p.zone_low <= p.entry < p.tp1 < p.tp2 <= p.tp3
        else:
            assert p.stop_loss > p.zone_high >= p.entry > p.tp1 > p.tp2 >= p.tp3


def test_detect_twice_adds_nothing(db, btc_daily):
    detector = get_detector("imbalance")
    first = pattern_scanner.scan_detector(detector, symbol="BTC/USDT", timeframe="1d")
    statuses = dict(map(tuple, db.session.execute(select(Pattern.id, Pattern.status))))
    assert pattern_scanner.scan_detector(detector, symbol="BTC/USDT", timeframe="1d") == []
    assert _pattern_count(db) == len(first)
    assert dict(map(tuple, db.session.execute(select(Pattern.id, Pattern.status)))) == statuses


def test_incremental_scans_equal_one_scan_of_all_history(db, btc_daily, app):
    """Production scanning hour by hour ends where a backtest over the same candles ends."""
    detector = get_detector("order_block")
    half = len(btc_daily) // 2
    candle_store.store_candles(btc_daily.iloc[half:], symbol="ETH/USDT", timeframe="1d")  # noise in another slice
    candle_store.store_candles(btc_daily.iloc[:half], symbol="XBT/USDT", timeframe="1d")
    pattern_scanner.scan_detector(detector, symbol="XBT/USDT", timeframe="1d")
    candle_store.store_candles(btc_daily, symbol="XBT/USDT", timeframe="1d")
    pattern_scanner.scan_detector(detector, symbol="XBT/USDT", timeframe="1d")
    incremental = sorted(
        _identity(p) for p in db.session.scalars(select(Pattern).where(Pattern.symbol.has(name="XBT/USDT")))
    )
    one_shot = sorted(_identity(p) for p in pattern_scanner.scan_detector(detector, symbol="BTC/USDT", timeframe="1d"))
    assert incremental == one_shot


def _flat_candles(n: int, price: float = 100.0) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    values = np.full(n, price)
    return pd.DataFrame({"open": values, "high": values, "low": values, "close": values, "volume": 1.0}, index=index)


def test_status_transitions(db):
    candles = _flat_candles(150)
    candle_store.store_candles(candles, symbol="FLAT/USDT", timeframe="1h")
    symbol_id = candle_store.find_symbol("FLAT/USDT").id
    at = [t.tz_localize(None).to_pydatetime() for t in candles.index]
    zones = {
        "invalidated": ("bullish", 101.0, 102.0, 2),  # the next close (100) is below the zone
        "expired": ("bullish", 90.0, 95.0, 10),  # never touched, older than 100 bars
        "mitigated": ("bullish", 99.5, 100.0, 140),  # the next low (100) trades into the zone
        "active": ("bearish", 105.0, 106.0, 100),  # untouched, 49 bars old
    }
    for direction, low, high, bar in zones.values():
        db.session.add(
            Pattern(
                symbol_id=symbol_id,
                timeframe="1h",
                pattern_type="imbalance",
                direction=direction,
                zone_low=low,
                zone_high=high,
                detected_at=at[bar],
                status="active",
            )
        )
    db.session.commit()
    reports = pattern_scanner.scan(symbol="FLAT/USDT", timeframe="1h")
    got = {p.detected_at: p.status for p in db.session.scalars(select(Pattern))}
    assert {status: got[at[bar]] for status, (*_, bar) in zones.items()} == {s: s for s in zones}
    imbalance = next(r for r in reports if r.pattern_type == "imbalance")
    assert dict(imbalance.status_changes) == {"invalidated": 1, "expired": 1, "mitigated": 1}
    invalidated = db.session.scalar(select(Pattern).where(Pattern.status == "invalidated"))
    assert invalidated.status_changed_at == at[3]


def test_new_zone_overlapping_a_stored_active_pattern_is_dropped(db, btc_daily):
    detector = get_detector("imbalance")
    first = detector.detect_historical(btc_daily)[5]
    symbol_id = candle_store.find_symbol("BTC/USDT").id
    # An active pattern stored earlier (say under other parameters) covering the same zone.
    db.session.add(
        Pattern(
            symbol_id=symbol_id,
            timeframe="1d",
            pattern_type="imbalance",
            direction=first["direction"],
            zone_low=first["zone_low"],
            zone_high=first["zone_high"],
            detected_at=(first["detected_at"] - pd.Timedelta(days=1)).tz_localize(None).to_pydatetime(),
            status="active",
        )
    )
    db.session.commit()
    _, report = pattern_scanner.scan_slice(detector, symbol="BTC/USDT", timeframe="1d")
    assert report.skipped_overlap >= 1
    assert _pattern_count(db, detected_at=first["detected_at"].tz_localize(None).to_pydatetime()) == 0


def test_count_overlapping_pairs():
    low = np.array([100.0, 100.5, 110.0, 100.0])
    high = np.array([110.0, 110.0, 120.0, 101.0])
    # (0,1): 9.5 of the smaller 9.5 -> yes; (0,3): 1 of 1 -> yes; (1,3): 0.5 of 1 -> no; (0,2),(1,2): edge only -> no
    assert count_overlapping_pairs(low, high, threshold=0.7) == 2


def test_scan_and_duplicates_cli(runner, db, btc_daily):
    result = runner.invoke(args=["patterns", "scan", "--symbol", "BTC/USDT", "--timeframe", "1d"])
    assert result.exit_code == 0, result.output
    assert "imbalance" in result.output and "order_block" in result.output and "liquidity_sweep" in result.output
    total = _pattern_count(db)
    assert f"new patterns: {total}" in result.output
    again = runner.invoke(args=["patterns", "scan", "--symbol", "BTC/USDT", "--timeframe", "1d"])
    assert "new patterns: 0" in again.output
    report = duplicate_report()
    assert sum(row["patterns"] for row in report) == total
    dup = runner.invoke(args=["patterns", "duplicates"])
    assert dup.exit_code == 0 and "BTC/USDT" in dup.output


def test_scan_unknown_symbol_fails_cleanly(runner, db):
    result = runner.invoke(args=["patterns", "scan", "--symbol", "NOPE/USDT", "--timeframe", "1d"])
    assert result.exit_code != 0 and "unknown symbol 'NOPE/USDT'" in result.output


def test_scan_with_fetch_pulls_the_latest_candles_first(db, monkeypatch):
    from app.services.candles import candle_fetcher
    from tests.services.candles.test_candle_fetcher import T0, FakeExchange, H, make_rows

    class FakeBinance(FakeExchange):
        id = "binance"

    rows = make_rows(400)
    candle_store.store_candles(candles_from_rows(rows[:300]), symbol="BTC/USDT", timeframe="1h", exchange="binance")
    exchange = FakeBinance(rows, now=T0 + 400 * H)
    monkeypatch.setattr(candle_fetcher, "make_exchange", lambda name: exchange)
    messages = []
    pattern_scanner.scan(symbol="BTC/USDT", timeframe="1h", fetch=True, log=messages.append)
    assert exchange.sinces[0] == T0 + 300 * H  # resumed after the newest stored candle
    assert len(candle_store.load_candles("BTC/USDT", "1h")) == 400
    assert messages and "fetched BTC/USDT 1h from binance" in messages[0]
