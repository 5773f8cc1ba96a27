"""User accounts."""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import AlreadyExistsError, NotFoundError, ValidationError
from app.extensions import db
from app.models import User
from app.models.user import TIERS

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# RFC 5321 caps an address at 254 characters (the column holds 255); checked here so MySQL never sees it.
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 8
# Longer passwords only slow the hash down; nobody types more.
MAX_PASSWORD_LENGTH = 1024
WRONG_CREDENTIALS = "wrong email or password"


def create_user(*, email: str, password: str, tier: str = "free") -> User:
    """Create a user with a hashed password; refuse bad input and duplicate emails."""
    email = check_email(email)
    if tier not in TIERS:
        raise ValidationError(f"tier must be one of {', '.join(TIERS)}, not '{tier}'")
    check_password(password)
    if db.session.scalar(select(User).where(User.email == email)):
        raise AlreadyExistsError(f"a user with email '{email}' already exists")
    user = User(email=email, tier=tier)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def check_password(password: str) -> str:
    """Return ``password`` when long enough (and not absurdly long), else raise ValidationError."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def authenticate(*, email: str, password: str) -> User:
    """Return the user whose email and password match, else raise ValidationError (one message for both).

    An unknown email still costs one hash check, so the answer time does not tell which part was wrong.
    """
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        raise ValidationError(WRONG_CREDENTIALS)
    if len(password) > MAX_PASSWORD_LENGTH or not user.check_password(password):
        raise ValidationError(WRONG_CREDENTIALS)
    return user


def change_password(user: User, *, current: str, new: str) -> None:
    """Replace ``user``'s password when ``current`` is right and ``new`` is acceptable."""
    if len(current) > MAX_PASSWORD_LENGTH or not user.check_password(current):
        raise ValidationError("the current password is wrong")
    user.set_password(check_password(new))
    db.session.commit()


@cache
def _dummy_hash() -> str:
    """A hash to compare against when the email is unknown (the same hashing cost as a real check)."""
    return generate_password_hash("not-a-real-password")


def check_email(email: str) -> str:
    """Return ``email`` normalised (trimmed, lower case) or raise ValidationError saying what is wrong."""
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"email address too long: {len(email)} characters (at most {MAX_EMAIL_LENGTH})")
    if not EMAIL_PATTERN.match(email):
        raise ValidationError(f"not an email address: '{email}'")
    return email


def ensure_user(*, email: str, password: str, tier: str) -> tuple[User, bool]:
    """Return the user with ``email``, creating it when missing; the flag says whether it was created."""
    existing = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if existing:
        return existing, False
    return create_user(email=email, password=password, tier=tier), True


def list_users() -> list[User]:
    """Return all users, oldest first."""
    return list(db.session.scalars(select(User).order_by(User.id)))


def find_user(email: str) -> User:
    """Return the user with ``email`` (trimmed, case-insensitive) or raise NotFoundError naming it."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"no user with email '{email.strip().lower()}'")
    return user
