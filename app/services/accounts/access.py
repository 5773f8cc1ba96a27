"""Tier rules, in one place: what each tier may do (the web pages, the API and the CLI all ask here).

``free`` users see results; ``premium`` users (and admins) also keep their own
parameter sets and copy best parameters; ``admin`` users run and apply
optimizations. A refusal is a ``ForbiddenError`` naming the rule, which the web
turns into 403 and the CLI into exit 2.
"""

from __future__ import annotations

from app.errors import ForbiddenError
from app.models import User

PREMIUM_MESSAGE = "this is a premium feature: upgrade to premium to keep your own parameters"
ADMIN_MESSAGE = "this needs an admin account"


def can_use_premium(user: User | None) -> bool:
    """Premium features are open to premium users and admins."""
    return user is not None and user.is_premium


def can_administer(user: User | None) -> bool:
    """Running, applying and deleting optimizations is for admins."""
    return user is not None and user.is_admin


def require_premium(user: User | None) -> User:
    """Return ``user`` when premium features are open to them, else raise ForbiddenError."""
    if not can_use_premium(user):
        raise ForbiddenError(PREMIUM_MESSAGE)
    return user


def require_admin(user: User | None) -> User:
    """Return ``user`` when they are an admin, else raise ForbiddenError."""
    if not can_administer(user):
        raise ForbiddenError(ADMIN_MESSAGE)
    return user
