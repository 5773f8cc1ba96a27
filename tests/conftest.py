"""Shared fixtures: ``app``, ``db``, ``client``, ``runner`` and the bundled data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from app import create_app
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
