"""The script catalogue's FULLTEXT search on a real MySQL/MariaDB server.

Runs when TEST_MYSQL_URL points at a throw-away database (``.ci/run`` sets it);
skipped otherwise. Every table of that database is dropped first, then the
migrations build the schema (so the FULLTEXT indexes come from migration 0004).
"""

import json
import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.extensions import db
from app.services import catalogue
from config import TestingConfig
from tests.conftest import REPO_ROOT

MYSQL_URL = os.environ.get("TEST_MYSQL_URL")
pytestmark = pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL not set (no MySQL/MariaDB server)")
SAMPLE = REPO_ROOT / "data" / "scripts" / "sample_scripts.jsonl"


@pytest.fixture
def mysql_app(monkeypatch):
    engine = create_engine(MYSQL_URL)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE `{table}`"))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", MYSQL_URL)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()


def _search(**args):
    return catalogue.search_scripts(catalogue.parse_search_params(args))


def test_migration_creates_fulltext_indexes(mysql_app):
    indexes = {row[2]: row[10] for row in db.session.execute(text("SHOW INDEX FROM trading_scripts"))}
    assert {name: indexes.get(name) for name in ("ft_trading_scripts_title", "ft_trading_scripts_text")} == {
        "ft_trading_scripts_title": "FULLTEXT",
        "ft_trading_scripts_text": "FULLTEXT",
    }


def test_fulltext_search_ranks_title_above_description_on_mysql(mysql_app):
    lines = [
        {"slug": "in-description", "title": "Trend system", "description": "uses the vortex indicator", "likes": 9999},
        {"slug": "in-title", "title": "Vortex trend", "description": "a trend system", "likes": 1},
        {"slug": "unrelated", "title": "Momentum", "description": "nothing to see"},
    ]
    catalogue.import_jsonl([json.dumps({"author": "a", "script_type": "indicator", **line}) for line in lines])
    page = _search(query="vortex")
    assert [hit.slug for hit in page.hits] == ["in-title", "in-description"]
    assert page.hits[0].score > page.hits[1].score > 0


def test_sample_catalogue_search_filters_and_stats_on_mysql(mysql_app):
    first = catalogue.import_jsonl(str(SAMPLE))
    again = catalogue.import_jsonl(str(SAMPLE))
    assert (first.inserted, again.unchanged) == (15, 15)
    assert [h.slug for h in _search(query="macd ema").hits] == ["macd-ema-confluence", "macd-fast-scalper"]
    assert "bollinger-squeeze-breakout" in [h.slug for h in _search(query="bolli").hits]  # prefix of the last word
    assert [h.slug for h in _search(query="macd", script_type="indicator").hits] == ["macd-classic-momentum"]
    assert [h.slug for h in _search(indicator="obv", open_source="false").hits] == ["whale-flow-pro"]
    assert [h.likes for h in _search(sort="likes", limit="2").hits] == [1530, 1120]
    stats = catalogue.catalogue_stats()
    assert stats["total"] == 15 and stats["indicator_periods"]["macd"][0] == {"periods": "12/26/9", "scripts": 3}


@pytest.mark.parametrize("query", ['"', "*", "NEAR(ema", "-ema", "+", "'; DROP TABLE trading_scripts; --", "ma", "@2"])
def test_hostile_queries_on_mysql(mysql_app, query):
    catalogue.import_jsonl(str(SAMPLE))
    _search(query=query)
    assert catalogue.catalogue_stats()["total"] == 15
