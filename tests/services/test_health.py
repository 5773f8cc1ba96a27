"""``/healthz``: the database is reachable and its schema is at the migrations' head, else 503 saying why."""

from flask_migrate import downgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.services.health import migration_heads
from config import TestingConfig


def test_healthz_ok_at_head(migrated_app):
    response = migrated_app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["schema"] == "ok"
    assert body["revision"] in migration_heads()


def test_healthz_behind_head(migrated_app):
    downgrade(revision="0002")
    response = migrated_app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"], body["schema"]) == ("error", "ok", "behind")
    assert "at revision 0002" in body["detail"] and "flask db upgrade" in body["detail"]


def test_healthz_unknown_revision(migrated_app):
    db.session.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    db.session.commit()
    response = migrated_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["schema"] == "unknown"
    assert "from_the_future" in response.get_json()["detail"]


def test_healthz_no_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        response = app.test_client().get("/healthz")
        db.session.remove()
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["schema"]) == ("ok", "missing")
    assert "no tables" in body["detail"]


def test_healthz_database_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        response = app.test_client().get("/healthz")
        db.session.remove()
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"], body["schema"]) == ("error", "unreachable", "unknown")
