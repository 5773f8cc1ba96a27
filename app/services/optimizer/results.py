"""Optimization results: best parameters per slice, the runs table, heatmaps, importance, comparisons, trades.

Ranking happens in SQL (a window function per slice), so answering costs
O(result), not one ORM object per stored run. The runs table is
``run_query`` (filters, sort and keyset pages in SQL); heatmaps and
parameter importance read one slice's columns (params, one metric, trades)
as tuples and fold them with the pure ``app.evaluation.run_analysis``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select

from app.core.costs import CostModel
from app.enums import SliceStatus
from app.errors import NotFoundError, ValidationError
from app.evaluation.backtest import run_backtest
from app.evaluation.run_analysis import FOLDS, drawdown_curve, fold_matrix, r_histogram, variance_shares
from app.evaluation.scoring import RANKING_METRICS, check_metric, composite_score
from app.evaluation.slice_eval import candles_fingerprint, expand_details, stored_details
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models.optimization import METRIC_COLUMNS
from app.services.candles.candle_store import load_candles
from app.services.optimizer.jobs import end_of, get_job
from app.services.optimizer.run_query import query_runs, runs_csv
from app.strategies import get_strategy

__all__ = [
    "best_params",
    "compare_matrix",
    "compare_params",
    "parameter_importance",
    "query_runs",
    "run_summary",
    "run_trades",
    "runs_csv",
]


def best_params(
    *,
    symbol: str | None = None,
    strategy: str | None = None,
    timeframe: str | None = None,
    metric: str = "total_profit_pct",
    min_trades: int = 10,
    job_id: int | None = None,
    robust: bool = False,
) -> list[dict[str, Any]]:
    """Return the best run per slice by ``metric`` among runs with >= min_trades trades.

    Each slice is answered from the newest job that completed it (or from
    ``job_id``). Slices with no run reaching ``min_trades`` are left out: a
    thin run is never "best". With ``robust``, runs are ranked by
    ``stability_score`` instead (the job's ranking metric averaged over each
    run's grid neighbours), preferring a plateau to a lucky spike. Ties keep
    the grid order (lowest run id).
    """
    try:
        check_metric(metric)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    ranking = "stability_score" if robust else metric
    newest = _newest_slices(symbol=symbol, strategy=strategy, timeframe=timeframe, job_id=job_id)
    slices = db.session.execute(
        select(OptimizationSlice, OptimizationJob.min_trades)
        .join(newest, newest.c.id == OptimizationSlice.id)
        .join(OptimizationJob, OptimizationJob.id == OptimizationSlice.job_id)
    ).all()
    # A slice stored its best run per metric for its job's min_trades: answer from it; rank in SQL otherwise.
    kept = {s.id: s.best_runs[ranking] for s, trades in slices if trades == min_trades and s.best_runs is not None}
    ranked = _ranked_in_sql([s.id for s, _ in slices if s.id not in kept], ranking=ranking, min_trades=min_trades)
    run_ids = [run_id for run_id in (*kept.values(), *ranked) if run_id is not None]
    runs = db.session.execute(
        select(OptimizationRun, OptimizationSlice)
        .join(OptimizationSlice, OptimizationSlice.id == OptimizationRun.slice_id)
        .where(OptimizationRun.id.in_(run_ids))
        .order_by(OptimizationSlice.symbol, OptimizationSlice.timeframe, OptimizationSlice.strategy)
    )
    return [run_summary(run, slice_, metric=ranking) for run, slice_ in runs]


def _ranked_in_sql(slice_ids: list[int], *, ranking: str, min_trades: int) -> list[int]:
    """Return the best run id of each slice by ``ranking`` among runs with >= min_trades trades (a window query)."""
    if not slice_ids:
        return []
    column = getattr(OptimizationRun, ranking)
    order = column.desc() if RANKING_METRICS[ranking] else column.asc()
    ranked = (
        select(
            OptimizationRun.id.label("run_id"),
            func.row_number()
            .over(partition_by=OptimizationRun.slice_id, order_by=(order, OptimizationRun.id))
            .label("rank"),
        )
        .where(OptimizationRun.slice_id.in_(slice_ids), OptimizationRun.total_trades >= min_trades)
        .subquery()
    )
    return list(db.session.scalars(select(ranked.c.run_id).where(ranked.c.rank == 1)))


def _newest_slices(*, symbol: str | None, strategy: str | None, timeframe: str | None, job_id: int | None):
    """Return a subquery of completed slices: per market the newest job's (or ``job_id``'s)."""
    filters = [OptimizationSlice.status == SliceStatus.COMPLETED]
    for column, value in (
        (OptimizationSlice.symbol, symbol),
        (OptimizationSlice.strategy, strategy),
        (OptimizationSlice.timeframe, timeframe),
        (OptimizationSlice.job_id, job_id),
    ):
        if value is not None:
            filters.append(column == value)
    market = (OptimizationSlice.symbol, OptimizationSlice.timeframe, OptimizationSlice.strategy)
    newest = (
        select(OptimizationSlice.id, func.max(OptimizationSlice.job_id).over(partition_by=market).label("newest"))
        .where(*filters)
        .subquery()
    )
    return (
        select(OptimizationSlice.id)
        .join(newest, newest.c.id == OptimizationSlice.id)
        .where(OptimizationSlice.job_id == newest.c.newest)
        .subquery()
    )


def run_summary(run: OptimizationRun, slice_: OptimizationSlice, *, metric: str) -> dict[str, Any]:
    """Return one run as JSON-safe data: its slice, parameters, metrics and the value it was ranked by."""
    return {
        "symbol": slice_.symbol,
        "timeframe": slice_.timeframe,
        "strategy": slice_.strategy,
        "job_id": run.job_id,
        "run_id": run.id,
        "metric": metric,
        "value": getattr(run, metric),
        "params": run.params,
        "metrics": run.metrics(),
        "stability_score": run.stability_score,
    }


def compare_params(
    params_a: dict[str, Any],
    params_b: dict[str, Any],
    *,
    symbol: str,
    timeframe: str,
    strategy: str,
    start_date: str | None = None,
    end_date: str | None = None,
    costs: CostModel | str | None = None,
) -> dict[str, Any]:
    """Backtest two parameter sets on the same stored candles and report both and their difference."""
    try:
        get_strategy(strategy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    candles = load_candles(symbol, timeframe, start=start_date, end=end_of(end_date) if end_date else None)
    if candles.empty:
        raise ValidationError(f"no candles stored for {symbol} {timeframe} in that range")
    results = {}
    for label, params in (("a", params_a), ("b", params_b)):
        try:
            full = run_backtest(candles, strategy=strategy, params=params, costs=costs)
        except ValueError as exc:
            raise ValidationError(f"params_{label}: {exc}") from None
        metrics = {m: full[m] for m in METRIC_COLUMNS if m in full}
        metrics["composite_score"] = composite_score(metrics)
        results[label] = {"params": full["params"], "metrics": metrics}
    difference = {m: results["b"]["metrics"][m] - results["a"]["metrics"][m] for m in results["a"]["metrics"]}
    score_a, score_b = results["a"]["metrics"]["composite_score"], results["b"]["metrics"]["composite_score"]
    better = "tie" if score_a == score_b else ("a" if score_a > score_b else "b")
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
        **results,
        "difference": difference,
        "better": better,
    }


def compare_matrix(
    *,
    job_id: int | None = None,
    symbol: str | None,
    timeframe: str | None,
    strategy: str,
    x: str,
    y: str,
    metric: str = "composite_score",
    fold: str = "max",
    min_trades: int = 10,
) -> dict[str, Any]:
    """Return the (x, y) heatmap of one slice: ``{x_values, y_values, cells, best}`` plus the slice's ids.

    ``job_id`` None answers from the newest job that completed the slice.
    ``symbol`` / ``timeframe`` None: every such slice of the strategy, their
    runs pooled (``slice_id`` None, ``slices`` counts them). Each cell folds
    (``max``: the best run, ``mean``, ``median``) ``metric`` over the runs
    sharing its x and y values with >= ``min_trades`` trades, whatever their
    other parameters (``app.evaluation.run_analysis.fold_matrix``).
    """
    space = _space(strategy)
    for label, name in (("x", x), ("y", y)):
        if name not in space.names:
            raise ValidationError(f"{label} must be a parameter of {strategy} ({', '.join(space.names)}), not {name!r}")
    if x == y:
        raise ValidationError("x and y must be two different parameters")
    metric = _check_metric(metric)
    if fold not in FOLDS:
        raise ValidationError(f"fold must be one of {', '.join(FOLDS)}, not {fold!r}")
    _check_min_trades(min_trades)
    meta, runs = _slices_runs(job_id=job_id, symbol=symbol, timeframe=timeframe, strategy=strategy, metric=metric)
    matrix = fold_matrix(
        runs, x=x, y=y, metric=metric, fold=fold, min_trades=min_trades, higher_is_better=RANKING_METRICS[metric]
    )
    return {**meta, "x": x, "y": y, "metric": metric, "fold": fold, "min_trades": min_trades, **matrix}


def parameter_importance(
    *,
    job_id: int | None = None,
    symbol: str | None,
    timeframe: str | None,
    strategy: str,
    metric: str = "composite_score",
) -> dict[str, Any]:
    """Return the share of ``metric``'s variance over a slice's runs that each parameter explains, largest first.

    Every run of the slice counts (a parameter that only matters for thin
    runs still shows). ``job_id`` None: the newest job that completed it;
    ``symbol`` / ``timeframe`` None: every such slice, pooled (as ``compare_matrix``).
    """
    space = _space(strategy)
    metric = _check_metric(metric)
    meta, runs = _slices_runs(job_id=job_id, symbol=symbol, timeframe=timeframe, strategy=strategy, metric=metric)
    varied = [n for n in space.names if len({repr(p.get(n)) for p in runs["params"]}) > 1]
    return {
        **meta,
        "metric": metric,
        "runs": len(runs),
        "parameters": variance_shares(runs, names=varied),
    }


def _space(strategy: str):
    try:
        return get_strategy(strategy).space
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _check_metric(metric: str) -> str:
    try:
        return check_metric(metric)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _check_min_trades(min_trades: Any) -> None:
    if isinstance(min_trades, bool) or not isinstance(min_trades, int) or not 0 <= min_trades <= 10**9:
        raise ValidationError(f"min_trades must be an integer >= 0, not {min_trades!r}")


def _slices_runs(
    *, job_id: int | None, symbol: str | None, timeframe: str | None, strategy: str, metric: str
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Return (what was read, the runs' columns) of the completed slice(s), from ``job_id`` or the newest job
    per market; None for ``symbol`` / ``timeframe`` takes every one. NotFoundError when there is none."""
    if job_id is not None:
        get_job(job_id)
    newest = _newest_slices(symbol=symbol, strategy=strategy, timeframe=timeframe, job_id=job_id)
    found = db.session.execute(
        select(OptimizationSlice.id, OptimizationSlice.job_id).join(newest, newest.c.id == OptimizationSlice.id)
    ).all()
    if not found:
        where = f" in job {job_id}" if job_id is not None else ""
        raise NotFoundError(
            f"no completed slice {symbol or 'any symbol'} {timeframe or 'any timeframe'} {strategy}{where}"
        )
    jobs_read = {j for _, j in found}
    meta = {
        "job_id": jobs_read.pop() if len(jobs_read) == 1 else None,
        "slice_id": found[0][0] if len(found) == 1 else None,
        "slices": len(found),
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
    }
    return meta, _slice_columns([slice_id for slice_id, _ in found], metric)


