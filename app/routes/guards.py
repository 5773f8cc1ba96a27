"""One decorator per access rule of the pages, each asking ``app.services.accounts.access``.

- ``signed_in``: any signed-in user; anonymous visitors go to the sign-in page
  with ``next`` set to where they were going (a local path only).
- ``premium_required``: premium users and admins; a free user gets the page
  that explains the feature and how to upgrade (403).
- ``admin_required``: admins; another signed-in user gets 403 (never a
  redirect, so no loop), an anonymous visitor the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from app.services.accounts import access


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site (``/x?y``), else None: no open redirect.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read
    ``/\\host`` as ``//host``), control characters, anything not starting with ``/``.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _to_sign_in():
    nxt = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=safe_next(nxt)))


def signed_in(view: Callable) -> Callable:
    """Let signed-in users through; send anonymous visitors to sign in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapper


def premium_required(view: Callable) -> Callable:
    """Let premium users and admins through; free users see the upgrade page (403)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _to_sign_in()
        if not access.can_use_premium(current_user):
            return render_template("errors/upgrade.html", message=access.PREMIUM_MESSAGE), 403
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable) -> Callable:
    """Let admins through; other signed-in users get 403, anonymous visitors the sign-in page."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _to_sign_in()
        if not access.can_administer(current_user):
            return render_template("errors/error.html", status=403, message=access.ADMIN_MESSAGE), 403
        return view(*args, **kwargs)

    return wrapper
