"""The indicator strategies' production path: signals published with levels, idempotent, pending then entered."""

import numpy as np
import pytest
from sqlalchemy import func, select

from app.core.candles import read_candles_csv
from app.evaluation.backtest import market_arrays
from app.models import Signal
from app.services.candles import candle_store
from app.services.scanning import setups, signal_scanner
from app.strategies import INDICATOR, get_strategy, strategy_names


@pytest.fixture
def btc_daily(db, bundled_dir):
    return candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Signal))


@pytest.mark.parametrize("strategy", strategy_names(INDICATOR))
def test_scan_publishes_exactly_the_strategys_setups_with_levels(db, btc_daily, bundled_dir, strategy):
    report = signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy=strategy)
    stored = db.session.scalars(select(Signal).where(Signal.strategy == strategy).order_by(Signal.signal_at)).all()
    candles = read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz")
    chosen = get_strategy(strategy)
    setups = chosen.setups(market_arrays(candles), chosen.space.defaults)
    final = np.isfinite(setups.entry)
    assert report.candles == len(candles) and sum(report.new_by_direction.values()) == len(stored) > 0
    entered = [s for s in stored if s.status == "entered"]
    assert len(entered) == int(final.sum())
    np.testing.assert_allclose([s.entry for s in entered], setups.entry[final])
    np.testing.assert_allclose([s.tp2 for s in entered], setups.target[final])
    for s in stored:
        sign = 1 if s.direction == "long" else -1
        assert sign * (s.entry - s.stop_loss) > 0
        assert s.tp1 == pytest.approx(s.entry + sign * abs(s.entry - s.stop_loss))
        assert sign * (s.tp3 - s.tp2) > 0
    # Again on the same candles: nothing new, nothing changed.
    again = signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy=strategy)
    assert sum(again.new_by_direction.values()) == 0 and again.entered == 0 and _count(db) == len(stored)


def test_a_signal_on_the_newest_candle_is_pending_then_entered(db, bundled_dir):
    candles = read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz")
    setups = get_strategy("macd").setups(market_arrays(candles), get_strategy("macd").space.defaults)
    k = int(setups.index[len(setups) // 2])  # a bar where a signal fires
    candle_store.store_candles(candles.iloc[: k + 1], symbol="BTC/USDT", timeframe="1d")
    signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy="macd")
    newest = db.session.scalars(select(Signal).order_by(Signal.signal_at.desc())).first()
    assert newest.status == "pending" and newest.entry == pytest.approx(candles["close"].iloc[k])
    candle_store.store_candles(candles.iloc[: k + 2], symbol="BTC/USDT", timeframe="1d")
    report = signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy="macd")
    db.session.refresh(newest)
    assert report.entered == 1 and newest.status == "entered"
    assert newest.entry == pytest.approx(candles["open"].iloc[k + 1])


def test_the_scan_command_covers_signals(db, btc_daily, runner):
    result = runner.invoke(args=["patterns", "scan", "--symbol", "BTC/USDT", "--timeframe", "1d"])
    assert result.exit_code == 0, result.output
    assert f"new signals: {_count(db)}" in result.output and _count(db) > 0
    assert {s["strategy"] for s in setups.list_signals(limit=500)["rows"]} == set(strategy_names(INDICATOR))
