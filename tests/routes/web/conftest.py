"""Fixtures of the web tests: users of every tier, clients signed in as each, and a finished site."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app import create_app
from app.extensions import db as _db
from config import TestingConfig
from tests.routes.web.helpers import make_users, sign_in
from tests.routes.web.site import build_site


@pytest.fixture
def users(db):
    return make_users()


@pytest.fixture
def as_tier(app, users):
    """Return a function tier -> a test client signed in as that tier (None: anonymous)."""

    def client_for(tier: str | None):
        client = app.test_client()
        if tier is not None:
            assert sign_in(client, users[tier]).status_code == 302
        return client

    return client_for


class SiteConfig(TestingConfig):
    """The page tests sign in many times from one address."""

    LOGIN_RATE_LIMIT = "10000 per minute"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One app on a SQLite file with a finished QUICK job, patterns and signals, shared by a test module.

    ``site.client(tier)`` is a test client signed in as that tier (None: anonymous).
    """
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('site') / 'site.db'}")
    app = create_app(SiteConfig)
    with app.app_context():
        _db.create_all()
        built = build_site()

        def client(tier: str | None):
            test_client = app.test_client()
            if tier is not None:
                assert sign_in(test_client, built["users"][tier]).status_code == 302
            return test_client

        yield SimpleNamespace(app=app, client=client, **built)
        _db.session.remove()
        _db.drop_all()
    monkeypatch.undo()
