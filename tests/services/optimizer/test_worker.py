"""The worker service: runs jobs as they appear, releases a job when stopped, stops on SIGTERM."""

import os
import select as io_select
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from app.evaluation.slice_eval import evaluate_slice
from app.models import OptimizationRun, OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.executors import LocalExecutor
from app.services.optimizer.runner import JobRunner
from app.services.optimizer.worker import OptimizerWorker
from tests.conftest import REPO_ROOT

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15]}


@pytest.fixture
def daily(db, bundled_dir):
    for pair in ("BTC", "ETH"):
        candle_store.import_csv(bundled_dir / f"{pair}_USDT-1d.csv.gz", symbol=f"{pair}/USDT", timeframe="1d")


def _job(name="worker job"):
    return jobs.create_job(
        name=name,
        symbols=["BTC/USDT", "ETH/USDT"],
        timeframes=["1d"],
        strategies=["imbalance", "order_block"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids=GRID,
    )


def _count(db, model, job_id):
    return db.session.scalar(select(func.count()).select_from(model).where(model.job_id == job_id))


def test_worker_runs_every_waiting_job_oldest_first(daily, db):
    first, second = _job("first"), _job("second")
    report = OptimizerWorker(poll_seconds=0.1, workers=1).run(exit_when_idle=True)
    assert list(report.jobs.items()) == [(first.id, "completed"), (second.id, "completed")]
    assert _count(db, OptimizationRun, first.id) == _count(db, OptimizationRun, second.id) == 16
    assert OptimizerWorker(poll_seconds=0.1).run(exit_when_idle=True).jobs == {}  # nothing left


def _slow_slice(task):
    time.sleep(0.3)  # long enough that slices are still queued when the stop comes
    return evaluate_slice(task)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stopped_runner_stores_what_computed_then_releases_the_job(daily, db, workers):
    job = _job()
    stored = []
    runner = JobRunner(workers=workers, executor=LocalExecutor(workers=workers, evaluate=_slow_slice))
    job = runner.run(job.id, progress=lambda e: stored.append(e) if e.result else None, stop=lambda: bool(stored))
    assert job.status == "pending" and job.claimed_by is None and job.heartbeat_at is None
    assert "released" in job.summary
    done = _count(db, OptimizationSlice, job.id)
    assert 1 <= done < 4 and done == len(stored)
    assert _count(db, OptimizationRun, job.id) == 4 * done
    assert jobs.next_runnable_job(stale_after_seconds=600).id == job.id  # the next worker takes it at once
    job = JobRunner(workers=workers).run(job.id)
    assert job.status == "completed" and job.completed_runs == 16
    assert _count(db, OptimizationRun, job.id) == 16


def test_worker_stop_while_idle_returns_at_once(app):
    worker = OptimizerWorker(poll_seconds=60)
    worker.stop()
    started = time.monotonic()
    assert worker.run().jobs == {}
    assert time.monotonic() - started < 5


def test_flask_optimize_worker_stops_gracefully_on_sigterm(tmp_path, bundled_dir):
    root = REPO_ROOT
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}", "FLASK_APP": "run.py"}
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], cwd=root, env=env, check=True, capture_output=True)
    worker = subprocess.Popen(
        [*flask, "optimize", "worker", "--poll", "0.2"], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    # Its first line (the warm-up's summary) comes after the signal handlers are installed.
    ready, _, _ = io_select.select([worker.stdout], [], [], 60)
    assert ready and worker.stdout.readline() and worker.poll() is None
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert "worker stopped; no job run" in out
