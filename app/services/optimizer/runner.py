"""Run optimization jobs: claim under a lease, evaluate slices through an executor, store each slice.

Each (symbol, timeframe, strategy) of a job is a *slice*: one task that
evaluates the strategy's whole grid in one backtester call in a worker
process (``app.evaluation.slice_eval``), on this machine or on a Dask
cluster (``app.services.optimizer.executors``). The runner's process is the
only database writer: it stores each slice (its row, its runs in one
driver-level bulk insert, its best runs and checks, the job's counters) in
one transaction.

Slices are handed out heaviest first as the executor asks (``PendingSlices``:
a market's candles load while the workers compute); each strategy's heaviest
slice also checks it for lookahead (``_Guard``), and nothing is stored until
every strategy's verdict is in: a leaky strategy fails the job with nothing
of it stored.

A runner asked to stop (``run(stop=...)``, the worker service on SIGTERM)
stores the slices already computing, then *releases* the job: back to
``pending`` with no owner, so the next runner resumes it at once.

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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from app.core.costs import CostModel
from app.enums import JobStatus, SliceStatus
from app.errors import ConflictError
from app.evaluation.slice_eval import (
    SliceKey,
    SliceResult,
    SliceTask,
    candles_fingerprint,
    grid_rows,
    lookahead_check_key,
    lookahead_seed,
)
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models._time import utcnow
from app.models.optimization import METRIC_COLUMNS
from app.services.bulk import insert_rows
from app.services.candles.candle_store import count_candles, load_candles
from app.services.optimizer.executors import SliceExecutor, make_executor
from app.services.optimizer.jobs import end_of, get_job
from app.services.optimizer.lookahead_store import find_verdict, record_verdicts
from app.services.optimizer.trial_ledger import prior_trials
from app.strategies import get_strategy

log = logging.getLogger(__name__)
ProgressCallback = Callable[["ProgressEvent"], None]
StopCheck = Callable[[], bool]
HEARTBEAT_SECONDS = 30  # while slices compute; a job is stale after OPTIMIZER_STALE_SECONDS without one

# The runs table's columns in insert order; the metric values come from the slice's metrics table.
RUN_METRIC_COLUMNS = (*METRIC_COLUMNS, "stability_score")
RUN_COLUMNS = ("job_id", "slice_id", "param_key", "params", *RUN_METRIC_COLUMNS, "results_json")

# Lookahead verdicts this process already reached or read, by their check's key (``lookahead_check_key``), each
# with where it came from (``reused``); the database (``lookahead_store``) keeps them across processes.
_GUARD_CACHE: dict[str, dict[str, Any]] = {}


class LeaseLostError(ConflictError):
    """Another process took the job over; this runner wrote nothing after noticing."""


@dataclass
class RunStats:
    """Where a ``run_job`` call spent its time (for the benchmark and the logs)."""

    slices: int = 0
    runs: int = 0
    compute_seconds: float = 0.0  # wall time summed over workers (detection to metrics)
    compute_cpu_seconds: float = 0.0  # CPU time summed over workers (meaningful on a busy machine)
    kernel_cpu_seconds: float = 0.0  # of which in the strategies' grid kernels
    lookahead_cpu_seconds: float = 0.0  # of which checking strategies for lookahead; the rest is per-slice overhead
    selection_cpu_seconds: float = 0.0  # of which the selection statistics (trials, PBO, DSR)
    prepare_seconds: float = 0.0  # main process, before the first slice is handed out: claim, plan
    store_seconds: float = 0.0  # main process, database writes (wall)
    store_cpu_seconds: float = 0.0  # main process, database writes (CPU)
    wall_seconds: float = 0.0

    def add(self, result: SliceResult, *, store_seconds: float, store_cpu_seconds: float) -> None:
        self.slices += 1
        self.runs += len(result.metrics) if result.metrics is not None else 0
        self.compute_seconds += result.seconds
        self.compute_cpu_seconds += result.cpu_seconds
        self.kernel_cpu_seconds += result.kernel_seconds
        self.lookahead_cpu_seconds += result.lookahead_seconds
        self.selection_cpu_seconds += result.selection_seconds
        self.store_seconds += store_seconds
        self.store_cpu_seconds += store_cpu_seconds


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

    def __init__(
        self,
        *,
        workers: int | None = None,
        stale_after: timedelta | None = None,
        owner: str | None = None,
        executor: SliceExecutor | None = None,
    ):
        config = current_app.config
        self.workers = workers or config.get("OPTIMIZER_WORKERS") or os.cpu_count() or 1
        self.stale_after = stale_after or timedelta(seconds=config.get("OPTIMIZER_STALE_SECONDS", 600))
        self.executor = executor or make_executor(
            kind=config.get("OPTIMIZER_EXECUTOR", "local"),
            workers=self.workers,
            address=config.get("DASK_SCHEDULER_ADDRESS"),
        )
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = 0
        self.last_stats = RunStats()
        self._beat = 0.0

    def run(
        self, job_id: int, *, progress: ProgressCallback | None = None, stop: StopCheck | None = None
    ) -> OptimizationJob:
        """Claim the job, evaluate every pending slice, store each as it finishes; return the job.

        The job ends ``completed`` when every slice succeeded, ``failed`` (with
        a summary naming the slices) otherwise, or ``pending`` again when
        ``stop()`` turned True before every slice was stored (released, see
        the module docstring). Raises ConflictError when another live process
        holds the job, LeaseLostError when it is taken over while this runner
        works.
        """
        started = time.perf_counter()
        job = self._claim(job_id)
        stats = self.last_stats = RunStats()
        stopping = stop or (lambda: False)
        try:
            tasks = self._pending_tasks(job)
            guard = tasks.guard
            if progress:
                progress(ProgressEvent(job, None, 0, len(tasks)))
            stats.prepare_seconds = time.perf_counter() - started
            stored = 0
            with closing(self.executor.run(tasks, tick=lambda: self._tick(job, stopping))) as results:
                for result in results:
                    for ready in guard.admit(result):
                        if self._cancel_requested(job):
                            self._stop_cancelled(job)
                            return job
                        if not self._guard_passed(job, guard):
                            return job
                        self._store(job, ready, stats)
                        stored += 1
                        if progress:
                            progress(ProgressEvent(job, ready, stored, len(tasks)))
            if self._cancel_requested(job):
                self._stop_cancelled(job)
                return job
            if stored < len(tasks):
                self._release(job, stored=stored, total=len(tasks))
                return job
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

    def _store(self, job: OptimizationJob, result: SliceResult, stats: RunStats) -> None:
        store_started, store_cpu = time.perf_counter(), time.process_time()
        self._store_slice(job, result)
        stats.add(
            result,
            store_seconds=time.perf_counter() - store_started,
            store_cpu_seconds=time.process_time() - store_cpu,
        )

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
            .values(**{"heartbeat_at": utcnow(), **changes})
            .execution_options(synchronize_session=False)
        ).rowcount
        self._beat = time.monotonic()
        if held != 1:
            db.session.rollback()
            raise LeaseLostError(f"job {job.id} was taken over by another runner; this one stopped")

    def _tick(self, job: OptimizationJob, stopping: StopCheck) -> bool:
        """The executors' callback: heartbeat every HEARTBEAT_SECONDS; True when the runner is asked to stop."""
        if time.monotonic() - self._beat >= HEARTBEAT_SECONDS:
            self._hold(job)  # LeaseLostError when the job was taken over
            db.session.commit()
        return bool(stopping()) or self._cancel_requested(job)  # a cancel leaves the other slices unsent

    def _release(self, job: OptimizationJob, *, stored: int, total: int) -> None:
        """Give a job back unfinished (asked to stop): pending, no owner, completed slices kept."""
        self._hold(
            job,
            status=JobStatus.PENDING,
            claimed_by=None,
            heartbeat_at=None,
            summary=f"released by {self.owner} on shutdown after storing {stored} of {total} pending slices; "
            "the next run resumes it",
        )
        db.session.commit()
        db.session.refresh(job)
        log.warning("job %s released after %s of %s slices (stop requested)", job.id, stored, total)

    # ------------------------------------------------------------------ slices

    def _pending_tasks(self, job: OptimizationJob) -> PendingSlices:
        """Return the slices still to do (``PendingSlices``); failed slices are cleared for a retry."""
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
        combos = {name: _combinations(name, grid) for name, grid in job.parameter_grids.items()}
        todo = [
            (symbol, timeframe, strategy)
            for symbol in job.symbols
            for timeframe in job.timeframes
            for strategy in job.strategies
            if stored.get((symbol, timeframe, strategy)) != SliceStatus.COMPLETED
        ]
        end = end_of(job.end_date)
        bars = {market: count_candles(*market, start=job.start_date, end=end) for market in {key[:2] for key in todo}}
        todo.sort(key=lambda key: bars[key[:2]] * len(combos[key[2]]), reverse=True)
        return PendingSlices(job=job, keys=todo, combinations=combos, prior=prior_trials(job_id=job.id, keys=todo))

    def _counters(self, job_id: int) -> dict[str, int]:
        """Completed and failed run counts as stored (failed slices count their whole grid)."""
        completed = db.session.scalar(
            select(func.coalesce(func.sum(OptimizationSlice.run_count), 0)).where(
                OptimizationSlice.job_id == job_id, OptimizationSlice.status == SliceStatus.COMPLETED
            )
        )
        return {"completed_runs": int(completed), "failed_runs": 0}

    def _guard_passed(self, job: OptimizationJob, guard: _Guard) -> bool:
        """Record the lookahead verdicts once all are in (before the first slice is stored); a violation stops
        the job: failed, nothing of it stored. True when the slices may be stored."""
        if guard.recorded:
            return not guard.failed
        guard.recorded = True
        verdicts = guard.verdicts
        lookahead = {**(job.validation_json or {}).get("lookahead", {}), **verdicts}
        changes: dict[str, Any] = {"validation_json": {**(job.validation_json or {}), "lookahead": lookahead}}
        if guard.failed:
            first = verdicts[guard.failed[0]]["violations"][0]
            changes.update(
                status=JobStatus.FAILED,
                completed_at=utcnow(),
                claimed_by=None,
                summary=f"stopped by the lookahead guard: {', '.join(guard.failed)} not prefix-invariant ({first})",
            )
            log.error("job %s: %s", job.id, changes["summary"])
        self._hold(job, **changes)
        record_verdicts(guard.checked, job_id=job.id)  # in the same transaction: kept only with the job's record
        db.session.commit()
        guard.remember(job_id=job.id)
        db.session.refresh(job)
        return not guard.failed

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
            insert_rows(OptimizationRun.__table__, columns=RUN_COLUMNS, rows=_run_rows(job.id, slice_id, result))
            best_ids = _run_ids(slice_id, result)
            db.session.execute(
                update(OptimizationSlice)
                .where(OptimizationSlice.id == slice_id)
                .values(
                    best_run_id=best_ids.get(result.best_position),
                    robust_run_id=best_ids.get(result.robust_position),
                    best_runs={metric: best_ids.get(p) for metric, p in result.best_by_metric.items()},
                )
            )
        db.session.commit()
        db.session.refresh(job)
        log.info("job %s: stored %s (%s runs%s)", job.id, slice_label(result.key), runs, ", FAILED" if failed else "")

    def _cancel_requested(self, job: OptimizationJob) -> bool:
        """Whether the job was cancelled (``jobs.cancel_job``) since this runner claimed it."""
        status = db.session.scalar(select(OptimizationJob.status).where(OptimizationJob.id == job.id))
        return status == JobStatus.CANCELLED

    def _stop_cancelled(self, job: OptimizationJob) -> None:
        """Give a cancelled job up: what was stored stays, a slice just computed is dropped.

        The release is written under the lease like every other write of the runner.
        """
        self._hold(job, claimed_by=None)
        db.session.commit()
        db.session.refresh(job)
        log.info("job %s cancelled: stopped after %s stored runs", job.id, job.completed_runs)

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


