"""Home page and health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.services import candle_store
from app.services.optimizer import jobs

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """List candle coverage per symbol and timeframe, and the newest optimization jobs."""
    return render_template("index.html", coverage=candle_store.coverage(), jobs=jobs.list_jobs(limit=10))


@bp.get("/healthz")
def healthz():
    """Report whether the app can reach its database (200 ok, 503 not)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify({"status": "error", "database": "unreachable", "detail": type(exc).__name__}), 503
    return jsonify({"status": "ok", "database": "ok"})
