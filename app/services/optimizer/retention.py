"""Retention: delete old jobs' runs, keep what the product still reads.

A weekly sweep stores every run (57,600 today, millions for a large user);
after a few weeks only each slice's answers matter. ``prune_runs`` deletes
the runs of finished jobs beyond the newest ``keep_last`` and/or created more
than ``older_than_days`` ago, except, per slice, its best runs (``best_run_id``,
``robust_run_id``, every ``best_runs`` entry: the best-parameter tables,
the auto-tuner and the trades pages read them) and any run another table
still points at with a foreign key (production parameter history, user copies).
Jobs and slices stay, with their counters, checks (Monte Carlo, walk-forward)
and the lookahead verdicts: a pruned job still reports what it found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select

from app.enums import JobStatus
from app.errors import ValidationError
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models._time import utcnow

FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass
class PruneReport:
    """What ``prune_runs`` deleted (or, with ``dry_run``, would delete)."""

    jobs: list[int] = field(default_factory=list)
    deleted_runs: int = 0
    kept_runs: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        if not self.jobs:
            return "nothing to prune"
        return (
            f"{verb} {self.deleted_runs} runs of {len(self.jobs)} jobs ({', '.join(map(str, self.jobs))}); "
            f"kept {self.kept_runs} best or referenced runs"
        )


def prune_runs(
    *, keep_last: int | None = None, older_than_days: int | None = None, dry_run: bool = False
) -> PruneReport:
    """Delete the runs of old finished jobs except each slice's best and referenced ones (module docstring).

    A job is pruned when it is finished and outside the newest ``keep_last``
    jobs and (when given) created more than ``older_than_days`` ago. Running
    and pending jobs are never touched. One transaction per job.
    """
    jobs = _jobs_to_prune(keep_last=keep_last, older_than_days=older_than_days)
    report = PruneReport(dry_run=dry_run)
    referenced = _referenced_run_ids()
    for job_id in jobs:
        deleted, kept = _prune_job(job_id, referenced=referenced, dry_run=dry_run)
        if deleted:
            report.jobs.append(job_id)
            report.deleted_runs += deleted
            report.kept_runs += kept
    return report


def prune_as_configured() -> PruneReport | None:
    """Prune by ``OPTIMIZER_PRUNE_KEEP_LAST`` / ``OPTIMIZER_PRUNE_OLDER_THAN_DAYS`` (None when neither is set)."""
    config = current_app.config
    keep_last, older_than = config.get("OPTIMIZER_PRUNE_KEEP_LAST"), config.get("OPTIMIZER_PRUNE_OLDER_THAN_DAYS")
    if keep_last is None and older_than is None:
        return None
    return prune_runs(keep_last=keep_last, older_than_days=older_than)


def _jobs_to_prune(*, keep_last: int | None, older_than_days: int | None) -> list[int]:
    for name, value in (("keep_last", keep_last), ("older_than_days", older_than_days)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValidationError(f"{name} must be an integer >= 0, got {value!r}", details={"field": name})
    if keep_last is None and older_than_days is None:
        raise ValidationError("say what to keep: keep_last (newest jobs) and/or older_than_days")
    query = select(OptimizationJob.id).where(OptimizationJob.status.in_(FINISHED))
    if keep_last:  # the id of the keep_last-th newest job; everything older may go (no LIMIT in IN: MySQL)
        oldest_kept = db.session.scalar(
            select(OptimizationJob.id).order_by(OptimizationJob.id.desc()).offset(keep_last - 1).limit(1)
        )
        if oldest_kept is None:
            return []
        query = query.where(OptimizationJob.id < oldest_kept)
    if older_than_days is not None:
        query = query.where(OptimizationJob.created_at < utcnow() - timedelta(days=older_than_days))
    return list(db.session.scalars(query.order_by(OptimizationJob.id)))


def _prune_job(job_id: int, *, referenced: set[int], dry_run: bool) -> tuple[int, int]:
    """Delete one job's unkept runs slice by slice; return (deleted, kept)."""
    deleted = kept = 0
    slices = db.session.scalars(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id)).all()
    for slice_ in slices:
        keep = _kept_in_slice(slice_, referenced)
        doomed = select(func.count()).where(OptimizationRun.slice_id == slice_.id, OptimizationRun.id.not_in(keep))
        count = db.session.scalar(doomed.select_from(OptimizationRun))
        if count and not dry_run:
            db.session.execute(
                delete(OptimizationRun).where(OptimizationRun.slice_id == slice_.id, OptimizationRun.id.not_in(keep))
            )
        deleted += count
        kept += len(keep)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return deleted, kept


def _kept_in_slice(slice_: OptimizationSlice, referenced: set[int]) -> set[int]:
    """The runs of a slice that retention keeps: its best ones and those other tables reference."""
    keep = {slice_.best_run_id, slice_.robust_run_id, *(slice_.best_runs or {}).values()} - {None}
    if referenced:
        keep |= referenced & set(
            db.session.scalars(select(OptimizationRun.id).where(OptimizationRun.slice_id == slice_.id))
        )
    return keep


def _referenced_run_ids() -> set[int]:
    """Run ids that any other table points at with a foreign key (e.g. production parameter sets)."""
    runs = OptimizationRun.__table__
    found: set[int] = set()
    for table in db.metadata.sorted_tables:
        if table is runs:
            continue
        for key in table.foreign_keys:
            if key.column.table is runs:
                column = key.parent
                found.update(db.session.scalars(select(column).where(column.is_not(None)).distinct()))
    return found
