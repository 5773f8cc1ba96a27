"""Pages of the trading-script catalogue: browse and search, and one script's detail."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.errors import ValidationError
from app.services import catalogue as script_catalogue

bp = Blueprint("scripts", __name__, url_prefix="/scripts")


@bp.get("")
def index():
    """Search form with filters; the results page (a bad parameter shows its message, status 400)."""
    args = {key: value for key, value in request.args.to_dict().items() if value != ""}
    try:
        params = script_catalogue.parse_search_params(args)
    except ValidationError as exc:
        params, error = script_catalogue.SearchParams(), exc.message
        page = script_catalogue.SearchPage(params=params)
        return render_template("scripts/index.html", page=page, args=args, error=error, **_choices()), 400
    page = script_catalogue.search_scripts(params)
    return render_template("scripts/index.html", page=page, args=args, error=None, **_choices())


@bp.get("/<slug>")
def detail(slug: str):
    """One script: its record, indicators, signals, extracted inputs and code."""
    return render_template("scripts/detail.html", script=script_catalogue.script_detail(slug))


def _choices() -> dict:
    return {"script_types": script_catalogue.SCRIPT_TYPES, "sorts": script_catalogue.SORTS}
