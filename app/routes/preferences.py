"""Premium parameter preferences: the user's own set per symbol and strategy beside production's."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.forms import ActionForm
from app.routes import page_args
from app.routes.guards import premium_required, safe_next
from app.services.optimizer.pages import preferences_page
from app.services.params import user_parameters
from app.strategies import param_view

bp = Blueprint("preferences", __name__, url_prefix="/preferences")


@bp.get("")
@premium_required
def index():
    """Every custom set of the user with the production set and the source of each."""
    return render_template("preferences.html", sets=preferences_page(current_user), form=ActionForm())


@bp.post("/copy")
@premium_required
def copy():
    """Copy a best-parameter run (``run_id``) into the user's preferences."""
    saved = user_parameters.copy_run(current_user, run_id=page_args.int_field("run_id"))
    versus = param_view.diff_text(saved["strategy"], param_view.defaults_of(saved["strategy"]), after=saved["params"])
    flash(f"copied into your preferences for {saved['symbol']} {saved['strategy']} (against the defaults: {versus})")
    return redirect(safe_next(request.form.get("next")) or url_for("preferences.index"))


@bp.post("/clear")
@premium_required
def clear():
    """Drop the user's custom set of one symbol and strategy: production's applies again."""
    symbol, strategy = request.form.get("symbol", ""), request.form.get("strategy", "")
    user_parameters.clear_custom(current_user, symbol=symbol, strategy=strategy)
    flash(f"cleared your {symbol} {strategy} set: the production parameters apply")
    return redirect(url_for("preferences.index"))
