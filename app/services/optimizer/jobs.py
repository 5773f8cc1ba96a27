"""Optimization jobs: create (validating scope, grids and costs), find, list, report, cancel, delete, re-run.

A job covers symbols x timeframes x strategies over one date range, with one
parameter grid per strategy (validated by that strategy's declared space) and
one cost model. Bad input raises ``ValidationError`` and creates nothing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from app.core.candles import MIN_TIMESTAMP_MS, TIMEFRAME_MS
from app.core.costs import CostModel, resolve_costs
from app.enums import JobStatus, ValidationMode, values
from app.errors import ConflictError, NotFoundError, ValidationError
from app.evaluation.scoring import check_metric
from app.evaluation.selection.preflight import luck_preview
from app.extensions import db
from app.models import Candle, OptimizationJob, OptimizationRun, OptimizationSlice, Symbol
from app.models._time import utcnow
from app.strategies import ParameterError, get_strategy, strategy_names

GridSpec = str | dict[str, Any] | None
DEFAULT_PRESET = "default"


def create_job(
    *,
    name: str,
    symbols: list[str],
    timeframes: list[str],
    strategies: list[str],
    start_date: str,
    end_date: str,
    grids: GridSpec = None,
    description: str | None = None,
    ranking_metric: str = "composite_score",
    min_trades: int = 10,
    costs: str | CostModel | dict[str, Any] | None = None,
    validation: str = ValidationMode.NONE,
    monte_carlo: bool = True,
) -> OptimizationJob:
    """Validate everything and store a pending job; refuse bad input, creating nothing.

    ``grids``: a preset name applied to every strategy (``default``,
    ``quick``), one grid dict used for every strategy, or a mapping of
    strategy name to a grid dict or preset name; None is the default preset.
    ``costs``: a preset name (``app.core.costs.COST_PRESETS``), a
    CostModel or a dict of its fields.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("job name must have 1 to 100 characters")
    symbols = _check_symbols(symbols)
    timeframes = _check_choices("timeframe", timeframes, TIMEFRAME_MS)
    strategies = _check_choices("strategy", strategies, strategy_names())
    start, end = _check_dates(start_date, end_date)
    checked_grids = check_grids(grids, strategies)
    total = len(symbols) * len(timeframes) * sum(_size(s, g) for s, g in checked_grids.items())
    limit = int(current_app.config["OPTIMIZER_MAX_RUNS_PER_JOB"])
    if total > limit:
        raise ValidationError(
            f"job would have {total} runs, more than the maximum of {limit} "
            "(OPTIMIZER_MAX_RUNS_PER_JOB); use a smaller grid or scope"
        )
    _check_ranking(ranking_metric, min_trades)
    if validation not in values(ValidationMode):
        raise ValidationError(f"validation must be one of {', '.join(values(ValidationMode))}, not '{validation}'")
    try:
        model = resolve_costs(costs)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    _check_candles_exist(symbols, timeframes, start, end)
    job = OptimizationJob(
        name=name,
        description=description,
        status=JobStatus.PENDING,
        symbols=symbols,
        timeframes=timeframes,
        strategies=strategies,
        start_date=_date_text(start),
        end_date=_date_text(end),
        parameter_grids=checked_grids,
        **model.as_dict(),
        ranking_metric=ranking_metric,
        min_trades=min_trades,
        validation=str(validation),
        monte_carlo=bool(monte_carlo),
        total_runs=total,
    )
    db.session.add(job)
    db.session.commit()
    return job


