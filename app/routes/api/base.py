"""What every JSON API v1 blueprint shares: who is calling, tiers, CSRF, rate limits, body size, ETags.

Callers authenticate with a personal token (``Authorization: Bearer ...``,
resolved by Flask-Login's request loader) or, for the dashboard's own
same-origin calls, with the browser session; a state-changing call on a
session must then carry the CSRF token (``X-CSRFToken`` header) and, when the
browser sends one, a same-origin ``Origin``. A Bearer header that does not
name an active token is a 401 even when a session exists.

Rate limits come from ``API_RATE_LIMITS`` by tier, counted per token (else
per signed-in user, else per address) with the one app ``limiter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from apiflask import APIBlueprint
from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import RequestEntityTooLarge, Unauthorized

from app.errors import ForbiddenError
from app.extensions import csrf, limiter
from app.models import User
from app.services.accounts import access, api_tokens

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
PUBLIC = "public"  # ``@bp.doc`` marker and endpoint attribute for calls that need no sign-in


@dataclass(frozen=True)
class Caller:
    """Who makes this request: the user (None when anonymous), how they authenticated, and the token id."""

    user: User | None
    via: str | None  # "token" | "session" | None
    token_id: int | None = None
    bad_token: bool = False

    @property
    def tier(self) -> str:
        return "anonymous" if self.user is None else self.user.tier

    @property
    def limit_key(self) -> str:
        if self.token_id is not None:
            return f"token:{self.token_id}"
        if self.user is not None:
            return f"user:{self.user.id}"
        return f"ip:{get_remote_address()}"


def bearer_token() -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def load_user_from_request(req) -> User | None:  # noqa: ARG001 - Flask-Login passes the request
    """Flask-Login request loader: the user of an active Bearer token (its row kept on ``g``)."""
    token = bearer_token()
    if token is None:
        return None
    found = api_tokens.authenticate(token)
    if found is None:
        return None
    user, row = found
    g.api_token_id = row.id
    return user


def reset_request_state() -> None:
    """Forget the previous request's caller (tests reuse one app context, so ``g`` outlives a request)."""
    for name in ("api_caller", "api_token_id", "_login_user"):
        g.pop(name, None)


def caller() -> Caller:
    """Resolve (once per request) who is calling."""
    if "api_caller" not in g:
        g.api_caller = _resolve_caller()
    return g.api_caller


def _resolve_caller() -> Caller:
    # Flask-Login looks at the session first, then at the request loader (a Bearer token).
    user = current_user._get_current_object()
    if bearer_token() is None:
        return Caller(user=user, via="session") if user.is_authenticated else Caller(user=None, via=None)
    token_id = g.get("api_token_id")
    if token_id is not None:
        return Caller(user=user, via="token", token_id=token_id)
    # The session answered first, or the token is bad: the Bearer header wins, on its own.
    found = api_tokens.authenticate(bearer_token() or "")
    if found is None:
        return Caller(user=None, via=None, bad_token=True)
    user, row = found
    return Caller(user=user, via="token", token_id=row.id)


def require_user() -> User:
    """Return the signed-in caller or raise 401 (a bad or revoked token says so)."""
    who = caller()
    if who.user is None:
        message = "the API token is invalid or revoked" if who.bad_token else "sign in or send an API token"
        raise Unauthorized(message, www_authenticate=WWWAuthenticate("bearer"))
    return who.user


def require_admin() -> User:
    """The caller, when the tier rules (``app.services.accounts.access``) let them administer; else 401/403."""
    return access.require_admin(require_user())


def make_blueprint(name: str, *, tag: str) -> APIBlueprint:
    """Create an API v1 blueprint with the shared checks (auth, CSRF, body size, rate limit, ETags)."""
    bp = APIBlueprint(name, __name__, url_prefix="/api/v1", tag=tag)
    csrf.exempt(bp)  # token calls carry no CSRF token; session calls are checked in _before below
    bp.before_request(_before)
    bp.after_request(_conditional)
    limiter.limit(_limit_value, key_func=_limit_key)(bp)
    return bp


def public(view):
    """Mark a view as open to anonymous callers (everything else needs a signed-in caller)."""
    view.api_public = True
    return view


def _limit_value() -> str:
    return current_app.config["API_RATE_LIMITS"][caller().tier]


def _limit_key() -> str:
    return caller().limit_key


def _before() -> None:
    limit = current_app.config["API_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"request bodies are limited to {limit} bytes")
    request.max_content_length = limit  # also caps bodies sent without a Content-Length
    view = current_app.view_functions.get(request.endpoint or "")
    who = caller()
    if who.bad_token or (who.user is None and not getattr(view, "api_public", False)):
        require_user()
    if who.via == "session" and request.method in STATE_CHANGING:
        _check_same_origin()
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()


def _check_same_origin() -> None:
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise ForbiddenError("cross-origin calls must use an API token, not the browser session")


def _conditional(response: Response) -> Response:
    """Give successful JSON reads an ETag, and answer 304 when the client already has that version."""
    if request.method == "GET" and response.status_code == 200 and response.mimetype == "application/json":
        response.add_etag()
        response.headers["Cache-Control"] = "private, no-cache"
        return response.make_conditional(request)
    return response