class _Guard:
    """The lookahead guard of one run: a verdict per strategy, reused from an identical earlier check (this
    process's cache, else the database: ``lookahead_store``) or from the heaviest pending slice of the strategy
    (which checks it first, see ``PendingSlices``); results wait here until every verdict is in, so a violation
    stops the job before anything is stored."""

    def __init__(self, *, strategies: list[str]):
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.waiting = set(strategies)  # no verdict yet
        self.checking: dict[SliceKey, tuple[str, str]] = {}  # slice asked to check -> (its strategy, check key)
        self.checked: list[tuple[str, str, str, dict[str, Any]]] = []  # (key, strategy, fingerprint, verdict) to store
        self.held: list[SliceResult] = []
        self.recorded = False

    def ask(self, key: SliceKey, fingerprint: str) -> int | None:
        """Called as a slice is handed out: the seed it checks its strategy with, or None (known or asked)."""
        strategy = key[2]
        if strategy not in self.waiting or any(name == strategy for name, _ in self.checking.values()):
            return None
        check_key = lookahead_check_key(strategy, fingerprint)
        known = _GUARD_CACHE.get(check_key) or find_verdict(check_key)
        if known is not None:
            _GUARD_CACHE[check_key] = known
            self._verdict(strategy, known)
            return None
        self.checking[key] = (strategy, check_key)
        return lookahead_seed(fingerprint)

    def admit(self, result: SliceResult) -> list[SliceResult]:
        """Take a result; return those that may now be stored (none while a verdict is missing)."""
        asked = self.checking.pop(result.key, None)
        if asked is not None:
            strategy, check_key = asked
            verdict = result.lookahead or {"status": "not checked", "error": result.error or "no verdict returned"}
            if verdict["status"] != "not checked":  # a crashed check is not a verdict: the next run checks again
                self.checked.append((check_key, strategy, result.fingerprint, verdict))
            self._verdict(strategy, verdict)
        self.held.append(result)
        if self.waiting:
            return []
        ready, self.held = self.held, []
        return ready

    def remember(self, *, job_id: int) -> None:
        """Put the verdicts this run checked into this process's cache (after they were stored with the job)."""
        checked_at = utcnow().isoformat(timespec="seconds")
        for check_key, _, _, verdict in self.checked:
            _GUARD_CACHE[check_key] = {**verdict, "reused": {"job_id": job_id, "checked_at": checked_at}}

    @property
    def failed(self) -> list[str]:
        return sorted(name for name, v in self.verdicts.items() if v["status"] == "violated")

    def _verdict(self, strategy: str, verdict: dict[str, Any]) -> None:
        self.verdicts[strategy] = verdict
        self.waiting.discard(strategy)


