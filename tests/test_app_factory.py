"""The app factory and the configuration classes."""

import pytest

from app import create_app
from config import ConfigError, DevelopmentConfig, ProductionConfig, TestingConfig


def test_testing_config_uses_in_memory_sqlite(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(TestingConfig)
    assert app.config["TESTING"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


def test_development_defaults_to_sqlite_file_under_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app(DevelopmentConfig)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///") and "/instance/" in uri


@pytest.mark.parametrize("config_class", [DevelopmentConfig, TestingConfig])
def test_every_config_honours_database_url(monkeypatch, config_class):
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://user:pw@db.example/cryptolens")
    app = create_app(config_class)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "mysql+pymysql://user:pw@db.example/cryptolens"


def test_production_refuses_to_start_without_secrets(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY, DATABASE_URL"):
        create_app(ProductionConfig)
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app(ProductionConfig)


def test_production_starts_with_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    app = create_app(ProductionConfig)
    assert app.config["DEBUG"] is False
    assert app.config["SECRET_KEY"] == "s3cret"


def test_blueprints_and_cli_are_registered(app):
    assert "main" in app.blueprints
    assert {"candles", "users", "patterns", "optimize", "demo"} <= set(app.cli.commands)
    assert "candles" in app.cli.commands and "users" in app.cli.commands


def test_healthz_refuses_a_schema_built_without_migrations(client):
    # The ``app`` fixture builds tables with create_all (no alembic_version): not a deployable schema.
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["schema"] == "unversioned"


def test_admin_data_page_lists_candle_coverage(client, bundled_dir):
    from app.services.accounts.users import create_user
    from app.services.candles.candle_store import import_csv

    import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    create_user(email="admin@example.com", password="long enough", tier="admin")
    client.post("/login", data={"email": "admin@example.com", "password": "long enough"})
    page = client.get("/admin/data").get_data(as_text=True)
    assert "BTC/USDT" in page and "1825" in page


def test_unknown_api_path_gives_json_error(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
