"""The dashboard (active patterns and signals) and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from app.forms import ActionForm
from app.routes.guards import signed_in
from app.services import charts, dashboard
from app.services.health import check_health

bp = Blueprint("main", __name__)


@bp.get("/")
@signed_in
def index():
    """Active patterns, the newest signals with their levels and best parameters, for every signed-in user."""
    return render_template("index.html", board=dashboard.dashboard(), form=ActionForm())


@bp.get("/chart/candles.json")
@signed_in
def candles_chart():
    """One market's candlestick chart data: the newest candles (downsampled), active zones, setup levels."""
    symbol, timeframe = request.args.get("symbol", ""), request.args.get("timeframe", "")
    return jsonify(charts.candle_chart(symbol=symbol, timeframe=timeframe))


@bp.get("/healthz")
def healthz():
    """Report whether the database is reachable and its schema at the migrations' head (200 ok, 503 not).

    503 bodies say what is wrong: ``database`` unreachable, or ``schema``
    missing / unversioned / behind / unknown, with a ``detail`` line.
    """
    healthy, report = check_health()
    return jsonify(report), 200 if healthy else 503