class PendingSlices:
    """The slices a run still has to do, heaviest first (bars x combinations), handed out as the executor asks.

    A market's candles are loaded when its first slice is handed out (the
    workers compute meanwhile) and kept until its last one is; the heaviest
    slice of each strategy moves to the front and checks that strategy for
    lookahead on its own candles first (``_Guard``).
    """

    def __init__(
        self,
        *,
        job: OptimizationJob,
        keys: list[SliceKey],
        combinations: dict[str, list[dict[str, Any]]],
        prior: dict[SliceKey, int] | None = None,
    ):
        self.job = job
        self.prior = prior or {}  # the trial ledger's count before this job, per slice
        self.combinations = combinations
        self.rows = {name: grid_rows(get_strategy(name).space, sets) for name, sets in combinations.items()}
        self.costs = CostModel(**job.costs)
        firsts = list({key[2]: key for key in reversed(keys)}.values())[::-1]  # each strategy's heaviest slice
        self.keys = firsts + [key for key in keys if key not in firsts]
        self.guard = _Guard(strategies=[key[2] for key in firsts])

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[SliceTask]:
        remaining = Counter(key[:2] for key in self.keys)
        markets: dict[tuple[str, str], tuple[Any, str]] = {}
        for symbol, timeframe, strategy in self.keys:
            market = (symbol, timeframe)
            if market not in markets:
                candles = load_candles(symbol, timeframe, start=self.job.start_date, end=end_of(self.job.end_date))
                markets[market] = (candles, candles_fingerprint(candles))
            candles, fingerprint = markets[market]
            remaining[market] -= 1
            if not remaining[market]:
                del markets[market]
            seed = self.guard.ask((symbol, timeframe, strategy), fingerprint)
            yield SliceTask(
                symbol=symbol,
                timeframe=timeframe,
                strategy=strategy,
                candles=candles,
                combinations=self.combinations[strategy],
                costs=self.costs,
                ranking_metric=self.job.ranking_metric,
                min_trades=self.job.min_trades,
                validation=self.job.validation,
                monte_carlo=self.job.monte_carlo,
                seed=self.job.id,
                rows=self.rows[strategy],
                fingerprint=fingerprint,
                lookahead_seed=seed,
                prior_trials=self.prior.get((symbol, timeframe, strategy), 0),
            )


def _combinations(strategy: str, grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The canonical parameter sets of a stored grid (validated again: the space may have gained a parameter)."""
    space = get_strategy(strategy).space
    return space.expand(space.validate_grid(grid))


def _run_rows(job_id: int, slice_id: int, result: SliceResult) -> list[tuple[Any, ...]]:
    """The runs of one slice as insert tuples in ``RUN_COLUMNS`` order (parameters as JSON, metrics as columns).

    Trades only for the slice's best run: results_json stays small.
    """
    metrics = [result.metrics[name].tolist() for name in RUN_METRIC_COLUMNS]
    rows = [
        (job_id, slice_id, key, params, *values, None)
        for key, params, *values in zip(result.param_keys, result.params_json, *metrics, strict=True)
    ]
    best = result.best_position
    rows[best] = (*rows[best][:-1], result.best_json)
    return rows


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
