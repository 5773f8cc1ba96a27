"""A job's parameter sets pooled across its symbols (``app.evaluation.selection.pooled`` over stored runs).

One query per (job, timeframe, strategy) reads the few columns the ranking
needs from every completed slice's runs; nothing else is loaded.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from app.enums import SliceStatus
from app.evaluation.selection.pooled import PooledSet, rank_pooled
from app.extensions import db
from app.models import OptimizationRun, OptimizationSlice


def pooled_sets(job_id: int, *, timeframe: str, strategy: str, min_trades: int) -> list[PooledSet]:
    """Rank the job's sets of ``strategy`` on ``timeframe`` pooled across its completed slices, best first."""
    rows = db.session.execute(
        select(
            OptimizationRun.slice_id,
            OptimizationRun.param_key,
            OptimizationRun.total_trades,
            OptimizationRun.expectancy_r,
            OptimizationRun.sharpe_ratio,
        )
        .join(OptimizationSlice, OptimizationSlice.id == OptimizationRun.slice_id)
        .where(
            OptimizationSlice.job_id == job_id,
            OptimizationSlice.timeframe == timeframe,
            OptimizationSlice.strategy == strategy,
            OptimizationSlice.status == SliceStatus.COMPLETED,
        )
        .order_by(OptimizationRun.id)
    ).all()
    columns = ["slice", "param_key", "total_trades", "expectancy_r", "sharpe_ratio"]
    return rank_pooled(pd.DataFrame(rows, columns=columns), min_trades=min_trades)


def pooled_run(slice_: OptimizationSlice, *, min_trades: int) -> tuple[OptimizationRun, PooledSet] | None:
    """The slice's run of its job's top pooled set, with that set's standing; None when nothing pools."""
    ranked = pooled_sets(slice_.job_id, timeframe=slice_.timeframe, strategy=slice_.strategy, min_trades=min_trades)
    if not ranked:
        return None
    run = db.session.scalar(
        select(OptimizationRun).where(
            OptimizationRun.slice_id == slice_.id, OptimizationRun.param_key == ranked[0].param_key
        )
    )
    return (run, ranked[0]) if run is not None else None
