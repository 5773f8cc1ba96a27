"""API v1: the caller's personal API tokens: list, create (the token is in the answer, once), revoke."""

from __future__ import annotations

from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint, require_user
from app.services.accounts import api_tokens

bp = make_blueprint("api_tokens", tag="Tokens")


@bp.get("/tokens")
@bp.output(s.TokenListOut)
def list_tokens():
    """The caller's tokens, newest first (never the tokens themselves)."""
    return {"tokens": [row.to_dict() for row in api_tokens.list_tokens(require_user())]}


@bp.post("/tokens")
@bp.input(s.TokenCreateIn, location="json")
@bp.output(s.TokenCreatedOut, status_code=201)
def create_token(json_data: s.TokenCreateIn):
    """Create a named token for the caller; the answer holds the token, shown only this once."""
    row, token = api_tokens.create_token(require_user(), name=json_data.name)
    return {**row.to_dict(), "token": token}


@bp.delete("/tokens/<int(max=9007199254740991):token_id>")
@bp.output(s.TokenOut)
def revoke_token(token_id: int):
    """Revoke one of the caller's tokens; 404 for another user's or an unknown id."""
    return api_tokens.revoke_token(require_user(), token_id=token_id).to_dict()
