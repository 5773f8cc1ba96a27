"""JSON API of the trading-script catalogue: search, statistics and one script (public for now)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.services import script_catalogue

bp = Blueprint("api_scripts", __name__, url_prefix="/api/v1/scripts")


@bp.get("/search")
def search():
    """Full-text search with filters and sort; 400 with the DESIGN error shape for bad parameters."""
    params = script_catalogue.parse_search_params(request.args.to_dict())
    return jsonify(script_catalogue.search_scripts(params).to_dict())


@bp.get("/stats")
def stats():
    """Counts by type, top indicators, period distributions and the community-vs-optimizer insights."""
    return jsonify(script_catalogue.catalogue_stats())


@bp.get("/<slug>")
def detail(slug: str):
    """One script with its indicators, signals and extracted inputs; 404 when the slug is unknown."""
    return jsonify(script_catalogue.script_detail(slug))
