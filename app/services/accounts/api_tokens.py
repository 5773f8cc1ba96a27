"""Personal API tokens: create (shown once), list, revoke, and authenticate a Bearer token.

A token is ``cl_`` + 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored, with a short prefix for display; a revoked token never
authenticates again. ``last_used_at`` is written at most once a minute per
token, so a busy client does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from app.errors import NotFoundError, ValidationError
from app.extensions import db
from app.models import ApiToken, User
from app.models._time import utcnow

TOKEN_PREFIX = "cl_"
MAX_NAME_LENGTH = 100
MAX_TOKEN_LENGTH = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """Return the stored form of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, *, name: str) -> tuple[ApiToken, str]:
    """Create a named token for ``user``; return (its row, the token itself, which is not stored)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"token name must have 1 to {MAX_NAME_LENGTH} characters", details={"field": "name"})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), prefix=token[:10])
    db.session.add(row)
    db.session.commit()
    return row, token


def list_tokens(user: User) -> list[ApiToken]:
    """Return the user's tokens, newest first, revoked ones included (they say when)."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(user: User, *, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (idempotent); another user's or an unknown id is NotFoundError."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if row is None:
        raise NotFoundError(f"no token {token_id} for {user.email}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


def authenticate(token: str) -> tuple[User, ApiToken] | None:
    """Return (user, token row) for an active token, else None; notes the use in ``last_used_at``."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    found = db.session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        row.last_used_at = now
    return user, row
