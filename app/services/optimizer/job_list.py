"""The jobs list the dashboard pages through: filters, one page of jobs, each with its best result.

Answers from the job rows and, for the page's jobs only, their slices' stored
best runs (one query each), so the page costs O(page), whatever the number of
stored runs.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import String, cast, func, select

from app.enums import JobStatus, values
from app.errors import ValidationError
from app.evaluation.scoring import RANKING_METRICS
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models._time import utcnow
from app.services.optimizer import jobs
from app.strategies import strategy_names

PER_PAGE = 20


def jobs_page(*, status: str | None = None, strategy: str | None = None, page: int = 1, per_page: int = PER_PAGE):
    """Return {total, page, pages, per_page, rows}: the newest jobs first, filtered by status and strategy.

    Each row: id, name, status, scope, created_at, age_seconds, progress
    (``jobs.job_progress``) and ``best`` (the slice run best by the job's
    ranking metric, or None before any slice is stored).
    """
    filters = _filters(status, strategy)
    if not isinstance(page, int) or page < 1:
        raise ValidationError(f"page must be an integer >= 1, not {page!r}")
    total = db.session.scalar(select(func.count()).select_from(OptimizationJob).where(*filters))
    pages = max(1, math.ceil(total / per_page))
    page_jobs = list(
        db.session.scalars(
            select(OptimizationJob)
            .where(*filters)
            .order_by(OptimizationJob.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    best = _best_per_job(page_jobs)
    now = utcnow()
    rows = [
        {
            "id": job.id,
            "name": job.name,
            "status": str(job.status),
            "scope": {"symbols": job.symbols, "timeframes": job.timeframes, "strategies": job.strategies},
            "created_at": job.created_at.isoformat(),
            "age_seconds": (now - job.created_at).total_seconds(),
            "progress": jobs.job_progress(job),
            "ranking_metric": job.ranking_metric,
            "summary": job.summary,
            "best": best.get(job.id),
        }
        for job in page_jobs
    ]
    return {"total": total, "page": page, "pages": pages, "per_page": per_page, "rows": rows}


def _filters(status: str | None, strategy: str | None) -> list:
    filters = []
    if status:
        if status not in values(JobStatus):
            raise ValidationError(f"status must be one of {', '.join(values(JobStatus))}, not '{status}'")
        filters.append(OptimizationJob.status == status)
    if strategy:
        if strategy not in strategy_names():
            raise ValidationError(f"unknown strategy '{strategy}' (known: {', '.join(strategy_names())})")
        # The scope is a JSON array of names: its text holds the quoted name (SQLite and MySQL alike).
        filters.append(cast(OptimizationJob.strategies, String).like(f'%"{strategy}"%'))
    return filters


def _best_per_job(page_jobs: list[OptimizationJob]) -> dict[int, dict[str, Any]]:
    """Return per job the best of its slices' best runs by the job's ranking metric."""
    if not page_jobs:
        return {}
    rows = db.session.execute(
        select(OptimizationSlice, OptimizationRun)
        .join(OptimizationRun, OptimizationRun.id == OptimizationSlice.best_run_id)
        .where(OptimizationSlice.job_id.in_([job.id for job in page_jobs]))
    ).all()
    metric_of = {job.id: job.ranking_metric for job in page_jobs}
    best: dict[int, dict[str, Any]] = {}
    for slice_, run in rows:
        metric = metric_of[slice_.job_id]
        value = getattr(run, metric)
        current = best.get(slice_.job_id)
        higher = RANKING_METRICS.get(metric, True)
        if current is None or (value > current["value"] if higher else value < current["value"]):
            best[slice_.job_id] = {
                "slice": slice_.label,
                "run_id": run.id,
                "metric": metric,
                "value": value,
                "params": run.params,
                "total_profit_pct": run.total_profit_pct,
                "win_rate": run.win_rate,
                "total_trades": run.total_trades,
            }
    return best
