"""A job's slices as the detail page lists them: one line each, filtered, sorted, paginated, with a verdict.

Each row carries the best run's key metrics, a sparkline of its stored equity
curve and the promotion gate's verdict on the slice's candidate (its robust
best, as the auto-tuner takes it): ``passes`` or the first check that refuses
(``auto_tuner.gate_refusal``, the same rule Apply uses). ``arrange`` is pure:
it filters, sorts and pages rows already read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.charts import sparkline
from app.enums import SliceStatus
from app.errors import NotFoundError
from app.extensions import db
from app.models import OptimizationRun, OptimizationSlice
from app.services import auto_tuner
from app.services.optimizer.jobs import get_job

PER_PAGE = 20
FILTERS = ("strategy", "symbol", "timeframe", "verdict")
SORTS = ("slice", "runs", "composite_score", "total_profit_pct", "win_rate", "total_trades", "max_drawdown", "verdict")
PASSES = "passes"


def slice_table(job_id: int, *, query: dict[str, Any]) -> dict[str, Any]:
    """Return {rows, total, page, pages, options, query}: one page of the job's slices (``arrange``)."""
    return arrange(slice_rows(job_id), **query)


def slice_rows(job_id: int) -> list[dict[str, Any]]:
    """Every slice of the job with its best run's metrics, sparkline and the gate's verdict on its candidate."""
    job = get_job(job_id)
    slices = list(db.session.scalars(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id)))
    run_ids = {i for s in slices for i in (s.best_run_id, s.robust_run_id) if i is not None}
    runs = {r.id: r for r in db.session.scalars(select(OptimizationRun).where(OptimizationRun.id.in_(run_ids)))}
    return [_row(s, job, runs) for s in slices]


def slice_detail(job_id: int, slice_id: int) -> dict[str, Any]:
    """One slice of the job for its own page: the table's row plus its checks, robust run and the job's facts."""
    job = get_job(job_id)
    slice_ = db.session.get(OptimizationSlice, slice_id)
    if slice_ is None or slice_.job_id != job_id:
        raise NotFoundError(f"slice {slice_id} of optimization job {job_id} not found")
    ids = [i for i in (slice_.best_run_id, slice_.robust_run_id) if i is not None]
    runs = {r.id: r for r in db.session.scalars(select(OptimizationRun).where(OptimizationRun.id.in_(ids)))}
    robust = runs.get(slice_.robust_run_id)
    return {
        **_row(slice_, job, runs),
        "job": {"id": job.id, "name": job.name, "ranking_metric": job.ranking_metric, "min_trades": job.min_trades},
        "robust": {
            "run_id": robust.id,
            "params": robust.params,
            "metrics": robust.metrics(),
            "stability_score": robust.stability_score,
        }
        if robust
        else None,
        "checks": slice_.checks_json or {},
    }


def _row(slice_: OptimizationSlice, job, runs: dict[int, OptimizationRun]) -> dict[str, Any]:
    best, robust = runs.get(slice_.best_run_id), runs.get(slice_.robust_run_id)
    candidate = auto_tuner.Candidate(slice_, job, robust or best)
    done = slice_.status == SliceStatus.COMPLETED
    reason = auto_tuner.gate_refusal(candidate) if done else slice_.error_message
    # The badge is the refusing check's name ("luck", "no walk-forward"); the full reason is its tooltip.
    verdict = (reason.split(":")[0] if reason else PASSES) if done else str(slice_.status)
    return {
        "id": slice_.id,
        "slice": f"{slice_.symbol} {slice_.timeframe} {slice_.strategy}",
        "symbol": slice_.symbol,
        "timeframe": slice_.timeframe,
        "strategy": slice_.strategy,
        "status": slice_.status,
        "error": slice_.error_message,
        "runs": slice_.run_count,
        "best": {"run_id": best.id, "params": best.params, "metrics": best.metrics()} if best else None,
        "spark": sparkline(_equity(best)) if best else "",
        "out_of_sample": auto_tuner.out_of_sample(slice_),
        "verdict": verdict,
        "reason": reason or "",
    }


def _equity(run: OptimizationRun) -> list[float]:
    """The stored equity values of a best run (either storage format), starting at 1."""
    stored = run.results_json or {}
    if "equity" in stored:
        return [1.0, *stored["equity"]]
    return [p.get("equity", 1.0) for p in stored.get("equity_curve", [])]


def arrange(
    rows: list[dict[str, Any]],
    *,
    sort: str = "slice",
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
    **filters: str | None,
) -> dict[str, Any]:
    """Filter rows on ``FILTERS`` (exact values), sort on one of ``SORTS`` (missing values last), cut one page."""
    options = {key: sorted({str(r[key]) for r in rows}) for key in FILTERS}
    kept = [r for r in rows if all(not filters.get(k) or str(r[k]) == filters[k] for k in FILTERS)]
    kept.sort(key=lambda r: r["slice"])
    if sort != "slice":
        present = [r for r in kept if _sort_value(r, sort) is not None]
        present.sort(key=lambda r: _sort_value(r, sort), reverse=descending)
        kept = present + [r for r in kept if _sort_value(r, sort) is None]
    elif descending:
        kept.reverse()
    pages = max(1, -(-len(kept) // per_page))
    page = min(max(1, page), pages)
    return {
        "rows": kept[(page - 1) * per_page : page * per_page],
        "total": len(kept),
        "page": page,
        "pages": pages,
        "options": options,
        "query": {"sort": sort, "descending": descending, **{k: filters.get(k) for k in FILTERS}},
    }


def _sort_value(row: dict[str, Any], sort: str) -> Any:
    if sort in ("runs", "verdict"):
        return row[sort]
    return row["best"]["metrics"].get(sort) if row["best"] else None
