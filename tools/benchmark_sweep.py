"""Optimizer benchmarks (sections of tools/benchmark.py), through the services the cron job uses.

- ``optimizer``: a single-slice 80-combination job (create + run) end to end,
  warm, on a fresh SQLite file;
- ``sweep``: 5 pairs x {30m, 1h, 4h, 1d} x the 3 pattern strategies x the
  DEFAULT grid (960) = 57,600 runs over the five years of the shared candles,
  every run stored in a fresh SQLite file; then ``best_params`` over the whole
  job with all those candles stored (the pages: sections ``coverage`` and ``web``);
- ``sweep_all``: the same scope with every registered strategy.

Candle import is timed separately (it is not part of a sweep).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SWEEP_PAIRS = ("BTC", "ETH", "SOL", "XRP", "BNB")
SWEEP_TIMEFRAMES = ("30m", "1h", "4h", "1d")
SWEEP_RANGE = ("2020-09-20", "2025-09-19")


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


@contextmanager
def fresh_app(files: list[Path]) -> Iterator[tuple[object, Path]]:
    """Yield (app inside its context, database path) on a new migrated SQLite file holding ``files``."""
    previous_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
        try:
            from flask_migrate import upgrade

            from app import create_app
            from app.services.candles.candle_store import import_csv

            app = create_app()
            with app.app_context():
                upgrade()
                started = time.perf_counter()
                bars = 0
                for path in files:
                    pair, tf = path.name.split(".")[0].split("-")
                    bars += import_csv(path, symbol=pair.replace("_", "/"), timeframe=tf).inserted
                print(f"  imported {len(files)} files, {bars:,} candles in {time.perf_counter() - started:.1f}s")
                yield app, db_path
        finally:
            if previous_url is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = previous_url


def section_optimizer(data_dir: Path) -> None:
    """Time a single-slice 80-combination job (create + run, one worker) end to end, warm."""
    from app.services.optimizer import jobs
    from app.services.optimizer.runner import JobRunner

    path = data_dir / "BTC_USDT-1h.csv.gz"
    grid = {
        "rr_target": [1.5, 2.0, 2.5, 3.0, 3.5],
        "sl_buffer_pct": [5, 10, 15, 20],
        "min_zone_pct": [0.1, 0.15, 0.2, 0.25],
    }
    print(f"optimizer: single-slice job, {path.name}, 80 combinations (imbalance), walk-forward off, Monte Carlo on")
    with fresh_app([path]):
        times = []
        for attempt in range(4):
            started = time.perf_counter()
            job = jobs.create_job(
                name=f"bench {attempt}",
                symbols=["BTC/USDT"],
                timeframes=["1h"],
                strategies=["imbalance"],
                start_date=SWEEP_RANGE[0],
                end_date=SWEEP_RANGE[1],
                grids=grid,
            )
            runner = JobRunner(workers=1)
            runner.run(job.id)
            times.append(time.perf_counter() - started)
        print(f"  first (JIT, guard not cached): {times[0] * 1000:.0f} ms; warm: {min(times[1:]) * 1000:.0f} ms")


def section_sweep(data_dir: Path, *, workers: int | None = None, strategies: tuple[str, ...] | None = None) -> None:
    """Run the DEFAULT sweep end to end; report runs/s, compute vs storage, memory and best_params times.

    The pages are timed by the sections ``coverage`` and ``web`` (signed in).
    """
    from app.services.optimizer import jobs, results
    from app.services.optimizer.runner import JobRunner
    from app.strategies import PATTERN, strategy_names

    strategies = strategies or strategy_names(PATTERN)
    files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        print(f"sweep: skipped, {len(missing)} files missing in {data_dir} (e.g. {missing[0]})")
        return
    print(f"sweep: {', '.join(strategies)}")
    with fresh_app(files) as (app, db_path):
        job = jobs.create_job(
            name="benchmark sweep",
            symbols=[f"{pair}/USDT" for pair in SWEEP_PAIRS],
            timeframes=list(SWEEP_TIMEFRAMES),
            strategies=list(strategies),
            start_date=SWEEP_RANGE[0],
            end_date=SWEEP_RANGE[1],
            grids="default",
        )
        runner = JobRunner(workers=workers)
        status = runner.run(job.id).status
        stats = runner.last_stats
        size_mb = db_path.stat().st_size / 1e6
        best_ms = best_seconds(lambda: results.best_params(min_trades=10)) * 1000
        robust_ms = best_seconds(lambda: results.best_params(min_trades=10, robust=True)) * 1000
    print(
        f"sweep: {stats.runs:,} runs ({stats.slices} slices), {runner.workers} workers: "
        f"{stats.wall_seconds:.1f}s end to end = {stats.runs / stats.wall_seconds:,.0f} runs/s; job {status}"
    )
    _print_breakdown(stats, size_mb=size_mb)
    print(f"sweep: best_params over the job {best_ms:.1f} ms (robust {robust_ms:.1f} ms)")


def _print_breakdown(stats, *, size_mb: float) -> None:
    """Print where the sweep's time went: kernel, per-slice overhead, storage (wall and CPU: the machine is shared)."""
    overhead = (
        stats.compute_cpu_seconds - stats.kernel_cpu_seconds - stats.lookahead_cpu_seconds - stats.selection_cpu_seconds
    )
    print(
        f"sweep: compute {stats.compute_seconds:.1f}s wall / {stats.compute_cpu_seconds:.1f}s CPU summed over workers "
        f"({stats.runs / max(stats.compute_cpu_seconds, 1e-9):,.0f} runs/s per CPU second): "
        f"kernel {stats.kernel_cpu_seconds:.1f}s CPU, lookahead guard {stats.lookahead_cpu_seconds:.1f}s CPU, "
        f"selection statistics {stats.selection_cpu_seconds:.1f}s CPU, "
        f"per-slice overhead {overhead:.1f}s CPU "
        f"({100 * overhead / max(stats.kernel_cpu_seconds, 1e-9):.0f}% of the kernel)"
    )
    print(
        f"sweep: main process: prepare (claim, plan) {stats.prepare_seconds:.1f}s, "
        f"storage {stats.store_seconds:.1f}s wall / {stats.store_cpu_seconds:.1f}s CPU "
        f"({stats.runs / max(stats.store_seconds, 1e-9):,.0f} runs/s); database {size_mb:.0f} MB"
    )
    print(
        f"sweep: peak memory {_peak_rss_mb(resource.RUSAGE_SELF):.0f} MB main process, "
        f"{_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB largest worker"
    )


