"""Candle validation, coverage summaries, users and /healthz on a real MySQL/MariaDB server.

Runs when TEST_MYSQL_URL points at a throw-away database; skipped otherwise.
Every table of that database is dropped first.
"""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select

from app.core.candles import find_gaps, read_candles_csv
from app.errors import ValidationError
from app.extensions import db
from app.models import Candle, CandleSeries, Symbol, User
from app.services.accounts.users import create_user
from app.services.candles import candle_store
from tests.conftest import requires_mysql

pytestmark = requires_mysql


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_300_character_email_is_refused_before_mysql_sees_it(mysql_app):
    with pytest.raises(ValidationError, match="too long"):
        create_user(email="a" * 290 + "@example.com", password="longenough")
    result = mysql_app.test_cli_runner().invoke(
        args=["users", "create", "--email", "b" * 290 + "@example.com", "--password", "longenough"]
    )
    assert result.exit_code == 2 and result.stderr.startswith("Error: email address too long")
    assert _count(User) == 0


def test_series_summary_on_mysql_equals_a_full_recount(mysql_app, bundled_dir):
    frame = read_candles_csv(bundled_dir / "BTC_USDT-1h.csv.gz")
    candle_store.store_candles(frame.iloc[20_000:], symbol="BTC/USDT", timeframe="1h")
    candle_store.store_candles(frame.iloc[:30_000], symbol="BTC/USDT", timeframe="1h")
    (row,) = candle_store.coverage()
    gaps = find_gaps(frame.index, "1h")
    assert (row["count"], row["gaps"], row["missing_bars"]) == (43_803, len(gaps), sum(g[2] for g in gaps))
    assert (row["gaps"], row["missing_bars"]) == (10, 20)


def test_folder_import_is_all_or_nothing_on_mysql(mysql_app, bundled_dir, tmp_path):
    (tmp_path / "BTC_USDT-1d.csv.gz").write_bytes((bundled_dir / "BTC_USDT-1d.csv.gz").read_bytes())
    (tmp_path / "ETH_USDT-4h.csv.gz").write_bytes((bundled_dir / "ETH_USDT-1h.csv.gz").read_bytes())
    result = mysql_app.test_cli_runner().invoke(args=["candles", "import-bundled", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "typically 1h apart, not 4h" in result.stderr
    assert (_count(Symbol), _count(Candle), _count(CandleSeries)) == (0, 0, 0)


def test_migration_backfills_the_series_summary_on_mysql(mysql_app, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    candle_store.import_csv(bundled_dir / "ETH_USDT-1d.csv.gz", symbol="ETH/USDT", timeframe="1d")
    expected = candle_store.coverage()
    db.session.remove()
    downgrade(revision="0002")
    upgrade()
    assert candle_store.coverage() == expected


def test_healthz_on_mysql(mysql_app):
    client = mysql_app.test_client()
    assert client.get("/healthz").status_code == 200
    db.session.remove()  # a real request ends its session; here the fixture's app context outlives it
    downgrade(revision="0002")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["schema"] == "behind"
