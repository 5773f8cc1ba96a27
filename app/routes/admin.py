"""Admin pages outside the optimizer: candle coverage, duplicate patterns, outcomes of production sets."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.core.patterns import OVERLAP_THRESHOLD
from app.forms import ActionForm
from app.routes import page_args
from app.routes.guards import admin_required
from app.services.candles import candle_store
from app.services.outcomes import monitor, slice_page
from app.services.scanning import pattern_duplicates

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/data")
@admin_required
def data():
    """Candle coverage per symbol and timeframe (from the candle_series summary)."""
    return render_template("admin/data.html", coverage=candle_store.coverage())


@bp.get("/patterns/duplicates")
@admin_required
def duplicates():
    """Stored pattern pairs overlapping by >= the threshold, with examples; on request, what the filter removes."""
    threshold = page_args.float_arg("threshold", OVERLAP_THRESHOLD, low=0.0, high=1.0)
    market = page_args.slice_pair(request.args.get("market"))
    effect = pattern_duplicates.overlap_filter_effect(symbol=market[0], timeframe=market[1]) if market else None
    return render_template(
        "admin/duplicates.html",
        threshold=threshold,
        groups=pattern_duplicates.duplicate_report(threshold=threshold),
        examples=pattern_duplicates.duplicate_examples(threshold=threshold),
        coverage=candle_store.coverage(),
        market=request.args.get("market"),
        effect=effect,
    )


@bp.get("/outcomes")
@admin_required
def outcomes():
    """One slice (``slice=SYMBOL|TIMEFRAME|STRATEGY``): live vs expected cumulative R, monitor state, outcomes."""
    market = page_args.required_slice()
    page = slice_page.slice_page(**market, page=page_args.page())
    return render_template("admin/outcomes.html", p=page, form=ActionForm())


@bp.get("/outcomes/monitor")
@admin_required
def outcomes_monitor():
    """The dashboard's "sets in alarm first" (an htmx fragment: the monitor may backtest, so it loads late)."""
    return render_template("admin/_monitor_board.html", states=monitor.monitor_states())
