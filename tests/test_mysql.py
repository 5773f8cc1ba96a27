"""The same schema and services on a real MySQL/MariaDB server.

Runs when TEST_MYSQL_URL points at a throw-away database (``.ci/run`` starts a
MariaDB server and sets it); skipped otherwise. Every table is dropped first.
"""

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, select, text

from app import create_app
from app.extensions import db
from app.models import OptimizationRun
from app.services import candle_store
from app.services.optimizer import ParameterOptimizer
from config import TestingConfig

MYSQL_URL = os.environ.get("TEST_MYSQL_URL")
pytestmark = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL not set (no MySQL/MariaDB server)")


@pytest.fixture
def mysql_app(monkeypatch):
    engine = create_engine(MYSQL_URL)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE `{table}`"))
    monkeypatch.setenv("DATABASE_URL", MYSQL_URL)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()


def test_upgrade_builds_every_table_on_mysql(mysql_app):
    tables = set(inspect(db.engine).get_table_names())
    assert tables >= {
        "users",
        "symbols",
        "candles",
        "patterns",
        "user_symbol_preferences",
        "optimization_jobs",
        "optimization_runs",
        "alembic_version",
    }
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("candles")}
    assert "DOUBLE" in str(columns["close"]["type"]).upper()


def test_candles_round_trip_exactly_on_mysql(mysql_app, bundled_dir):
    first = candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    again = candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    assert (first.inserted, again.inserted) == (1825, 0)
    frame = candle_store.load_candles("BTC/USDT", "1d")
    assert len(frame) == 1825
    assert frame.iloc[0].tolist() == [11080.64, 11080.64, 10723.0, 10920.28, 39157.92257]
    assert frame["close"].iloc[-1] == 117073.53


def test_quick_job_on_mysql(mysql_app, bundled_dir):
    candle_store.import_csv(bundled_dir / "ETH_USDT-1d.csv.gz", symbol="ETH/USDT", timeframe="1d")
    optimizer = ParameterOptimizer(workers=2)
    job = optimizer.create_job(
        "mysql quick", ["ETH/USDT"], ["1d"], ["imbalance", "order_block"], "2021-01-01", "2024-12-31", "quick"
    )
    job = optimizer.run_job(job.id)
    assert job.status == "completed" and job.completed_runs == 12
    assert len(db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job.id)).all()) == 12
    assert optimizer.run_job(job.id).completed_runs == 12
