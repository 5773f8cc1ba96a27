"""User accounts and the users CLI."""

import pytest
from sqlalchemy import select

from app.errors import ConflictError, ValidationError
from app.models import User
from app.services.accounts.users import create_user


def test_create_user_hashes_the_password(db):
    user = create_user(email="Ann@Example.com", password="correct horse", tier="premium")
    assert user.email == "ann@example.com"
    assert "correct horse" not in user.password_hash
    assert user.check_password("correct horse") and not user.check_password("wrong")
    assert user.is_premium and not user.is_admin


@pytest.mark.parametrize(
    ("email", "password", "tier", "error"),
    [
        ("not-an-email", "longenough", "free", "email"),
        ("a@b.co", "short", "free", "8 characters"),
        ("a@b.co", "longenough", "gold", "tier"),
    ],
)
def test_bad_input_is_refused(db, email, password, tier, error):
    with pytest.raises(ValidationError, match=error):
        create_user(email=email, password=password, tier=tier)
    assert db.session.scalars(select(User)).all() == []


def test_duplicate_email_is_refused(db):
    create_user(email="a@b.co", password="longenough")
    with pytest.raises(ConflictError):
        create_user(email="A@B.co", password="longenough")


def test_cli_creates_admin_without_echoing_the_password(runner, db):
    result = runner.invoke(
        args=["users", "create", "--email", "root@example.com", "--tier", "admin", "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    assert "s3cret-pass" not in result.output
    user = db.session.scalar(select(User).where(User.email == "root@example.com"))
    assert user.tier == "admin" and user.check_password("s3cret-pass")


def test_cli_prompts_for_the_password(runner, db):
    result = runner.invoke(args=["users", "create", "--email", "p@example.com"], input="pw-123456\npw-123456\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.email == "p@example.com")).check_password("pw-123456")


def test_cli_duplicate_exits_non_zero(runner, db):
    create_user(email="a@b.co", password="longenough")
    result = runner.invoke(args=["users", "create", "--email", "a@b.co", "--password", "longenough"])
    assert result.exit_code != 0 and "already exists" in result.output
