"""``flask outcomes replay``: the table, idempotence, and bad input exits 2 with nothing written."""

import pytest
from sqlalchemy import func, select

from app.core.candles import read_candles_csv
from app.models import SetupOutcome
from app.services.candles import candle_store


@pytest.fixture
def stored(db, bundled_dir):
    candles = read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz")
    candle_store.store_candles(candles, symbol="BTC/USDT", timeframe="1d")
    return candles


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(SetupOutcome))


def test_replay_prints_per_strategy_and_a_rerun_adds_nothing(runner, db, stored):
    args = ["outcomes", "replay", "--symbol", "BTC/USDT", "--timeframe", "1d", "--from", "2024-01-01", "--step", "30"]
    result = runner.invoke(args=[*args, "--strategies", "imbalance,macd"])
    assert result.exit_code == 0, result.output
    assert "replayed BTC/USDT 1d 2024-01-" in result.output
    assert "imbalance" in result.output and "macd" in result.output
    first = _count(db)
    assert first > 0
    again = runner.invoke(args=[*args, "--strategies", "imbalance,macd"])
    assert again.exit_code == 0 and _count(db) == first


@pytest.mark.parametrize(
    "extra",
    [
        ["--symbol", "NOPE/USDT", "--timeframe", "1d", "--from", "2024-01-01"],
        ["--symbol", "BTC/USDT", "--timeframe", "1d", "--from", "yesterday-ish"],
        ["--symbol", "BTC/USDT", "--timeframe", "9q", "--from", "2024-01-01"],
        ["--symbol", "BTC/USDT", "--timeframe", "1d", "--from", "2024-01-01", "--step", "0"],
        ["--symbol", "BTC/USDT", "--timeframe", "1d", "--from", "2024-01-01", "--strategies", "nope"],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(runner, db, stored, extra):
    result = runner.invoke(args=["outcomes", "replay", *extra])
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output
    assert _count(db) == 0
