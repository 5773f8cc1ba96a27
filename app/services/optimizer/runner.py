"""Run optimization jobs: claim under a lease, evaluate slices in worker processes, store each slice.

Each (symbol, timeframe, strategy) of a job is a *slice*: one task that
evaluates the strategy's whole grid in one backtester call in a worker
process (``app.services.optimization_worker``). The runner's process is the
only database writer: it stores each slice (its row, its runs in one bulk
insert, its best runs and checks, the job's counters) in one transaction.

Ownership is a lease with a fencing token: claiming a job increments its
``lease`` and every later write of the runner is conditional on still
holding that lease (same transaction), so a process that lost its job to a
takeover stops with ``LeaseLostError`` and writes nothing more. A job whose
heartbeat is older than ``stale_after`` (its process died) can be claimed
again. Resuming skips completed slices; a failed slice is deleted and retried.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing import get_all_start_methods, get_context
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from app.enums import JobStatus, SliceStatus
from app.errors import ConflictError
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models._time import utcnow
from app.models.optimization import METRIC_COLUMNS
from app.services.candle_store import load_candles
from app.services.costs import CostModel
from app.services.optimization_worker import SliceKey, SliceResult, SliceTask, candles_fingerprint, evaluate_slice
from app.services.optimizer.jobs import end_of, get_job
from app.services.validation import check_prefix_invariance
from app.strategies import get_strategy

log = logging.getLogger(__name__)
ProgressCallback = Callable[["ProgressEvent"], None]

# Lookahead verdicts already reached in this process: (strategy, code version, candles fingerprint) -> verdict.
_GUARD_CACHE: dict[tuple[str, str, str], dict[str, Any]] = {}


class LeaseLostError(ConflictError):
    """Another process took the job over; this runner wrote nothing after noticing."""


@dataclass
class RunStats:
    """Where a ``run_job`` call spent its time (for the benchmark and the logs)."""

    slices: int = 0
    runs: int = 0
    compute_seconds: float = 0.0  # summed over workers (CPU-side work, detection to metrics)
    store_seconds: float = 0.0  # main process, database writes
    wall_seconds: float = 0.0

    def add(self, result: SliceResult, *, store_seconds: float) -> None:
        self.slices += 1
        self.runs += len(result.metrics) if result.metrics is not None else 0
        self.compute_seconds += result.seconds
        self.store_seconds += store_seconds


@dataclass(frozen=True)
class ProgressEvent:
    """Reported after each stored slice (and once at the start with ``result=None``)."""

    job: OptimizationJob
    result: SliceResult | None
    done_slices: int
    total_slices: int


def slice_label(key: SliceKey) -> str:
    """Return a slice as text: ``BTC/USDT|1h|imbalance``."""
    return "|".join(key)


class JobRunner:
    """Claim and run one job at a time (see the module docstring)."""

    def __init__(self, *, workers: int | None = None, stale_after: timedelta | None = None, owner: str | None = None):
        config = current_app.config
        self.workers = workers or config.get("OPTIMIZER_WORKERS") or os.cpu_count() or 1
        self.stale_after = stale_after or timedelta(seconds=config.get("OPTIMIZER_STALE_SECONDS", 600))
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = 0
        self.last_stats = RunStats()

    def run(self, job_id: int, *, progress: ProgressCallback | None = None) -> OptimizationJob:
        """Claim the job, evaluate every pending slice, store each as it finishes; return the job.

        The job ends ``completed`` when every slice succeeded, ``failed`` (with
        a summary naming the slices) otherwise. Raises ConflictError when
        another live process holds the job, LeaseLostError when it is taken
        over while this runner works.
        """
        started = time.perf_counter()
        job = self._claim(job_id)
        stats = self.last_stats = RunStats()
        try:
            tasks = self._pending_tasks(job)
            if not self._lookahead_guard(job, tasks):
                return job
            if progress:
                progress(ProgressEvent(job, None, 0, len(tasks)))
            for done, result in enumerate(self._execute(job, tasks), start=1):
                if self._cancelled(job):
                    break
                store_started = time.perf_counter()
                self._store_slice(job, result)
                stats.add(result, store_seconds=time.perf_counter() - store_started)
                if progress:
                    progress(ProgressEvent(job, result, done, len(tasks)))
            else:
                self._finish(job)
            stats.wall_seconds = time.perf_counter() - started
        except LeaseLostError:
            db.session.rollback()
            log.warning("job %s: lease lost to another runner; stopped without writing", job_id)
            raise
        except BaseException as exc:
            db.session.rollback()
            self._mark_interrupted(job_id, exc)
            raise
        return job

    # ------------------------------------------------------------------ the lease

    def _claim(self, job_id: int) -> OptimizationJob:
        job = get_job(job_id)
        now = utcnow()
        claimed = db.session.execute(
            update(OptimizationJob)
            .where(
                OptimizationJob.id == job_id,
                or_(
                    OptimizationJob.status != JobStatus.RUNNING,
                    OptimizationJob.heartbeat_at.is_(None),
                    OptimizationJob.heartbeat_at < now - self.stale_after,
                ),
            )
            .values(
                status=JobStatus.RUNNING,
                claimed_by=self.owner,
                lease=OptimizationJob.lease + 1,
                heartbeat_at=now,
                started_at=func.coalesce(OptimizationJob.started_at, now),
                completed_at=None,
                summary=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        db.session.refresh(job)
        if claimed != 1:
            raise ConflictError(f"job {job_id} is already running (claimed by {job.claimed_by})")
        self.lease = job.lease
        log.info("job %s claimed by %s (lease %s)", job_id, self.owner, self.lease)
        return job

    def _hold(self, job: OptimizationJob, **changes: Any) -> None:
        """Apply ``changes`` to the job row only while this runner still holds the lease (in the caller's
        transaction); otherwise roll back and raise LeaseLostError."""
        held = db.session.execute(
            update(OptimizationJob)
            .where(OptimizationJob.id == job.id, OptimizationJob.lease == self.lease)
            .values(heartbeat_at=utcnow(), **changes)
            .execution_options(synchronize_session=False)
        ).rowcount
        if held != 1:
            db.session.rollback()
            raise LeaseLostError(f"job {job.id} was taken over by another runner; this one stopped")

    # ------------------------------------------------------------------ slices

    def _pending_tasks(self, job: OptimizationJob) -> list[SliceTask]:
        """Return the slices still to do, heaviest first; failed slices are cleared for a retry."""
        stored = {
            (symbol, timeframe, strategy): status
            for symbol, timeframe, strategy, status in db.session.execute(
                select(
                    OptimizationSlice.symbol,
                    OptimizationSlice.timeframe,
                    OptimizationSlice.strategy,
                    OptimizationSlice.status,
                ).where(OptimizationSlice.job_id == job.id)
            )
        }
        db.session.execute(
            delete(OptimizationSlice).where(
                OptimizationSlice.job_id == job.id, OptimizationSlice.status == SliceStatus.FAILED
            )
        )
        self._hold(job, **self._counters(job.id))
        db.session.commit()
        costs = CostModel(**job.costs)
        combos = {name: get_strategy(name).space.expand(grid) for name, grid in job.parameter_grids.items()}
        tasks = []
        for symbol in job.symbols:
            for timeframe in job.timeframes:
                todo = [s for s in job.strategies if stored.get((symbol, timeframe, s)) != SliceStatus.COMPLETED]
                if not todo:
                    continue
                candles = load_candles(symbol, timeframe, job.start_date, end_of(job.end_date))
                tasks.extend(
                    SliceTask(
                        symbol=symbol,
                        timeframe=timeframe,
                        strategy=strategy,
                        candles=candles,
                        combinations=combos[strategy],
                        costs=costs,
                        ranking_metric=job.ranking_metric,
                        min_trades=job.min_trades,
                        validation=job.validation,
                        monte_carlo=job.monte_carlo,
                        seed=job.id,
                    )
                    for strategy in todo
                )
        return sorted(tasks, key=lambda t: len(t.candles) * len(t.combinations), reverse=True)

    def _counters(self, job_id: int) -> dict[str, int]:
        """Completed and failed run counts as stored (failed slices count their whole grid)."""
        completed = db.session.scalar(
            select(func.coalesce(func.sum(OptimizationSlice.run_count), 0)).where(
                OptimizationSlice.job_id == job_id, OptimizationSlice.status == SliceStatus.COMPLETED
            )
        )
        return {"completed_runs": int(completed), "failed_runs": 0}

    def _lookahead_guard(self, job: OptimizationJob, tasks: list[SliceTask]) -> bool:
        """Check each strategy for prefix invariance on the job's own candles; a violation stops the job.

        Uses the largest pending slice per strategy (cut points seeded by the
        job id). Verdicts are cached per (strategy, code version, candles
        fingerprint) in this process. A strategy that crashes outright is left
        to the slices, which record the error.
        """
        verdicts: dict[str, Any] = {}
        for task in tasks:  # heaviest first, so the first task of a strategy has the most candles
            if task.strategy not in verdicts:
                verdicts[task.strategy] = _guard_verdict(task, seed=job.id)
        if not verdicts:
            return True
        failed = sorted(name for name, v in verdicts.items() if v["status"] == "violated")
        changes: dict[str, Any] = {"validation_json": {**(job.validation_json or {}), "lookahead": verdicts}}
        if failed:
            first = verdicts[failed[0]]["violations"][0]
            changes.update(
                status=JobStatus.FAILED,
                completed_at=utcnow(),
                claimed_by=None,
                summary=f"stopped by the lookahead guard: {', '.join(failed)} not prefix-invariant ({first})",
            )
            log.error("job %s: %s", job.id, changes["summary"])
        self._hold(job, **changes)
        db.session.commit()
        db.session.refresh(job)
        return not failed

    def _execute(self, job: OptimizationJob, tasks: list[SliceTask]) -> Iterator[SliceResult]:
        """Yield slice results as they finish; one worker runs inline, more use a process pool."""
        if self.workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield evaluate_slice(task)
            return
        # fork shares the already-compiled strategies and engine with the workers at no cost;
        # workers never touch the database (they only compute), so inherited connections stay unused.
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context) as pool:
            pending = {pool.submit(evaluate_slice, task) for task in tasks}
            try:
                while pending:
                    finished, pending = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
                    if not finished:
                        self._hold(job)  # a heartbeat while long slices compute
                        db.session.commit()
                    for future in finished:
                        yield future.result()
            finally:
                # Closed early (a cancelled job): slices not yet started are dropped, not computed.
                pool.shutdown(wait=False, cancel_futures=True)

    def _store_slice(self, job: OptimizationJob, result: SliceResult) -> None:
        """Store one slice (row, runs, best runs, checks, counters) in one transaction, under the lease."""
        symbol, timeframe, strategy = result.key
        failed = result.error is not None
        runs = 0 if failed else len(result.metrics)
        grid_runs = get_strategy(strategy).space.grid_size(job.parameter_grids[strategy])
        self._hold(
            job,
            completed_runs=OptimizationJob.completed_runs + runs,
            failed_runs=OptimizationJob.failed_runs + (grid_runs if failed else 0),
        )
        slice_id = db.session.execute(
            insert(OptimizationSlice).values(
                job_id=job.id,
                symbol=symbol,
                timeframe=timeframe,
                strategy=strategy,
                status=SliceStatus.FAILED if failed else SliceStatus.COMPLETED,
                run_count=runs,
                candles_fingerprint=result.fingerprint,
                checks_json=result.checks or None,
                error_message=result.error[:4000] if failed else None,
                seconds=result.seconds,
                stored_at=utcnow(),
            )
        ).inserted_primary_key[0]
        if not failed:
            db.session.execute(insert(OptimizationRun), _run_rows(job.id, slice_id, result))
            best_ids = _run_ids(slice_id, result)
            db.session.execute(
                update(OptimizationSlice)
                .where(OptimizationSlice.id == slice_id)
                .values(
                    best_run_id=best_ids.get(result.best_position), robust_run_id=best_ids.get(result.robust_position)
                )
            )
        db.session.commit()
        db.session.refresh(job)
        log.info("job %s: stored %s (%s runs%s)", job.id, slice_label(result.key), runs, ", FAILED" if failed else "")

    def _cancelled(self, job: OptimizationJob) -> bool:
        """Between slices: when the job was cancelled (``jobs.cancel_job``), release it and say so.

        What was stored stays; the slice just computed is dropped. The release
        is written under the lease like every other write of the runner.
        """
        status = db.session.scalar(select(OptimizationJob.status).where(OptimizationJob.id == job.id))
        if status != JobStatus.CANCELLED:
            return False
        self._hold(job, claimed_by=None)
        db.session.commit()
        db.session.refresh(job)
        log.info("job %s cancelled: stopped after %s stored runs", job.id, job.completed_runs)
        return True

    def _finish(self, job: OptimizationJob) -> None:
        failed = list(
            db.session.scalars(
                select(OptimizationSlice).where(
                    OptimizationSlice.job_id == job.id, OptimizationSlice.status == SliceStatus.FAILED
                )
            )
        )
        summary = f"{job.completed_runs} of {job.total_runs} runs completed, {job.failed_runs} failed"
        if failed:
            summary += f"; failed slices: {', '.join(s.label for s in failed)} (run the job again to retry them)"
        self._hold(
            job,
            status=JobStatus.FAILED if failed else JobStatus.COMPLETED,
            completed_at=utcnow(),
            claimed_by=None,
            summary=summary,
        )
        db.session.commit()
        db.session.refresh(job)
        log.info("job %s %s: %s", job.id, job.status, summary)

    def _mark_interrupted(self, job_id: int, exc: BaseException) -> None:
        updated = db.session.execute(
            update(OptimizationJob)
            .where(OptimizationJob.id == job_id, OptimizationJob.lease == self.lease)
            .values(
                status=JobStatus.FAILED,
                claimed_by=None,
                summary=f"interrupted by {type(exc).__name__}: {exc}; run the job again to resume",
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if updated:
            log.error("job %s interrupted by %s: %s", job_id, type(exc).__name__, exc)


def _guard_verdict(task: SliceTask, *, seed: int) -> dict[str, Any]:
    strategy = get_strategy(task.strategy)
    key = (task.strategy, strategy.code_version(), candles_fingerprint(task.candles))
    if key in _GUARD_CACHE:
        return _GUARD_CACHE[key]
    try:
        violations = check_prefix_invariance(task.candles, strategy=task.strategy, n_cuts=10, seed=seed)
    except Exception as exc:  # noqa: BLE001 - the slices will fail and record it
        return {"status": "not checked", "error": f"{type(exc).__name__}: {exc}"}
    verdict = {
        "status": "violated" if violations else "ok",
        "checked_on": slice_label(task.key),
        "code_version": key[1],
        "violations": violations[:20],
    }
    _GUARD_CACHE[key] = verdict
    return verdict


def _run_rows(job_id: int, slice_id: int, result: SliceResult) -> list[dict[str, Any]]:
    """The runs of one slice as insert rows (parameters as JSON, metrics as columns)."""
    metrics = result.metrics
    params = metrics.drop(columns=[*METRIC_COLUMNS, "stability_score"]).to_dict("records")
    values = metrics[[*METRIC_COLUMNS, "stability_score"]].to_dict("records")
    trades_at = result.best_position
    return [
        {
            "job_id": job_id,
            "slice_id": slice_id,
            "param_key": key,
            "params": {k: _plain(v) for k, v in p.items()},
            **v,
            # Trades only for the slice's best run: results_json stays small.
            "results_json": result.best_result if position == trades_at else None,
        }
        for position, (key, p, v) in enumerate(zip(result.param_keys, params, values, strict=True))
    ]


def _run_ids(slice_id: int, result: SliceResult) -> dict[int, int]:
    """Map the best positions (raw, robust, per metric) of a stored slice to their run ids."""
    positions = {result.best_position, result.robust_position, *result.best_by_metric.values()} - {None}
    keys = {result.param_keys[p]: p for p in positions}
    rows = db.session.execute(
        select(OptimizationRun.param_key, OptimizationRun.id).where(
            OptimizationRun.slice_id == slice_id, OptimizationRun.param_key.in_(keys)
        )
    ).all()
    return {keys[key]: run_id for key, run_id in rows}


def _plain(value: Any) -> Any:
    """Turn numpy scalars into plain Python values for JSON."""
    return value.item() if hasattr(value, "item") else value