def create_sweep_job(
    *,
    grids: GridSpec = DEFAULT_PRESET,
    symbols: list[str] | None = None,
    timeframes: list[str] | None = None,
    strategies: list[str] | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    name: str | None = None,
    **options: Any,
) -> OptimizationJob:
    """Create a job, filling what is not given the way the weekly sweep wants it.

    Defaults: every active symbol; the configured ``OPTIMIZE_TIMEFRAMES``
    that are stored for every chosen symbol (the others are left out, not an
    error); every registered strategy; the range ends at the newest stored
    candle of the scope and starts ``OPTIMIZE_LOOKBACK_DAYS`` before it, so
    the sweep also works on historical data. ``options`` go to ``create_job``.
    """
    config = current_app.config
    skipped: list[str] = []
    if symbols is None:
        symbols, skipped = _active_symbols_with_candles()
        if not symbols:
            raise ValidationError("no active symbols with candles: import or fetch candles first")
    symbols = _check_symbols(symbols)
    if timeframes is not None:
        timeframes = _check_choices("timeframe", timeframes, TIMEFRAME_MS)
    if end_date is not None:
        end_date = check_date("end_date", end_date).isoformat()
    if start_date is not None:
        start_date = check_date("start_date", start_date).isoformat()
    if timeframes is None:
        timeframes = [tf for tf in config["OPTIMIZE_TIMEFRAMES"] if _stored_for_all(symbols, tf)]
        if not timeframes:
            raise ValidationError(
                f"none of the timeframes {', '.join(config['OPTIMIZE_TIMEFRAMES'])} is stored for every symbol"
            )
    strategies = list(strategies or strategy_names())
    if end_date is None:
        newest = db.session.scalar(
            select(func.max(Candle.timestamp))
            .join(Symbol, Symbol.id == Candle.symbol_id)
            .where(Symbol.name.in_(symbols), Candle.timeframe.in_(timeframes))
        )
        if newest is None:
            raise ValidationError("no candles stored for that scope")
        end_date = pd.Timestamp(newest, unit="ms", tz="UTC").date().isoformat()
    if start_date is None:
        start_date = (pd.Timestamp(end_date) - pd.Timedelta(days=config["OPTIMIZE_LOOKBACK_DAYS"])).date().isoformat()
    preset = grids if isinstance(grids, str) else "custom"
    scope = f"{len(symbols)} symbols x {', '.join(timeframes)} x {', '.join(strategies)}"
    return create_job(
        name=name or f"{preset} sweep {start_date}..{end_date}",
        description=options.pop("description", None)
        or scope + (f"; skipped (no candles): {', '.join(skipped)}" if skipped else ""),
        symbols=symbols,
        timeframes=timeframes,
        strategies=strategies,
        start_date=start_date,
        end_date=end_date,
        grids=grids,
        **options,
    )


def _active_symbols_with_candles() -> tuple[list[str], list[str]]:
    """Return (active symbols with stored candles, active symbols without any: skipped and reported)."""
    active = list(
        db.session.execute(select(Symbol.id, Symbol.name).where(Symbol.is_active.is_(True)).order_by(Symbol.name))
    )
    stored = set(db.session.scalars(select(Candle.symbol_id).distinct()))
    return [name for sid, name in active if sid in stored], [name for sid, name in active if sid not in stored]


def check_grids(grids: GridSpec, strategies: list[str]) -> dict[str, dict[str, list[Any]]]:
    """Return one validated grid per strategy from a preset name, a shared grid or a per-strategy mapping."""
    if grids is None:
        grids = DEFAULT_PRESET
    if not isinstance(grids, str | dict):
        raise ValidationError(f"grid must be a preset name or a JSON object, not {type(grids).__name__}")
    per_strategy = isinstance(grids, dict) and grids and set(grids) <= set(strategy_names())
    checked = {}
    for strategy in strategies:
        spec = (grids.get(strategy, DEFAULT_PRESET) if per_strategy else grids) if isinstance(grids, dict) else grids
        space = get_strategy(strategy).space
        try:
            checked[strategy] = space.preset(spec) if isinstance(spec, str) else space.validate_grid(spec)
        except ParameterError as exc:
            raise ValidationError(f"grid for {strategy}: {exc}") from None
    return checked


def _size(strategy: str, grid: dict[str, list[Any]]) -> int:
    return get_strategy(strategy).space.grid_size(grid)


def _check_ranking(ranking_metric: str, min_trades: int) -> None:
    try:
        check_metric(ranking_metric)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if ranking_metric == "stability_score":
        raise ValidationError("stability_score is derived from the ranking metric; rank the job by a backtest metric")
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0:
        raise ValidationError(f"min_trades must be an integer >= 0, not {min_trades!r}")


# ---------------------------------------------------------------------- finding and reporting


