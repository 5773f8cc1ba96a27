"""Shared fixtures: ``app``, ``db``, ``client``, ``runner`` and the bundled data paths."""

from __future__ import annotations

from pathlib import Path

import pytest

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
