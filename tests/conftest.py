"""Shared fixtures: ``app``, ``db``, ``client``, ``runner``, the bundled candles and hand-built candles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.core.candles import read_candles_csv
from app.core.patterns import PatternArrays, PatternDetector, register_detector
from app.extensions import db as _db
from config import TestingConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DIR = REPO_ROOT / "data" / "candles"


@pytest.fixture
def app():
    """A fresh app on an empty in-memory database, inside an app context."""
    app = create_app(TestingConfig)
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        _db.drop_all()


@pytest.fixture
def migrated_app(tmp_path, monkeypatch):
    """An app on a fresh SQLite file built by the Alembic migrations (``flask db upgrade``), not create_all.

    For what needs the ``alembic_version`` table, such as ``/healthz``.
    """
    from flask_migrate import upgrade

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'migrated.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        yield app
        _db.session.remove()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def bundled_dir() -> Path:
    return BUNDLED_DIR


@pytest.fixture(scope="session")
def btc_1h() -> pd.DataFrame:
    """The bundled real BTC/USDT 1h candles."""
    return read_candles_csv(BUNDLED_DIR / "BTC_USDT-1h.csv.gz")


@pytest.fixture(scope="session")
def btc_4h() -> pd.DataFrame:
    """The bundled real BTC/USDT 4h candles (about 11k bars)."""
    return read_candles_csv(BUNDLED_DIR / "BTC_USDT-4h.csv.gz")


def make_candles(rows: list[tuple[float, float, float, float]], *, start: str = "2024-01-01", freq: str = "1h"):
    """Return a candle DataFrame (docs/design-rules.md) from (open, high, low, close) rows."""
    arr = np.asarray(rows, dtype=np.float64)
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0}, index=index
    )


STUB_TYPE = "imbalance"  # the stub replaces a real detector: the imbalance strategy looks its detector up per use


class StubDetector(PatternDetector):
    """Return the patterns in ``StubDetector.patterns`` (index, direction, zone_low, zone_high) as candidates."""

    pattern_type = STUB_TYPE
    patterns: list[tuple[int, int, float, float]] = []
    calls: list[dict] = []

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        rows = [p for p in type(self).patterns if p[0] < close.shape[0]]
        if not rows:
            return PatternArrays.empty()
        idx, dirs, lows, highs = zip(*rows, strict=True)
        return PatternArrays.from_arrays(index=idx, direction=dirs, zone_low=lows, zone_high=highs)

    def find(self, open_, high, low, close, *, min_zone_pct=None, use_overlap=True) -> PatternArrays:
        type(self).calls.append({"min_zone_pct": min_zone_pct, "use_overlap": use_overlap, "bars": len(close)})
        return super().find(open_, high, low, close, min_zone_pct=min_zone_pct, use_overlap=use_overlap)


@pytest.fixture
def stub_detector():
    """Register StubDetector for 'imbalance' for one test, then restore the production class."""
    StubDetector.patterns = []
    StubDetector.calls = []
    previous = register_detector(STUB_TYPE, StubDetector)
    try:
        yield StubDetector
    finally:
        register_detector(STUB_TYPE, previous)


# A real MySQL/MariaDB server for the tests that need one: .ci/run starts MariaDB and sets TEST_MYSQL_URL
# to a throw-away database; without it those tests skip (mark a module with ``pytestmark = requires_mysql``).
MYSQL_URL = os.environ.get("TEST_MYSQL_URL")
requires_mysql = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL not set (no MySQL/MariaDB server)")


def drop_all_mysql_tables() -> None:
    """Empty the throw-away MySQL database: every table dropped."""
    engine = create_engine(MYSQL_URL)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE `{table}`"))
    engine.dispose()


@pytest.fixture
def mysql_app(monkeypatch):
    """An app on the MySQL test database, emptied and migrated to head with Alembic, inside an app context."""
    from flask_migrate import upgrade

    drop_all_mysql_tables()
    monkeypatch.setenv("DATABASE_URL", MYSQL_URL)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        yield app
        _db.session.remove()