def get_job(job_id: int) -> OptimizationJob:
    """Return the job or raise NotFoundError."""
    job = db.session.get(OptimizationJob, job_id)
    if job is None:
        raise NotFoundError(f"optimization job {job_id} not found")
    return job


def list_jobs(*, limit: int = 50) -> list[OptimizationJob]:
    """Return the newest jobs first."""
    return list(db.session.scalars(select(OptimizationJob).order_by(OptimizationJob.id.desc()).limit(limit)))


def next_runnable_job(*, stale_after_seconds: int) -> OptimizationJob | None:
    """Return the oldest pending job, or a running one whose heartbeat went stale; None when idle.

    Failed jobs are not picked up automatically (a persistent failure would
    loop); run them again by id once the cause is fixed.
    """
    stale = utcnow() - pd.Timedelta(seconds=stale_after_seconds).to_pytimedelta()
    return db.session.scalar(
        select(OptimizationJob)
        .where(
            or_(
                OptimizationJob.status == JobStatus.PENDING,
                (OptimizationJob.status == JobStatus.RUNNING) & (OptimizationJob.heartbeat_at < stale),
            )
        )
        .order_by(OptimizationJob.id)
        .limit(1)
    )


def job_report(job_id: int) -> dict[str, Any]:
    """Return a job as JSON-safe data: scope, costs, progress, each slice's best and robust runs and checks.

    The shape the dashboard and the JSON API read (the CLI renders the same fields).
    """
    job = get_job(job_id)
    return {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "status": job.status,
        "summary": job.summary,
        "scope": {"symbols": job.symbols, "timeframes": job.timeframes, "strategies": job.strategies},
        "start_date": job.start_date,
        "end_date": job.end_date,
        "parameter_grids": job.parameter_grids,
        "costs": job.costs,
        "ranking_metric": job.ranking_metric,
        "min_trades": job.min_trades,
        "validation": job.validation,
        "monte_carlo": job.monte_carlo,
        "progress": {**job_progress(job), "percent": job.progress_pct},
        "lookahead": (job.validation_json or {}).get("lookahead", {}),
        "slices": slice_reports(job.id),
        "created_at": _iso_or_none(job.created_at),
        "started_at": _iso_or_none(job.started_at),
        "completed_at": _iso_or_none(job.completed_at),
    }


def job_luck(job: OptimizationJob) -> dict[str, Any]:
    """The pre-flight warning: what luck alone shows the job's largest per-slice trial count over its range."""
    trials = max((_size(name, grid) for name, grid in job.parameter_grids.items()), default=0)
    days = (pd.Timestamp(job.end_date) - pd.Timestamp(job.start_date)).days + 1
    return luck_preview(trials=trials, days=days)


def describe_job(job: OptimizationJob) -> dict[str, Any]:
    """Return a job's list entry as JSON-safe data: scope, range, ranking, progress and times (no slices)."""
    return {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "status": str(job.status),
        "summary": job.summary,
        "symbols": job.symbols,
        "timeframes": job.timeframes,
        "strategies": job.strategies,
        "start_date": job.start_date,
        "end_date": job.end_date,
        "ranking_metric": job.ranking_metric,
        "min_trades": job.min_trades,
        "validation": job.validation,
        "monte_carlo": bool(job.monte_carlo),
        "progress": job_progress(job),
        "luck": job_luck(job),
        "created_at": job.created_at.isoformat(),
        "started_at": _iso_or_none(job.started_at),
        "completed_at": _iso_or_none(job.completed_at),
    }


def slice_reports(job_id: int) -> list[dict[str, Any]]:
    """Return every stored slice of a job with its best and robust run (params and metrics) and checks."""
    slices = list(
        db.session.scalars(
            select(OptimizationSlice)
            .where(OptimizationSlice.job_id == job_id)
            .order_by(OptimizationSlice.symbol, OptimizationSlice.timeframe, OptimizationSlice.strategy)
        )
    )
    run_ids = {i for s in slices for i in (s.best_run_id, s.robust_run_id) if i is not None}
    runs = {r.id: r for r in db.session.scalars(select(OptimizationRun).where(OptimizationRun.id.in_(run_ids)))}
    return [
        {
            "label": s.label,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "strategy": s.strategy,
            "status": s.status,
            "runs": s.run_count,
            "error": s.error_message,
            "best": _run_brief(runs.get(s.best_run_id)),
            "robust": _run_brief(runs.get(s.robust_run_id)),
            "checks": s.checks_json or {},
        }
        for s in slices
    ]


