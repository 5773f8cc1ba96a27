"""What the admin pages show at once, composed from the result, parameter-set and auto-tuner services.

``best_page``: per slice the best run (``results.best_params``), its walk-forward
out-of-sample result, the production set and its history (``parameter_sets``);
``proposals`` and ``apply_preview``: the auto-tuner's verdicts (``auto_tuner.judge``,
which writes nothing, so GET pages and the Apply confirmation change nothing).
``preferences_page``: a premium user's own sets, and per timeframe what applies
(``optimal_parameters.get_parameters``: user, production or default) beside production's set.
``compare_choices``: the heatmap page's selectable jobs, slices, parameters,
metrics and folds, with the current selection filled in.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select, true, tuple_

from app.enums import JobStatus, SliceStatus
from app.errors import ValidationError
from app.evaluation.run_analysis import FOLDS
from app.evaluation.scoring import RANKING_METRICS
from app.extensions import db
from app.models import OptimizationJob, OptimizationSlice
from app.services import auto_tuner
from app.services.optimizer import jobs, results, slice_table
from app.services.params import optimal_parameters, parameter_sets, user_parameters
from app.services.params.provenance import run_card
from app.strategies import get_strategy

BEST_METRIC = "composite_score"


def best_page(*, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None) -> dict:
    """Return {rows, change_log}: one row per slice with its best run, the gate's refusal (None: Apply is offered),
    its provenance card, out-of-sample result, production set and history."""
    best = results.best_params(symbol=symbol, timeframe=timeframe, strategy=strategy, metric=BEST_METRIC)
    oos = _out_of_sample(best)
    rows = []
    for run in best:
        key = (run["symbol"], run["timeframe"], run["strategy"])
        market = {"symbol": key[0], "timeframe": key[1], "strategy": key[2]}
        candidate = auto_tuner.candidates(**market, robust=False, run_id=run["run_id"])[0]
        evidence: dict[str, Any] = {}
        rows.append(
            {
                **run,
                # Apply is offered only where the gate passes; elsewhere the page says which check refuses.
                "refusal": auto_tuner.gate_refusal(candidate, evidence=evidence),
                "out_of_sample": oos.get((run["job_id"], *key)),
                # The card shows the luck the gate just judged (measured by it for a run the optimizer did not).
                "provenance": run_card(
                    candidate.run, slice_=candidate.slice_, job=candidate.job, measured=evidence.get("measured")
                ),
                "production": parameter_sets.active_set(**market),
                "history": parameter_sets.set_history(**market),
            }
        )
    log = parameter_sets.change_log(symbol=symbol, timeframe=timeframe, strategy=strategy, limit=50)
    return {"rows": rows, "change_log": log}


def job_page(job_id: int, *, query: dict[str, Any]) -> dict[str, Any]:
    """The job detail: {job: the job's report, slices: one page of its slices table (``slice_table``)}."""
    return {"job": jobs.job_report(job_id), "slices": slice_table.slice_table(job_id, query=query)}


def slice_page(job_id: int, slice_id: int) -> dict[str, Any]:
    """One slice's own page (``slice_table.slice_detail``); NotFoundError for a slice of another job."""
    return slice_table.slice_detail(job_id, slice_id)


def proposals(*, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None) -> list[dict]:
    """The auto-tuner's verdict per slice (robust candidates), judged without writing anything (a GET may ask)."""
    return [
        auto_tuner.judge(candidate).to_dict()
        for candidate in auto_tuner.candidates(symbol=symbol, strategy=strategy, timeframe=timeframe, robust=True)
    ]


def apply_preview(*, run_id: int, symbol: str, timeframe: str, strategy: str) -> dict:
    """What Apply would do with ``run_id`` (before, after, the verdict and its reason), writing nothing."""
    candidate = auto_tuner.candidates(
        symbol=symbol, strategy=strategy, timeframe=timeframe, robust=True, run_id=run_id
    )[0]
    slice_ = candidate.slice_
    if (slice_.symbol, slice_.timeframe, slice_.strategy) != (symbol, timeframe, strategy):
        raise ValidationError(f"run {run_id} is not a run of {symbol} {timeframe} {strategy}")
    return auto_tuner.judge(candidate).to_dict()


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
    markets = db.session.execute(query.distinct()).all()
    # Each strategy's slices one by one, then all of them pooled ("*|*|strategy").
    slices = sorted({f"{s}|{t}|{g}" for s, t, g in markets}) + sorted({f"*|*|{g}" for _, _, g in markets})
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
                OptimizationSlice.symbol == symbol if symbol != "*" else true(),
                OptimizationSlice.timeframe == timeframe if timeframe != "*" else true(),
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


def preferences_page(user) -> list[dict[str, Any]]:
    """Return the user's sets, each with ``timeframes``: per scanned timeframe the parameters that apply
    (and their source) and the production set."""
    timeframes = current_app.config["SCAN_TIMEFRAMES"]
    out = []
    for row in user_parameters.list_sets(user):
        market = {"symbol": row["symbol"], "strategy": row["strategy"]}
        row["timeframes"] = [
            {
                "timeframe": tf,
                "applies": optimal_parameters.get_parameters(
                    symbol=market["symbol"], timeframe=tf, strategy=market["strategy"], user=user
                ).to_dict(),
                "production": parameter_sets.active_set(**market, timeframe=tf),
            }
            for tf in timeframes
        ]
        out.append(row)
    return out
