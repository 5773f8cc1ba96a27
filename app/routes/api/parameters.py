"""API v1: the parameters production trades (and the caller's own), production sets, auto-tuner, preferences.

Reads are for every signed-in caller; apply, rollback and the auto-tuner's
dry run are admin actions; preferences are premium (the services enforce
the tier rules of ``app.services.accounts.access``). Symbols contain a slash, so they
travel in the query string or the body, never in a path segment.
"""

from __future__ import annotations

from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint, require_admin, require_user
from app.services.auto_tuner import apply_best_params
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import (
    get_parameters,
    market_context,
    status_report,
    suggest_parameter_updates,
)

bp = make_blueprint("api_parameters", tag="Parameters")


@bp.get("/parameters")
@bp.input(s.ParametersQuery, location="query")
@bp.output(s.ParametersOut)
def parameters(query_data: s.ParametersQuery):
    """What the caller trades for (symbol, timeframe, strategy): their own set (premium), production or defaults."""
    key = query_data.model_dump(exclude={"regime"})
    market = "current" if query_data.regime == "current" else None
    return {**key, **get_parameters(**key, user=require_user(), market=market).to_dict()}


@bp.get("/parameters/suggestion")
@bp.input(s.MarketQuery, location="query")
@bp.output(s.AnyOut)
def suggestion(query_data: s.MarketQuery):
    """Whether the newest job's robust best would beat the active set on the same candles, and why."""
    return suggest_parameter_updates(**query_data.model_dump())


@bp.get("/market-context")
@bp.input(s.ContextQuery, location="query")
@bp.output(s.AnyOut)
def context(query_data: s.ContextQuery):
    """Volatility and trend regime of the newest stored candles of a symbol and timeframe."""
    return market_context(**query_data.model_dump())


@bp.get("/production")
@bp.input(s.MarketQuery, location="query")
@bp.output(s.ActiveSetOut)
def production(query_data: s.MarketQuery):
    """The active production set of a slice (null: production trades the defaults)."""
    return {"active": parameter_sets.active_set(**query_data.model_dump())}


@bp.get("/production/history")
@bp.input(s.MarketQuery, location="query")
@bp.output(s.HistoryOut)
def history(query_data: s.MarketQuery):
    """Every production set the slice has had, newest first."""
    return {"history": parameter_sets.set_history(**query_data.model_dump())}


@bp.get("/production/changes")
@bp.input(s.ChangesQuery, location="query")
@bp.output(s.ChangesOut)
def changes(query_data: s.ChangesQuery):
    """The change log (applied, proposed, skipped, rollback), newest first."""
    return {"changes": parameter_sets.change_log(**query_data.model_dump())}


@bp.post("/production/apply")
@bp.input(s.ApplyIn, location="json")
@bp.output(s.DecisionsOut)
def apply(json_data: s.ApplyIn):
    """Apply (admin) a run or the newest best of the slices when it beats the active set; every decision logged."""
    admin = require_admin()
    decisions = apply_best_params(**json_data.model_dump(), dry_run=False, actor=f"api:{admin.email}")
    return {"decisions": [d.to_dict() for d in decisions]}


@bp.post("/production/rollback")
@bp.input(s.RollbackIn, location="json")
@bp.output(s.ParameterSetOut)
def rollback(json_data: s.RollbackIn):
    """Make an earlier set of the slice active again (admin; logged)."""
    admin = require_admin()
    return parameter_sets.rollback(**json_data.model_dump(), actor=f"api:{admin.email}")


@bp.post("/autotune/dry-run")
@bp.input(s.ApplyIn, location="json")
@bp.output(s.DecisionsOut)
def autotune_dry_run(json_data: s.ApplyIn):
    """What the auto-tuner would do (admin): a decision and its reason per slice; nothing is applied."""
    admin = require_admin()
    decisions = apply_best_params(**json_data.model_dump(), dry_run=True, actor=f"api:{admin.email}")
    return {"decisions": [d.to_dict() for d in decisions]}


@bp.get("/status")
@bp.output(s.AnyOut)
def status():
    """The optimization status of every slice: sources, set ages, performance, pending proposals, cache."""
    return status_report()


@bp.get("/preferences")
@bp.output(s.UserSetsOut)
def preferences():
    """The caller's own parameter sets per symbol and strategy."""
    return {"sets": user_parameters.list_sets(require_user())}


@bp.put("/preferences")
@bp.input(s.PreferenceIn, location="json")
@bp.output(s.UserSetOut)
def save_preference(json_data: s.PreferenceIn):
    """Store the caller's custom set for a symbol and strategy (premium), validated by the declared space."""
    return user_parameters.save_custom(require_user(), **json_data.model_dump())


@bp.post("/preferences/copy-run")
@bp.input(s.CopyRunIn, location="json")
@bp.output(s.UserSetOut)
def copy_run(json_data: s.CopyRunIn):
    """Copy a stored run's parameters into the caller's set for its symbol and strategy (premium)."""
    return user_parameters.copy_run(require_user(), run_id=json_data.run_id)


@bp.post("/preferences/copy-production")
@bp.input(s.CopyProductionIn, location="json")
@bp.output(s.UserSetOut)
def copy_production(json_data: s.CopyProductionIn):
    """Copy what production trades for the slice into the caller's set (premium)."""
    return user_parameters.copy_production(require_user(), **json_data.model_dump())


@bp.delete("/preferences")
@bp.input(s.PreferenceKeyQuery, location="query")
@bp.output({}, status_code=204)
def clear_preference(query_data: s.PreferenceKeyQuery):
    """Turn the caller's custom set off (kept; premium): they trade production again."""
    user_parameters.clear_custom(require_user(), **query_data.model_dump())
    return ""