def _slice_columns(slice_ids: list[int], metric: str) -> pd.DataFrame:
    """Read slices' runs as columns (run_id, total_trades, params, metric): tuples, never ORM objects."""
    rows = db.session.execute(
        select(
            OptimizationRun.id, OptimizationRun.total_trades, OptimizationRun.params, getattr(OptimizationRun, metric)
        ).where(OptimizationRun.slice_id.in_(slice_ids))
    ).all()
    return pd.DataFrame(rows, columns=["run_id", "total_trades", "params", "metric"])


def run_trades(run_id: int) -> dict[str, Any]:
    """Return a run's trades, equity curve, drawdown and R histogram, with its slice and parameters.

    The best run of each slice has its trades stored (the newest
    ``MAX_STORED_TRADES``); any other run is backtested again on the job's
    candles, deterministically (``recomputed``); then ``candles_changed`` says
    whether the stored candles still match the slice's fingerprint (None for
    stored trades).
    """
    if isinstance(run_id, bool) or not isinstance(run_id, int):
        raise ValidationError(f"run id must be an integer, not {run_id!r}")
    run = db.session.get(OptimizationRun, run_id)
    if run is None:
        raise NotFoundError(f"optimization run {run_id} not found")
    slice_ = run.slice
    if run.results_json:
        details = {**expand_details(run.results_json), "recomputed": False, "candles_changed": None}
    else:
        job = db.session.get(OptimizationJob, run.job_id)
        candles = load_candles(slice_.symbol, slice_.timeframe, start=job.start_date, end=end_of(job.end_date))
        if candles.empty:
            # Nothing to backtest again: say so (404) rather than fail inside the engine (500).
            raise NotFoundError(f"run {run.id}: the candles of {slice_.symbol} {slice_.timeframe} are no longer stored")
        full = run_backtest(candles, strategy=slice_.strategy, params=run.params, costs=CostModel(**job.costs))
        details = stored_details(full)
        details["recomputed"] = True
        details["candles_changed"] = candles_fingerprint(candles) != slice_.candles_fingerprint
    curve = details.get("equity_curve", [])
    return {
        "run_id": run.id,
        "job_id": run.job_id,
        "symbol": slice_.symbol,
        "timeframe": slice_.timeframe,
        "strategy": slice_.strategy,
        "params": run.params,
        "metrics": run.metrics(),
        **details,
        "drawdown": drawdown_curve(curve),
        "r_histogram": r_histogram([t["r_multiple"] for t in details.get("trades", [])]),
    }
