"""What the parameter loop looks like: per-slice suggestions and the optimization status report.

``suggest_parameter_updates`` judges one slice the way the auto-tuner would
(``auto_tuner.judge``, writing nothing) and says whether the active set is
stale. ``status_report`` sums up every slice that has an optimization or a
production set: sources, ages, average performance, pending proposals (the
newest change-log entry of a slice is a proposal) and the cache statistics.
"""

from __future__ import annotations

from datetime import date, datetime
from statistics import mean, median
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.enums import ParamAction, ParamSource
from app.errors import AppError
from app.extensions import db
from app.models import ParameterChange, ProductionParameterSet
from app.models._time import utcnow
from app.services import auto_tuner
from app.services.params import parameter_sets
from app.services.params.parameter_cache import parameter_cache


def suggest_parameter_updates(*, symbol: str, timeframe: str, strategy: str) -> dict[str, Any]:
    """Compare the active set with the newest completed job's robust best on the same candles.

    Returns ``needs_update``, ``improvement_pct``, ``suggested`` (params or
    None), ``reason`` (in words), ``active`` (the active set or None),
    ``job_id``/``run_id`` judged, and ``stale`` / ``stale_reasons``.
    """
    parameter_sets.validated_params(strategy, {})  # an unknown strategy is bad input
    active = parameter_sets.active_set(symbol=symbol, timeframe=timeframe, strategy=strategy)
    found = auto_tuner.candidates(symbol=symbol, strategy=strategy, timeframe=timeframe, robust=True)
    decision = auto_tuner.judge(found[0]) if found else None
    stale_reasons = _stale_reasons(active, decision, found[0] if found else None)
    suggestion = {
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
        "active": active,
        "needs_update": bool(decision and decision.decision == ParamAction.PROPOSED),
        "improvement_pct": decision.improvement_pct if decision else None,
        "suggested": decision.after if decision and decision.decision == ParamAction.PROPOSED else None,
        "reason": decision.reason if decision else "no completed optimization of this slice yet",
        "job_id": decision.job_id if decision else None,
        "run_id": decision.run_id if decision else None,
        "stale": bool(stale_reasons),
        "stale_reasons": stale_reasons,
    }
    return suggestion


def _stale_reasons(active: dict[str, Any] | None, decision, newest) -> list[str]:
    """Why the active set may no longer describe the market: old data, or out-of-sample or re-evaluation losing."""
    if active is None:
        return []
    reasons = []
    age = data_age_days(active)
    limit = current_app.config["PARAMS_STALE_DAYS"]
    if age is not None and age > limit:
        reasons.append(f"its data ends {active['details'].get('end_date')}, {age} days ago (> {limit})")
    oos = (active["metrics"] or {}).get("out_of_sample")
    if oos is not None and oos.get("expectancy_r", 0) <= 0:
        reasons.append(f"its out-of-sample expectancy is {oos['expectancy_r']:+.3f} R")
    if decision is not None:
        newest_oos = decision.metrics.get("out_of_sample")
        if newest_oos is not None and newest_oos.get("expectancy_r", 0) <= 0:
            reasons.append(f"the newest walk-forward (job {decision.job_id}) is negative out of sample")
        evaluated = _active_on(newest, active["params"])
        if evaluated is not None and evaluated["expectancy_r"] <= 0:
            reasons.append(f"on job {decision.job_id}'s candles it now loses ({evaluated['expectancy_r']:+.3f} R)")
    return reasons


def _active_on(newest, params: dict[str, Any]) -> dict[str, Any] | None:
    """The active set's metrics on the newest job's candles, or None when its candles are gone."""
    slice_, job, _ = newest
    try:
        return auto_tuner.evaluate_params(slice_, job, params=params)[0]
    except (AppError, ValueError):
        return None


def data_age_days(active: dict[str, Any]) -> int | None:
    """Days from the end of the set's data (its job's end date) to today; None for a manual set."""
    end = (active.get("details") or {}).get("end_date")
    if not end:
        return None
    return (utcnow().date() - date.fromisoformat(str(end)[:10])).days


def status_report() -> dict[str, Any]:
    """The optimization status of every slice (JSON-ready): counts, sources, ages, performance, pending, cache."""
    optimized = {(s.symbol, s.timeframe, s.strategy): (s, job) for s, job, _ in _newest()}
    actives = {
        (row.symbol, row.timeframe, row.strategy): parameter_sets.set_to_dict(row)
        for row in db.session.scalars(select(ProductionParameterSet).where(ProductionParameterSet.is_active.is_(True)))
    }
    last = _last_actions()
    rows = [
        _slice_row(key, optimized.get(key), actives.get(key), last.get(key)) for key in sorted({*optimized, *actives})
    ]
    in_sample = [r["expectancy_r"] for r in rows if r["expectancy_r"] is not None]
    oos = [r["out_of_sample_expectancy_r"] for r in rows if r["out_of_sample_expectancy_r"] is not None]
    ages = [r["set_age_days"] for r in rows if r["set_age_days"] is not None]
    sources = {name: 0 for name in (ParamSource.JOB, ParamSource.RUN, ParamSource.MANUAL, ParamSource.DEFAULT)}
    for r in rows:
        sources[r["source"]] += 1
    return {
        "slices": len(rows),
        "optimized": len(optimized),
        "with_production_set": len(actives),
        "sources": sources,
        "set_age_days": _spread(ages),
        "average_performance": {
            "expectancy_r": round(mean(in_sample), 4) if in_sample else None,
            "out_of_sample_expectancy_r": round(mean(oos), 4) if oos else None,
        },
        "pending_proposals": sum(1 for r in rows if r["pending"]),
        "stale": sum(1 for r in rows if r["stale"]),
        "cache": parameter_cache().stats(),
        "rows": rows,
    }


def _newest():
    return auto_tuner.candidates(symbol=None, strategy=None, timeframe=None, robust=True)


def _last_actions() -> dict[tuple[str, str, str], str]:
    """The newest change-log action of each slice."""
    newest = select(func.max(ParameterChange.id)).group_by(
        ParameterChange.symbol, ParameterChange.timeframe, ParameterChange.strategy
    )
    rows = db.session.execute(
        select(
            ParameterChange.symbol, ParameterChange.timeframe, ParameterChange.strategy, ParameterChange.action
        ).where(ParameterChange.id.in_(newest))
    )
    return {(s, t, k): action for s, t, k, action in rows}


def _slice_row(key, optimized, active, last_action) -> dict[str, Any]:
    symbol, timeframe, strategy = key
    slice_, job = optimized if optimized else (None, None)
    metrics = (active or {}).get("metrics") or {}
    in_sample, oos = metrics.get("in_sample") or {}, metrics.get("out_of_sample") or {}
    age = data_age_days(active) if active else None
    applied = active["applied_at"] if active else None
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
        "source": active["source"] if active else ParamSource.DEFAULT.value,
        "set_id": active["id"] if active else None,
        "applied_at": applied,
        "set_age_days": (utcnow() - datetime.fromisoformat(applied)).days if applied else None,
        "data_age_days": age,
        "stale": age is not None and age > current_app.config["PARAMS_STALE_DAYS"],
        "trades": in_sample.get("total_trades"),
        "expectancy_r": in_sample.get("expectancy_r"),
        "out_of_sample_expectancy_r": oos.get("expectancy_r"),
        "newest_job_id": job.id if job else None,
        "last_action": last_action,
        "pending": last_action == ParamAction.PROPOSED,
    }


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": median(values), "max": max(values)}
