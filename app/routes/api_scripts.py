"""JSON API of the trading-script catalogue: search, statistics and one script (public: no sign-in needed)."""

from __future__ import annotations

from flask import request

from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint, public
from app.services import catalogue as script_catalogue

bp = make_blueprint("api_scripts", tag="Scripts")


@bp.get("/scripts/search")
@bp.input(s.ScriptSearchQuery, location="query", arg_name="documented")
@bp.output(s.ScriptSearchOut)
@public
def search(documented):  # noqa: ARG001 - the catalogue validates the raw arguments itself
    """Full-text search with filters and sort; bad parameters get 400 (docs/design-rules.md#errors)."""
    params = script_catalogue.parse_search_params(request.args.to_dict())
    return script_catalogue.search_scripts(params).to_dict()


@bp.get("/scripts/stats")
@bp.output(s.AnyOut)
@public
def stats():
    """Counts by type, top indicators, period distributions and the community-vs-optimizer insights."""
    return script_catalogue.catalogue_stats()


@bp.get("/scripts/<slug>")
@bp.output(s.AnyOut)
@public
def detail(slug: str):
    """One script with its indicators, signals and extracted inputs; 404 when the slug is unknown."""
    return script_catalogue.script_detail(slug)