def section_sweep_dask(data_dir: Path) -> None:
    """The sweep on a Dask LocalCluster of 2 workers, then the same job again on the local pool: times, identity."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import OptimizationRun, OptimizationSlice
    from app.services.optimizer import jobs
    from app.services.optimizer.executors import DaskExecutor, LocalExecutor
    from app.services.optimizer.runner import JobRunner
    from app.strategies import PATTERN, strategy_names

    files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
    print("sweep_dask: the sweep on a LocalCluster (2 workers), then on the local pool (2 workers)")
    with fresh_app(files):
        job = jobs.create_job(
            name="benchmark sweep on dask",
            symbols=[f"{pair}/USDT" for pair in SWEEP_PAIRS],
            timeframes=list(SWEEP_TIMEFRAMES),
            strategies=list(strategy_names(PATTERN)),
            start_date=SWEEP_RANGE[0],
            end_date=SWEEP_RANGE[1],
            grids="default",
        )
        digests = {}
        for label, executor in (("dask", DaskExecutor(address=None, workers=2)), ("local", LocalExecutor(workers=2))):
            db.session.execute(delete(OptimizationRun).where(OptimizationRun.job_id == job.id))
            db.session.execute(delete(OptimizationSlice).where(OptimizationSlice.job_id == job.id))
            job.status, job.completed_runs = "pending", 0
            db.session.commit()
            runner = JobRunner(workers=2, executor=executor)
            status = runner.run(job.id).status
            stats = runner.last_stats
            digests[label] = _stored_digest(job.id)
            print(
                f"sweep_dask: {label}: {stats.runs:,} runs in {stats.wall_seconds:.1f}s end to end "
                f"(cluster start included for dask); compute {stats.compute_cpu_seconds:.1f}s CPU; job {status}"
            )
    print(f"sweep_dask: stored results identical: {digests['dask'] == digests['local']}")


def _stored_digest(job_id: int) -> str:
    """A SHA-256 of everything a job stored (runs and slices by label and parameter key, ids aside)."""
    import hashlib
    import json

    from sqlalchemy import select

    from app.extensions import db
    from app.models import OptimizationRun, OptimizationSlice

    rows = db.session.execute(
        select(OptimizationSlice, OptimizationRun)
        .join(OptimizationRun, OptimizationRun.slice_id == OptimizationSlice.id)
        .where(OptimizationSlice.job_id == job_id)
    ).all()
    keys = {run.id: (s.label, run.param_key) for s, run in rows}
    items = sorted(
        [[s.label, run.param_key, run.params, run.metrics(), run.stability_score, run.results_json] for s, run in rows]
        + [
            [
                s.label,
                s.status,
                s.checks_json,
                keys.get(s.best_run_id),
                keys.get(s.robust_run_id),
                {k: keys.get(v) for k, v in (s.best_runs or {}).items()},
            ]
            for s in {s.id: s for s, _ in rows}.values()
        ],
        key=json.dumps,
    )
    return hashlib.sha256(json.dumps(items, default=str).encode()).hexdigest()


def section_sweep_all(data_dir: Path) -> None:
    """The sweep with every registered strategy (pattern and indicator)."""
    from app.strategies import strategy_names

    section_sweep(data_dir, strategies=strategy_names())


def best_seconds(fn, repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds (warm timings for the sections)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    section_sweep(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/candles"
    )
