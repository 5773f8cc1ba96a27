"""Fixtures of the web tests: users of every tier and a test client signed in as each."""

from __future__ import annotations

import pytest

from tests.web.helpers import make_users, sign_in


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
