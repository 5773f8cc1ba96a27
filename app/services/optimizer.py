"""Parameter optimization: jobs, their slices, the parallel resumable runner, best parameters.

A job covers symbols x timeframes x pattern types over one date range with
one parameter grid. Each (symbol, timeframe, pattern_type) is a *slice*: one
task that evaluates the whole grid in one backtester call in a worker
process. The main process is the only database writer: it stores each slice's
runs in one bulk insert and one transaction, moves the job's counters and
heartbeat, and keeps ``best_params_json`` current.

Resuming: a slice with stored completed runs is skipped; a slice whose runs
failed is deleted and retried. A job is claimed with one atomic UPDATE, so two
cron processes never run it together, and a job whose heartbeat is older
than ``stale_after`` (its process died) can be claimed again.
"""

from __future__ import annotations

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

import pandas as pd
from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db
from app.models import Candle, OptimizationJob, OptimizationRun, Symbol
from app.models._time import utcnow
from app.models.optimization import METRIC_COLUMNS, PARAMETER_COLUMNS, VALIDATION_MODES
from app.services.backtester_v2 import run_backtest_v2
from app.services.candle_frame import TIMEFRAME_MS
from app.services.candle_store import load_candles
from app.services.optimization_worker import (
    SliceResult,
    SliceTask,
    best_run_details,
    candles_fingerprint,
    evaluate_slice,
)
from app.services.parameter_grid import PRESETS, GridError, expand_grid, grid_size, validate_grid
from app.services.patterns import PATTERN_TYPES
from app.services.scoring import RANKING_METRICS, check_metric, composite_score, rank_order
from app.services.validation import check_prefix_invariance

SliceKey = tuple[str, str, str]
ProgressCallback = Callable[["ProgressEvent"], None]


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
    """Return the text key of a slice in best_params_json: ``BTC/USDT|1h|imbalance``."""
    return "|".join(key)


