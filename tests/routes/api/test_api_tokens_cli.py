"""``flask users token create/list/revoke`` and migration 0008 (api_tokens) up and down on SQLite and MariaDB."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db
from app.services.accounts import api_tokens, users
from tests.conftest import requires_mysql


def test_token_commands(runner, db):
    users.create_user(email="bot@example.com", password="password-123", tier="premium")
    created = runner.invoke(args=["users", "token", "create", "--email", "Bot@Example.com", "--name", "trading bot"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("cl_") and len(token) > 40
    user, row = api_tokens.authenticate(token)
    assert user.email == "bot@example.com" and row.name == "trading bot"
    assert row.token_hash != token and token not in (row.prefix, row.token_hash)
    listed = runner.invoke(args=["users", "token", "list", "--email", "bot@example.com"])
    assert "trading bot" in listed.output and "active" in listed.output and token not in listed.output
    revoked = runner.invoke(args=["users", "token", "revoke", "--email", "bot@example.com", "--id", str(row.id)])
    assert revoked.exit_code == 0 and api_tokens.authenticate(token) is None
    assert "revoked" in runner.invoke(args=["users", "token", "list", "--email", "bot@example.com"]).output


def test_token_commands_refuse_bad_input(runner, db):
    users.create_user(email="bot@example.com", password="password-123")
    for args, message in (
        (["create", "--email", "nobody@example.com", "--name", "x"], "no user"),
        (["create", "--email", "bot@example.com", "--name", "x" * 101], "token name"),
        (["revoke", "--email", "bot@example.com", "--id", "99"], "no token 99"),
    ):
        result = runner.invoke(args=["users", "token", *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output


def _round_trip() -> None:
    assert "api_tokens" in inspect(db.engine).get_table_names()
    db.session.remove()
    downgrade(revision="0007")
    assert "api_tokens" not in inspect(db.engine).get_table_names()
    upgrade()
    assert "api_tokens" in inspect(db.engine).get_table_names()


def test_migration_up_and_down_on_sqlite(migrated_app):
    _round_trip()


@requires_mysql
def test_migration_up_and_down_on_mysql(mysql_app):
    _round_trip()
