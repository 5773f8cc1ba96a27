"""What the admin pages show at once, composed from the result, parameter-set and auto-tuner services.

``best_page``: per slice the best run (``results.best_params``), its walk-forward
out-of-sample result, the production set and its history
(``parameter_sets``), and the auto-tuner's dry-run proposal.
``compare_choices``: the heatmap page's selectable jobs, slices, parameters,
metrics and folds, with the current selection filled in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_

from app.enums import JobStatus, SliceStatus
from app.extensions import db
from app.models import OptimizationJob, OptimizationSlice
from app.services.optimizer import results
from app.services.scoring import RANKING_METRICS
from app.strategies import get_strategy

FOLDS = ("max", "mean", "median")
BEST_METRIC = "composite_score"


def best_page(*, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None) -> dict:
    """Return {rows, proposals, change_log}: one row per slice with best, out-of-sample, production, history."""
    from app.services import auto_tuner, parameter_sets  # the parameter-lifecycle branch (issue-11)

    best = results.best_params(symbol=symbol, timeframe=timeframe, strategy=strategy, metric=BEST_METRIC)
    proposals = [
        d.to_dict()
        for d in auto_tuner.apply_best_params(symbol=symbol, strategy=strategy, timeframe=timeframe, dry_run=True)
    ]
    by_slice = {(p["symbol"], p["timeframe"], p["strategy"]): p for p in proposals}
    oos = _out_of_sample(best)
    rows = []
    for run in best:
        key = (run["symbol"], run["timeframe"], run["strategy"])
        market = {"symbol": key[0], "timeframe": key[1], "strategy": key[2]}
        rows.append(
            {
                **run,
                "out_of_sample": oos.get((run["job_id"], *key)),
                "production": parameter_sets.active_set(**market),
                "history": parameter_sets.set_history(**market),
                "proposal": by_slice.get(key),
            }
        )
    log = parameter_sets.change_log(symbol=symbol, timeframe=timeframe, strategy=strategy, limit=50)
    return {"rows": rows, "proposals": proposals, "change_log": log}


def _out_of_sample(best: list[dict[str, Any]]) -> dict[tuple, dict[str, Any] | None]:
    """Walk-forward out-of-sample summary per (job, slice) of the best rows (None without walk-forward)."""
    keys = [(r["job_id"], r["symbol"], r["timeframe"], r["strategy"]) for r in best]
    if not keys:
        return {}
    columns = (
        OptimizationSlice.job_id,
        OptimizationSlice.symbol,
        OptimizationSlice.timeframe,
        OptimizationSlice.strategy,
    )
    rows = db.session.execute(select(*columns, OptimizationSlice.checks_json).where(tuple_(*columns).in_(keys)))
    out = {}
    for job_id, sym, tf, strat, checks in rows:
        summary = ((checks or {}).get("walk_forward") or {}).get("summary")
        out[(job_id, sym, tf, strat)] = summary
    return out


def compare_choices(args: dict[str, str]) -> dict[str, Any]:
    """Return the compare form's options and the selection (defaults: newest job, its first slice, first two
    parameters, composite score, max fold, 10 trades)."""
    job_rows = db.session.execute(
        select(OptimizationJob.id, OptimizationJob.name, OptimizationJob.status)
        .where(OptimizationJob.status.in_((JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.CANCELLED)))
        .order_by(OptimizationJob.id.desc())
        .limit(100)
    ).all()
    job_id = int(args["job_id"]) if args.get("job_id", "").isdigit() else None
    query = select(OptimizationSlice.symbol, OptimizationSlice.timeframe, OptimizationSlice.strategy).where(
        OptimizationSlice.status == SliceStatus.COMPLETED
    )
    if job_id is not None:
        query = query.where(OptimizationSlice.job_id == job_id)
    slices = sorted({f"{s}|{t}|{g}" for s, t, g in db.session.execute(query.distinct())})
    chosen = args.get("slice") if args.get("slice") in slices else (slices[0] if slices else None)
    parameters = _varied_first(chosen, job_id) if chosen else []
    x = args.get("x") if args.get("x") in parameters else (parameters[0] if parameters else None)
    y = args.get("y") if args.get("y") in parameters else (parameters[1] if len(parameters) > 1 else x)
    return {
        "jobs": [{"id": i, "name": n, "status": str(s)} for i, n, s in job_rows],
        "slices": slices,
        "parameters": parameters,
        "metrics": list(RANKING_METRICS),
        "folds": FOLDS,
        "selected": {
            "job_id": job_id,
            "slice": chosen,
            "x": x,
            "y": y,
            "metric": args.get("metric") or "composite_score",
            "fold": args.get("fold") if args.get("fold") in FOLDS else "max",
            "min_trades": args.get("min_trades") or "10",
        },
    }


def _varied_first(market: str, job_id: int | None) -> list[str]:
    """The strategy's parameter names, those the job's grid varies first (the useful heatmap axes)."""
    symbol, timeframe, strategy = market.split("|")
    if job_id is None:
        job_id = db.session.scalar(
            select(OptimizationSlice.job_id)
            .where(
                OptimizationSlice.symbol == symbol,
                OptimizationSlice.timeframe == timeframe,
                OptimizationSlice.strategy == strategy,
                OptimizationSlice.status == SliceStatus.COMPLETED,
            )
            .order_by(OptimizationSlice.job_id.desc())
            .limit(1)
        )
    grids = db.session.scalar(select(OptimizationJob.parameter_grids).where(OptimizationJob.id == job_id)) or {}
    grid = grids.get(strategy, {})
    names = list(get_strategy(strategy).space.names)
    return sorted(names, key=lambda n: len(grid.get(n, [])) <= 1)