class ParameterOptimizer:
    """Create, run and query optimization jobs (the one service behind CLI, pages and API)."""

    def __init__(self, *, workers: int | None = None, stale_after: timedelta | None = None, owner: str | None = None):
        config = current_app.config
        self.workers = workers or config.get("OPTIMIZER_WORKERS") or os.cpu_count() or 1
        self.stale_after = stale_after or timedelta(seconds=config.get("OPTIMIZER_STALE_SECONDS", 600))
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.max_runs_per_job = int(config.get("OPTIMIZER_MAX_RUNS_PER_JOB", 200_000))
        self.last_stats = RunStats()

    # ------------------------------------------------------------------ creating jobs

    def create_job(
        self,
        name: str,
        symbols: list[str],
        timeframes: list[str],
        pattern_types: list[str],
        start_date: str,
        end_date: str,
        parameter_grid: dict[str, list[Any]] | str | None = None,
        description: str | None = None,
        *,
        ranking_metric: str = "composite_score",
        min_trades: int = 10,
        commission_pct: float = 0.1,
        slippage_pct: float = 0.05,
        risk_per_trade_pct: float = 1.0,
        validation: str = "none",
        monte_carlo: bool = True,
    ) -> OptimizationJob:
        """Validate the scope and grid and store a pending job; refuse bad input, creating nothing.

        ``parameter_grid`` is a grid dict, a preset name (``quick``/``default``),
        or None for the default grid. ``validation="walk_forward"`` adds a
        walk-forward validation of every slice; ``monte_carlo`` resamples each
        slice's best run (see ``app.services.validation``).
        """
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ValidationError("job name must have 1 to 100 characters")
        symbols = self._check_symbols(symbols)
        timeframes = _check_choices("timeframe", timeframes, TIMEFRAME_MS)
        pattern_types = _check_choices("pattern type", pattern_types, PATTERN_TYPES)
        start, end = _check_dates(start_date, end_date)
        grid = self._check_grid(parameter_grid, slices=len(symbols) * len(timeframes) * len(pattern_types))
        try:
            check_metric(ranking_metric)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if ranking_metric == "stability_score":
            raise ValidationError(
                "stability_score is derived from the ranking metric; rank the job by a backtest metric"
            )
        for label, value in (("commission_pct", commission_pct), ("slippage_pct", slippage_pct)):
            if not 0 <= value < 10:
                raise ValidationError(f"{label} must be in [0, 10), not {value}")
        if not 0 < risk_per_trade_pct <= 100:
            raise ValidationError(f"risk_per_trade_pct must be in (0, 100], not {risk_per_trade_pct}")
        if min_trades < 0:
            raise ValidationError(f"min_trades must be >= 0, not {min_trades}")
        if validation not in VALIDATION_MODES:
            raise ValidationError(f"validation must be one of {', '.join(VALIDATION_MODES)}, not '{validation}'")
        self._check_candles_exist(symbols, timeframes, start, end)
        job = OptimizationJob(
            name=name,
            description=description,
            status="pending",
            symbols=symbols,
            timeframes=timeframes,
            pattern_types=pattern_types,
            start_date=start.date().isoformat() if start == start.normalize() else start.isoformat(),
            end_date=end.date().isoformat() if end == end.normalize() else end.isoformat(),
            parameter_grid=grid,
            commission_pct=commission_pct,
            slippage_pct=slippage_pct,
            risk_per_trade_pct=risk_per_trade_pct,
            ranking_metric=ranking_metric,
            min_trades=min_trades,
            validation=validation,
            monte_carlo=bool(monte_carlo),
            total_runs=grid_size(grid) * len(symbols) * len(timeframes) * len(pattern_types),
        )
        db.session.add(job)
        db.session.commit()
        return job

    def create_default_job(
        self,
        *,
        grid: dict[str, list[Any]] | str = "default",
        symbols: list[str] | None = None,
        timeframes: list[str] | None = None,
        pattern_types: list[str] | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        name: str | None = None,
        validation: str = "none",
        monte_carlo: bool = True,
    ) -> OptimizationJob:
        """Create a job, filling what is not given the way the weekly sweep wants it.

        Defaults: every active symbol; the configured ``OPTIMIZE_TIMEFRAMES``
        that are stored for every chosen symbol (the others are left out, not
        an error); all pattern types; the range ends at the newest stored
        candle of the scope and starts ``OPTIMIZE_LOOKBACK_DAYS`` before it, so
        the sweep also works on historical data.
        """
        config = current_app.config
        symbols = symbols or list(
            db.session.scalars(select(Symbol.name).where(Symbol.is_active.is_(True)).order_by(Symbol.name))
        )
        if not symbols:
            raise ValidationError("no active symbols: import or fetch candles first")
        symbols = self._check_symbols(symbols)
        if timeframes is None:
            timeframes = [tf for tf in config["OPTIMIZE_TIMEFRAMES"] if self._stored_for_all(symbols, tf)]
            if not timeframes:
                raise ValidationError(
                    f"none of the timeframes {', '.join(config['OPTIMIZE_TIMEFRAMES'])} is stored for every symbol"
                )
        pattern_types = pattern_types or list(PATTERN_TYPES)
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
            start_date = (
                (pd.Timestamp(end_date) - pd.Timedelta(days=config["OPTIMIZE_LOOKBACK_DAYS"])).date().isoformat()
            )
        preset = grid if isinstance(grid, str) else "custom"
        name = name or f"{preset} sweep {start_date}..{end_date}"
        description = f"{len(symbols)} symbols x {', '.join(timeframes)} x {', '.join(pattern_types)}"
        return self.create_job(
            name,
            symbols,
            timeframes,
            pattern_types,
            start_date,
            end_date,
            grid,
            description=description,
            validation=validation,
            monte_carlo=monte_carlo,
        )

    def _stored_for_all(self, symbols: list[str], timeframe: str) -> bool:
        stored = db.session.scalar(
            select(func.count(func.distinct(Candle.symbol_id)))
            .join(Symbol, Symbol.id == Candle.symbol_id)
            .where(Symbol.name.in_(symbols), Candle.timeframe == timeframe)
        )
        return stored == len(symbols)

    def _check_symbols(self, symbols: list[str]) -> list[str]:
        symbols = _check_list("symbol", symbols)
        known = set(db.session.scalars(select(Symbol.name).where(Symbol.name.in_(symbols))))
        unknown = [s for s in symbols if s not in known]
        if unknown:
            raise ValidationError(f"unknown symbol(s): {', '.join(unknown)}")
        return symbols

    def _check_grid(self, grid: dict | str | None, *, slices: int) -> dict[str, list[Any]]:
        if grid is None:
            grid = "default"
        if isinstance(grid, str):
            if grid not in PRESETS:
                raise ValidationError(f"unknown grid preset '{grid}' (known: {', '.join(PRESETS)})")
            grid = PRESETS[grid]
        try:
            checked = validate_grid(grid)
        except GridError as exc:
            raise ValidationError(str(exc)) from None
        total = grid_size(checked) * slices
        if total > self.max_runs_per_job:
            raise ValidationError(
                f"job would have {total} runs, more than the maximum of {self.max_runs_per_job} "
                "(OPTIMIZER_MAX_RUNS_PER_JOB); use a smaller grid or scope"
            )
        return checked

    def _check_candles_exist(self, symbols: list[str], timeframes: list[str], start, end) -> None:
        start_ms, end_ms = int(start.value // 1_000_000), int(_end_of(end).value // 1_000_000)
        rows = db.session.execute(
            select(Symbol.name, Candle.timeframe, func.count())
            .join(Symbol, Symbol.id == Candle.symbol_id)
            .where(
                Symbol.name.in_(symbols), Candle.timeframe.in_(timeframes), Candle.timestamp.between(start_ms, end_ms)
            )
            .group_by(Symbol.name, Candle.timeframe)
        ).all()
        have = {(name, tf) for name, tf, count in rows if count > 0}
        missing = [f"{s} {tf}" for s in symbols for tf in timeframes if (s, tf) not in have]
        if missing:
            raise ValidationError(
                f"no candles between {start.date()} and {end.date()} for: {', '.join(missing)}", details=missing
            )

    # ------------------------------------------------------------------ running jobs

    def run_job(self, job_id: int, *, progress: ProgressCallback | None = None) -> OptimizationJob:
        """Claim the job, evaluate every pending slice in worker processes, store as they finish.

        Returns the job, ``completed`` when every run succeeded, ``failed``
        (with a summary naming the slices) otherwise. Raises ConflictError
        when another live process holds the job.
        """
        started = time.perf_counter()
        job = self._claim(job_id)
        stats = self.last_stats = RunStats()
        try:
            tasks = self._pending_tasks(job)
            self._refresh_counters(job)
            if not self._lookahead_guard(job, tasks):
                return job
            total = len(tasks)
            if progress:
                progress(ProgressEvent(job, None, 0, total))
            for done, result in enumerate(self._execute(job, tasks), start=1):
                store_started = time.perf_counter()
                self._store_slice(job, result)
                stats.add(result, store_seconds=time.perf_counter() - store_started)
                if progress:
                    progress(ProgressEvent(job, result, done, total))
            self._finish(job)
            stats.wall_seconds = time.perf_counter() - started
        except BaseException as exc:
            db.session.rollback()
            self._mark_interrupted(job_id, exc)
            raise
        return job

    def _claim(self, job_id: int) -> OptimizationJob:
        job = db.session.get(OptimizationJob, job_id)
        if job is None:
            raise NotFoundError(f"optimization job {job_id} not found")
        now = utcnow()
        claimed = db.session.execute(
            update(OptimizationJob)
            .where(
                OptimizationJob.id == job_id,
                or_(
                    OptimizationJob.status != "running",
                    OptimizationJob.heartbeat_at.is_(None),
                    OptimizationJob.heartbeat_at < now - self.stale_after,
                ),
            )
            .values(
                status="running",
                claimed_by=self.owner,
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
        return job

    def _pending_tasks(self, job: OptimizationJob) -> list[SliceTask]:
        """Return the slices still to do, heaviest first; failed slices are cleared for a retry."""
        done = self._slice_statuses(job.id)
        failed = [key for key, statuses in done.items() if "failed" in statuses]
        for symbol, timeframe, pattern_type in failed:
            db.session.execute(
                delete(OptimizationRun).where(
                    OptimizationRun.job_id == job.id,
                    OptimizationRun.symbol == symbol,
                    OptimizationRun.timeframe == timeframe,
                    OptimizationRun.pattern_type == pattern_type,
                )
            )
        db.session.commit()
        combos = expand_grid(job.parameter_grid)
        costs = {
            "commission_pct": job.commission_pct,
            "slippage_pct": job.slippage_pct,
            "risk_per_trade_pct": job.risk_per_trade_pct,
        }
        tasks = []
        for symbol in job.symbols:
            for timeframe in job.timeframes:
                keys = [(symbol, timeframe, p) for p in job.pattern_types]
                todo = [k for k in keys if k not in done or k in failed]
                if not todo:
                    continue
                candles = load_candles(symbol, timeframe, job.start_date, _end_of(job.end_date))
                tasks.extend(
                    SliceTask(
                        symbol=symbol,
                        timeframe=timeframe,
                        pattern_type=pattern_type,
                        candles=candles,
                        combinations=combos,
                        costs=costs,
                        ranking_metric=job.ranking_metric,
                        min_trades=job.min_trades,
                        validation=job.validation,
                        monte_carlo=job.monte_carlo,
                        seed=job.id,
                    )
                    for _, _, pattern_type in todo
                )
        return sorted(tasks, key=lambda t: len(t.candles), reverse=True)

    def _lookahead_guard(self, job: OptimizationJob, tasks: list[SliceTask]) -> bool:
        """Check each pattern type's detector for prefix invariance on the job's own candles.

        Uses the largest pending slice per pattern type (cut points seeded by
        the job id). A violation stops the job: it is recorded in
        ``validation_json["lookahead"]`` and the job ends ``failed``. A
        detector that crashes outright is left to the slices, which record
        the error per run.
        """
        verdicts: dict[str, Any] = {}
        for task in tasks:  # heaviest first, so the first task of a type has the most candles
            if task.pattern_type in verdicts:
                continue
            try:
                violations = check_prefix_invariance(
                    task.candles, pattern_type=task.pattern_type, n_cuts=10, seed=job.id
                )
            except Exception as exc:  # noqa: BLE001 - the slices will fail and record it
                verdicts[task.pattern_type] = {"status": "not checked", "error": f"{type(exc).__name__}: {exc}"}
                continue
            verdicts[task.pattern_type] = {
                "status": "violated" if violations else "ok",
                "checked_on": slice_label(task.key),
                "violations": violations[:20],
            }
        if not verdicts:
            return True
        job.validation_json = {**(job.validation_json or {}), "lookahead": verdicts}
        failed = sorted(p for p, v in verdicts.items() if v["status"] == "violated")
        if failed:
            first = verdicts[failed[0]]["violations"][0]
            job.status = "failed"
            job.completed_at = utcnow()
            job.claimed_by = None
            job.summary = f"stopped by the lookahead guard: {', '.join(failed)} not prefix-invariant ({first})"
        db.session.commit()
        return not failed

    def _slice_statuses(self, job_id: int) -> dict[SliceKey, set[str]]:
        rows = db.session.execute(
            select(
                OptimizationRun.symbol, OptimizationRun.timeframe, OptimizationRun.pattern_type, OptimizationRun.status
            )
            .where(OptimizationRun.job_id == job_id)
            .distinct()
        ).all()
        statuses: dict[SliceKey, set[str]] = {}
        for symbol, timeframe, pattern_type, status in rows:
            statuses.setdefault((symbol, timeframe, pattern_type), set()).add(status)
        return statuses

    def _execute(self, job: OptimizationJob, tasks: list[SliceTask]) -> Iterator[SliceResult]:
        """Yield slice results as they finish; one worker runs inline, more use a process pool."""
        if self.workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield evaluate_slice(task)
                self._beat(job)
            return
        # fork shares the already-compiled detectors and engine with the workers at no cost;
        # workers never touch the database (they only compute), so inherited connections stay unused.
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context) as pool:
            pending = {pool.submit(evaluate_slice, task) for task in tasks}
            while pending:
                finished, pending = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
                self._beat(job)
                for future in finished:
                    yield future.result()

    def _beat(self, job: OptimizationJob) -> None:
        job.heartbeat_at = utcnow()
        db.session.commit()

    def _store_slice(self, job: OptimizationJob, result: SliceResult) -> None:
        """Store one slice's runs in one bulk insert and one transaction, with counters and best params."""
        rows = self._run_rows(job, result)
        db.session.execute(insert(OptimizationRun), rows)
        if result.error:
            job.failed_runs += len(rows)
        else:
            job.completed_runs += len(rows)
            self._record_best(job, result, rows)
        job.heartbeat_at = utcnow()
        db.session.commit()

    def _run_rows(self, job: OptimizationJob, result: SliceResult) -> list[dict[str, Any]]:
        symbol, timeframe, pattern_type = result.key
        base = {
            "job_id": job.id,
            "symbol": symbol,
            "timeframe": timeframe,
            "pattern_type": pattern_type,
            "start_date": job.start_date,
            "end_date": job.end_date,
            "candles_fingerprint": result.fingerprint,
            "created_at": utcnow(),
        }
        if result.error:
            return [
                {**base, **params, "status": "failed", "error_message": result.error[:4000]}
                for params in expand_grid(job.parameter_grid)
            ]
        stored = (*PARAMETER_COLUMNS, *METRIC_COLUMNS, "stability_score")
        return [
            {
                **base,
                **{name: _plain(record[name]) for name in stored},
                "status": "completed",
                # Trades only for the slice's best run: results_json stays small.
                "results_json": result.best_result if position == result.best_position else None,
            }
            for position, record in enumerate(result.metrics.to_dict("records"))
        ]

    def _record_best(self, job: OptimizationJob, result: SliceResult, rows: list[dict[str, Any]]) -> None:
        """Keep the slice's raw and robust best in best_params_json and its other checks in validation_json."""
        best = rows[result.best_position]
        robust = (result.checks.get("robust") or {}).get("robust")
        if robust:
            robust = {**robust, "metrics": {name: rows[robust["position"]][name] for name in METRIC_COLUMNS}}
        label = slice_label(result.key)
        job.best_params_json = {
            **(job.best_params_json or {}),
            label: {
                "params": {name: best[name] for name in PARAMETER_COLUMNS},
                "metrics": {name: best[name] for name in METRIC_COLUMNS},
                "stability_score": best["stability_score"],
                "ranking_metric": job.ranking_metric,
                "robust": robust,
            },
        }
        checks = {name: value for name, value in result.checks.items() if name != "robust"}
        if checks:
            job.validation_json = {**(job.validation_json or {}), label: checks}

    def _refresh_counters(self, job: OptimizationJob) -> None:
        counts = dict(
            db.session.execute(
                select(OptimizationRun.status, func.count())
                .where(OptimizationRun.job_id == job.id)
                .group_by(OptimizationRun.status)
            ).all()
        )
        job.completed_runs = counts.get("completed", 0)
        job.failed_runs = counts.get("failed", 0)
        db.session.commit()

    def _finish(self, job: OptimizationJob) -> None:
        failed = sorted({slice_label(k) for k, s in self._slice_statuses(job.id).items() if "failed" in s})
        job.status = "failed" if failed else "completed"
        job.completed_at = utcnow()
        job.claimed_by = None
        job.summary = f"{job.completed_runs} of {job.total_runs} runs completed, {job.failed_runs} failed" + (
            f"; failed slices: {', '.join(failed)} (run the job again to retry them)" if failed else ""
        )
        db.session.commit()

    def _mark_interrupted(self, job_id: int, exc: BaseException) -> None:
        job = db.session.get(OptimizationJob, job_id)
        if job is None or job.claimed_by != self.owner:
            return
        job.status = "failed"
        job.claimed_by = None
        job.summary = f"interrupted by {type(exc).__name__}: {exc}; run the job again to resume"
        db.session.commit()

    # ------------------------------------------------------------------ queries

    def get_job(self, job_id: int) -> OptimizationJob:
        """Return the job or raise NotFoundError."""
        job = db.session.get(OptimizationJob, job_id)
        if job is None:
            raise NotFoundError(f"optimization job {job_id} not found")
        return job

    def next_runnable_job(self) -> OptimizationJob | None:
        """Return the oldest pending job, or a running one whose heartbeat went stale; None when idle.

        Failed jobs are not picked up automatically (a persistent failure would
        loop); run them again by id once the cause is fixed.
        """
        stale = utcnow() - self.stale_after
        return db.session.scalar(
            select(OptimizationJob)
            .where(
                or_(
                    OptimizationJob.status == "pending",
                    (OptimizationJob.status == "running") & (OptimizationJob.heartbeat_at < stale),
                )
            )
            .order_by(OptimizationJob.id)
            .limit(1)
        )

    def job_report(self, job_id: int) -> dict[str, Any]:
        """Return a job as JSON-safe data: scope, progress, best (raw and robust) params and validation results.

        The shape the dashboard and the JSON API read (the CLI renders the same fields).
        """
        job = self.get_job(job_id)
        return {
            "id": job.id,
            "name": job.name,
            "description": job.description,
            "status": job.status,
            "summary": job.summary,
            "scope": {"symbols": job.symbols, "timeframes": job.timeframes, "pattern_types": job.pattern_types},
            "start_date": job.start_date,
            "end_date": job.end_date,
            "parameter_grid": job.parameter_grid,
            "costs": {
                "commission_pct": job.commission_pct,
                "slippage_pct": job.slippage_pct,
                "risk_per_trade_pct": job.risk_per_trade_pct,
            },
            "ranking_metric": job.ranking_metric,
            "min_trades": job.min_trades,
            "validation": job.validation,
            "monte_carlo": job.monte_carlo,
            "progress": {
                "total_runs": job.total_runs,
                "completed_runs": job.completed_runs,
                "failed_runs": job.failed_runs,
                "percent": job.progress_pct,
            },
            "best_params": job.best_params_json or {},
            "validation_results": job.validation_json or {},
            "created_at": _iso_or_none(job.created_at),
            "started_at": _iso_or_none(job.started_at),
            "completed_at": _iso_or_none(job.completed_at),
        }

    def list_jobs(self, *, limit: int = 50) -> list[OptimizationJob]:
        """Return the newest jobs first."""
        return list(db.session.scalars(select(OptimizationJob).order_by(OptimizationJob.id.desc()).limit(limit)))

    def get_best_params(
        self,
        symbol: str | None = None,
        pattern_type: str | None = None,
        timeframe: str | None = None,
        metric: str = "total_profit_pct",
        min_trades: int = 10,
        *,
        job_id: int | None = None,
        robust: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the best completed run per slice by ``metric``, among runs with >= min_trades trades.

        Each slice is answered from the newest job that has completed runs for
        it (or from ``job_id``). Slices with no run reaching ``min_trades`` are
        left out: a thin run is never "best". With ``robust``, runs are ranked
        by ``stability_score`` instead (the job's ranking metric averaged over
        each run's grid neighbours), preferring a plateau to a lucky spike.
        """
        try:
            check_metric(metric)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        query = select(OptimizationRun).where(OptimizationRun.status == "completed")
        for column, value in (
            (OptimizationRun.symbol, symbol),
            (OptimizationRun.pattern_type, pattern_type),
            (OptimizationRun.timeframe, timeframe),
            (OptimizationRun.job_id, job_id),
        ):
            if value is not None:
                query = query.where(column == value)
        runs = pd.DataFrame(
            [
                {
                    "run": run,
                    "job_id": run.job_id,
                    "slice": (run.symbol, run.timeframe, run.pattern_type),
                    **{m: getattr(run, m) for m in (*RANKING_METRICS, "total_trades")},
                }
                for run in db.session.scalars(query)
            ]
        )
        if runs.empty:
            return []
        best = []
        for _, group in runs.groupby("slice", sort=True):
            newest = group[group["job_id"] == group["job_id"].max()].reset_index(drop=True)
            ranking = "stability_score" if robust else metric
            top = newest.iloc[int(rank_order(newest, metric=ranking, min_trades=min_trades)[0])]
            if top["total_trades"] < min_trades:
                continue
            best.append(_run_summary(top["run"], metric=ranking))
        return best

    def compare_params(
        self,
        params_a: dict[str, Any],
        params_b: dict[str, Any],
        symbol: str,
        timeframe: str,
        pattern_type: str,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> dict[str, Any]:
        """Backtest two parameter sets on the same stored candles and report both and their difference."""
        candles = load_candles(symbol, timeframe, start_date, _end_of(end_date) if end_date else None)
        if candles.empty:
            raise ValidationError(f"no candles stored for {symbol} {timeframe} in that range")
        results = {}
        for label, params in (("a", params_a), ("b", params_b)):
            try:
                checked = expand_grid(validate_grid({k: [v] for k, v in params.items()}))[0]
                full = run_backtest_v2(
                    symbol,
                    timeframe,
                    pattern_type=pattern_type,
                    candles=candles,
                    **{k: v for k, v in checked.items() if k != "use_overlap"},
                    use_overlap_detection=checked["use_overlap"],
                )
            except (GridError, ValueError) as exc:
                raise ValidationError(f"params_{label}: {exc}") from None
            metrics = {m: full[m] for m in METRIC_COLUMNS if m in full}
            metrics["composite_score"] = composite_score(metrics)
            results[label] = {"params": checked, "metrics": metrics}
        difference = {m: results["b"]["metrics"][m] - results["a"]["metrics"][m] for m in results["a"]["metrics"]}
        score_a, score_b = results["a"]["metrics"]["composite_score"], results["b"]["metrics"]["composite_score"]
        better = "tie" if score_a == score_b else ("a" if score_a > score_b else "b")
        return {
            "symbol": symbol,
            "timeframe": timeframe,
            "pattern_type": pattern_type,
            **results,
            "difference": difference,
            "better": better,
        }

    def run_trades(self, run_id: int) -> dict[str, Any]:
        """Return a stored run's trades: stored for best runs, recomputed (deterministically) otherwise."""
        run = db.session.get(OptimizationRun, run_id)
        if run is None:
            raise NotFoundError(f"optimization run {run_id} not found")
        if run.results_json and "trades" in run.results_json:
            return run.results_json
        job = run.job
        candles = load_candles(run.symbol, run.timeframe, run.start_date, _end_of(run.end_date))
        task = SliceTask(
            symbol=run.symbol,
            timeframe=run.timeframe,
            pattern_type=run.pattern_type,
            candles=candles,
            combinations=[run.params],
            ranking_metric=job.ranking_metric,
            min_trades=job.min_trades,
            costs={
                "commission_pct": job.commission_pct,
                "slippage_pct": job.slippage_pct,
                "risk_per_trade_pct": job.risk_per_trade_pct,
            },
        )
        details = best_run_details(task, run.params)
        details["candles_changed"] = candles_fingerprint(candles) != run.candles_fingerprint
        return details


# ---------------------------------------------------------------------- helpers


def _check_list(label: str, values: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
        raise ValidationError(f"{label}s must be a non-empty list")
    if len(set(values)) != len(values):
        raise ValidationError(f"{label}s list a value twice: {list(values)}")
    return list(values)


def _check_choices(label: str, values: Any, known) -> list[str]:
    values = _check_list(label, values)
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValidationError(f"unknown {label}(s): {', '.join(map(str, unknown))} (known: {', '.join(known)})")
    return values


def _check_dates(start_date: Any, end_date: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    stamps = []
    for label, value in (("start_date", start_date), ("end_date", end_date)):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise ValidationError(f"{label} is not a date: {value!r}") from None
        if pd.isna(stamp):
            raise ValidationError(f"{label} is required")
        stamps.append(stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC"))
    start, end = stamps
    if start > _end_of(end):
        raise ValidationError(f"start_date {start_date} is after end_date {end_date}")
    return start, end


def _end_of(value: Any) -> pd.Timestamp:
    """Make a date-only end inclusive: 2024-12-31 means up to the last candle of that day."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1) if stamp == stamp.normalize() else stamp


def _iso_or_none(value) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    """Turn numpy scalars into plain Python values for the database driver."""
    return value.item() if hasattr(value, "item") else value


def _run_summary(run: OptimizationRun, *, metric: str) -> dict[str, Any]:
    return {
        "symbol": run.symbol,
        "timeframe": run.timeframe,
        "pattern_type": run.pattern_type,
        "job_id": run.job_id,
        "run_id": run.id,
        "metric": metric,
        "value": getattr(run, metric),
        "params": run.params,
        "metrics": {name: getattr(run, name) for name in METRIC_COLUMNS},
        "start_date": run.start_date,
        "end_date": run.end_date,
    }
