"""Home page and health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from app.services import candle_store
from app.services.health import check_health
from app.services.optimizer import jobs

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """List candle coverage per symbol and timeframe, and the newest optimization jobs."""
    return render_template("index.html", coverage=candle_store.coverage(), jobs=jobs.list_jobs(limit=10))


@bp.get("/healthz")
def healthz():
    """Report whether the database is reachable and its schema at the migrations' head (200 ok, 503 not).

    503 bodies say what is wrong: ``database`` unreachable, or ``schema``
    missing / unversioned / behind / unknown, with a ``detail`` line.
    """
    healthy, report = check_health()
    return jsonify(report), 200 if healthy else 503
