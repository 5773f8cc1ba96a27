"""The same schema and services on a real MySQL/MariaDB server.

Runs when TEST_MYSQL_URL points at a throw-away database (``.ci/run`` starts a
MariaDB server and sets it); skipped otherwise. Every table is dropped first.
"""

from sqlalchemy import inspect, select

from app.extensions import db
from app.models import OptimizationRun
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner
from tests.conftest import MYSQL_URL, drop_all_mysql_tables, requires_mysql
from tests.migrations.test_migrations import check_data_migration, check_full_round_trip

pytestmark = requires_mysql


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
        "optimization_slices",
        "user_parameter_sets",
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
    job = jobs.create_job(
        name="mysql quick",
        symbols=["ETH/USDT"],
        timeframes=["1d"],
        strategies=["imbalance", "order_block"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids="quick",
    )
    job = JobRunner(workers=2).run(job.id)
    assert job.status == "completed" and job.completed_runs == 12
    assert len(db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job.id)).all()) == 12
    assert JobRunner(workers=2).run(job.id).completed_runs == 12
    (best,) = results.best_params(symbol="ETH/USDT", strategy="order_block", min_trades=0)
    assert best["params"]["rr_target"] in (2.0, 2.5, 3.0)


def test_existing_data_migrates_down_and_up_on_mysql(monkeypatch):
    drop_all_mysql_tables()
    check_data_migration(MYSQL_URL, monkeypatch)


def test_downgrade_to_base_and_up_again_on_mysql(monkeypatch):
    drop_all_mysql_tables()
    check_full_round_trip(MYSQL_URL, monkeypatch)