def _run_brief(run: OptimizationRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.id, "params": run.params, "metrics": run.metrics(), "stability_score": run.stability_score}


# ---------------------------------------------------------------------- managing (cancel, delete, re-run)

# A job in one of these states may still change: a runner holds it or will pick it up.
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


def cancel_job(job_id: int) -> dict[str, Any]:
    """Cancel a pending or running job and return its progress; what it stored so far stays.

    A running job's runner sees the status between slices and stops (the
    slices it stored are kept); a pending one is never picked up. Anything
    else (completed, failed, already cancelled) raises ConflictError.
    """
    job = get_job(job_id)
    done = f"{job.completed_runs} of {job.total_runs} runs stored"
    cancelled = db.session.execute(
        update(OptimizationJob)
        .where(OptimizationJob.id == job_id, OptimizationJob.status.in_(ACTIVE_STATUSES))
        .values(status=JobStatus.CANCELLED, completed_at=utcnow(), summary=f"cancelled; {done} when cancelled")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(job)
    if cancelled != 1:
        raise ConflictError(f"job {job_id} is {job.status}: only pending or running jobs can be cancelled")
    return {"id": job.id, **job_progress(job)}


def delete_job(job_id: int) -> None:
    """Delete a job with its slices and runs; a job a runner may still be writing raises ConflictError.

    Pending and running jobs are refused (cancel them first), except a
    running job whose heartbeat is older than ``OPTIMIZER_STALE_SECONDS``
    (its process died).
    """
    job = get_job(job_id)
    stale = utcnow() - pd.Timedelta(seconds=current_app.config["OPTIMIZER_STALE_SECONDS"]).to_pytimedelta()
    alive = job.status == JobStatus.PENDING or (
        job.status == JobStatus.RUNNING and job.heartbeat_at is not None and job.heartbeat_at >= stale
    )
    if alive:
        raise ConflictError(f"job {job_id} is {job.status}: cancel it before deleting it")
    # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
    db.session.execute(delete(OptimizationRun).where(OptimizationRun.job_id == job_id))
    db.session.execute(delete(OptimizationSlice).where(OptimizationSlice.job_id == job_id))
    db.session.execute(delete(OptimizationJob).where(OptimizationJob.id == job_id))
    db.session.commit()


def rerun_job(job_id: int) -> OptimizationJob:
    """Create a new pending job with the same scope, range, grids, costs and checks as ``job_id``.

    The copy is validated like any new job (its candles must still be
    stored); the original and its results stay untouched.
    """
    job = get_job(job_id)
    suffix = " (re-run)"
    return create_job(
        name=job.name[: 100 - len(suffix)] + suffix,
        description=job.description,
        symbols=list(job.symbols),
        timeframes=list(job.timeframes),
        strategies=list(job.strategies),
        start_date=job.start_date,
        end_date=job.end_date,
        grids=dict(job.parameter_grids),
        ranking_metric=job.ranking_metric,
        min_trades=job.min_trades,
        costs=job.costs,
        validation=job.validation,
        monte_carlo=job.monte_carlo,
    )


def job_progress(job: OptimizationJob) -> dict[str, Any]:
    """Return a job's progress: counts, percent, throughput and (while running) the time left.

    ``runs_per_second`` is the completed runs over the time since the job
    first started (to completion, or to now while it runs); None before it
    starts. ``eta_seconds`` only while running with a measurable rate.
    """
    done = job.completed_runs + job.failed_runs
    rate = None
    if job.started_at is not None:
        end = job.completed_at if job.status not in ACTIVE_STATUSES and job.completed_at else utcnow()
        elapsed = (end - job.started_at).total_seconds()
        rate = round(job.completed_runs / elapsed, 1) if elapsed > 0 else None
    eta = None
    if job.status == JobStatus.RUNNING and rate:
        eta = round(max(job.total_runs - done, 0) / rate, 1)
    return {
        "status": str(job.status),
        "completed_runs": job.completed_runs,
        "failed_runs": job.failed_runs,
        "total_runs": job.total_runs,
        "progress_pct": job.progress_pct,
        "runs_per_second": rate,
        "eta_seconds": eta,
    }


# ---------------------------------------------------------------------- input checks


def _check_symbols(symbols: Any) -> list[str]:
    symbols = _check_list("symbol", symbols)
    known = set(db.session.scalars(select(Symbol.name).where(Symbol.name.in_(symbols))))
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise ValidationError(f"unknown symbol(s): {', '.join(unknown)}")
    return symbols


def _stored_for_all(symbols: list[str], timeframe: str) -> bool:
    stored = db.session.scalar(
        select(func.count(func.distinct(Candle.symbol_id)))
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .where(Symbol.name.in_(symbols), Candle.timeframe == timeframe)
    )
    return stored == len(symbols)


def _check_candles_exist(symbols: list[str], timeframes: list[str], start, end) -> None:
    start_ms, end_ms = int(start.value // 1_000_000), int(end_of(end).value // 1_000_000)
    rows = db.session.execute(
        select(Symbol.name, Candle.timeframe, func.count())
        .join(Symbol, Symbol.id == Candle.symbol_id)
        .where(Symbol.name.in_(symbols), Candle.timeframe.in_(timeframes), Candle.timestamp.between(start_ms, end_ms))
        .group_by(Symbol.name, Candle.timeframe)
    ).all()
    have = {(name, tf) for name, tf, count in rows if count > 0}
    missing = [f"{s} {tf}" for s in symbols for tf in timeframes if (s, tf) not in have]
    if missing:
        raise ValidationError(
            f"no candles between {start.date()} and {end.date()} for: {', '.join(missing)}", details=missing
        )


def _check_list(label: str, items: Any) -> list[str]:
    if isinstance(items, str) or not isinstance(items, list | tuple) or not items:
        raise ValidationError(f"{label} list must be a non-empty list")
    if len(set(items)) != len(items):
        raise ValidationError(f"{label} list names a value twice: {list(items)}")
    return list(items)


def _check_choices(label: str, items: Any, known) -> list[str]:
    items = _check_list(label, items)
    unknown = [v for v in items if v not in known]
    if unknown:
        raise ValidationError(f"unknown {label}(s): {', '.join(map(str, unknown))} (known: {', '.join(known)})")
    return items


EARLIEST_DATE = pd.Timestamp(MIN_TIMESTAMP_MS, unit="ms", tz="UTC")
LATEST_DATE = pd.Timestamp("2100-12-31T23:59:59.999", tz="UTC")


def check_date(label: str, value: Any) -> pd.Timestamp:
    """Return ``value`` as a UTC timestamp or raise ValidationError naming the argument."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ValidationError(f"{label} is not a date: {value!r}") from None
    if pd.isna(stamp):
        raise ValidationError(f"{label} is required")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    # No candle is older than 2009 (the import refuses them) and a job's range is never centuries ahead;
    # the bound also keeps the lookback arithmetic (end_date - OPTIMIZE_LOOKBACK_DAYS) inside pandas' range.
    if not EARLIEST_DATE <= stamp <= LATEST_DATE:
        raise ValidationError(f"{label} must be between 2009-01-01 and 2100-12-31, not {value!r}")
    return stamp


def _check_dates(start_date: Any, end_date: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = check_date("start_date", start_date), check_date("end_date", end_date)
    if start > end_of(end):
        raise ValidationError(f"start_date {start_date} is after end_date {end_date}")
    return start, end


def end_of(value: Any) -> pd.Timestamp:
    """Make a date-only end inclusive: 2024-12-31 means up to the last candle of that day."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1) if stamp == stamp.normalize() else stamp


def _date_text(stamp: pd.Timestamp) -> str:
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


def _iso_or_none(value) -> str | None:
    return value.isoformat() if value is not None else None
