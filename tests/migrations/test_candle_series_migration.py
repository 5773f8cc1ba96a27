"""Migration 0004 (candle_series) fills the summary from candles stored before it existed (SQLite)."""

from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.services.candles import candle_store


def test_upgrade_backfills_and_downgrade_drops(migrated_app, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    candle_store.import_csv(bundled_dir / "ETH_USDT-1d.csv.gz", symbol="ETH/USDT", timeframe="1d")
    expected = candle_store.coverage()
    assert [(r["symbol"], r["gaps"], r["missing_bars"]) for r in expected] == [
        ("BTC/USDT", 10, 20),
        ("ETH/USDT", 0, 0),
    ]
    db.session.remove()
    downgrade(revision="0002")
    upgrade()
    assert candle_store.coverage() == expected
