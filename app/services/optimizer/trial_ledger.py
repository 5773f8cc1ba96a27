"""The trial ledger: how many parameter sets have been tried on each (symbol, timeframe, strategy), over all jobs.

Every job records, per slice, how many parameter sets it evaluated
(``OptimizationSlice.run_count``). Slices outlive retention (``prune_runs``
deletes runs, never slices), so the ledger is exact for the life of the
database; deleting a job (``jobs.delete_job``) deletes its slices and so
removes its trials from the ledger (docs/selection.md). A slice's *prior* trials are those of every earlier job (a lower
job id) on the same symbol, timeframe and strategy: re-running a sweep every
week is more trials on mostly the same history, and the selection statistics
deflate by the cumulative count (``app.evaluation.selection.slice_report``).
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import OptimizationSlice

SliceKey = tuple[str, str, str]


def prior_trials(*, job_id: int, keys: list[SliceKey]) -> dict[SliceKey, int]:
    """Return, per (symbol, timeframe, strategy), the parameter sets jobs before ``job_id`` evaluated for it."""
    wanted = set(keys)
    rows = db.session.execute(
        select(
            OptimizationSlice.symbol,
            OptimizationSlice.timeframe,
            OptimizationSlice.strategy,
            func.sum(OptimizationSlice.run_count),
        )
        .where(OptimizationSlice.job_id < job_id)
        .group_by(OptimizationSlice.symbol, OptimizationSlice.timeframe, OptimizationSlice.strategy)
    )
    found = {(symbol, timeframe, strategy): int(total or 0) for symbol, timeframe, strategy, total in rows}
    return {key: found.get(key, 0) for key in wanted}
