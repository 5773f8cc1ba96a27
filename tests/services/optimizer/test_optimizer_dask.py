"""The Dask executor: a LocalCluster of 2 workers stores what the local pool stores; a killed worker loses nothing."""

import dask
import pytest
from dask_helpers import die_on_order_block, die_once
from sqlalchemy import delete, select

from app.models import OptimizationRun, OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.executors import DaskExecutor, LocalExecutor
from app.services.optimizer.runner import JobRunner

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


@pytest.fixture
def markets(db, bundled_dir):
    for pair in ("BTC", "ETH"):
        for timeframe in ("1d", "4h"):
            candle_store.import_csv(
                bundled_dir / f"{pair}_USDT-{timeframe}.csv.gz", symbol=f"{pair}/USDT", timeframe=timeframe
            )


def _job():
    return jobs.create_job(
        name="dask",
        symbols=["BTC/USDT", "ETH/USDT"],
        timeframes=["1d", "4h"],
        strategies=["imbalance", "order_block"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids=GRID,
    )


def _stored(db, job_id):
    """Everything a job stored, by slice label and parameter key (ids aside)."""
    runs = db.session.execute(
        select(OptimizationSlice, OptimizationRun)
        .join(OptimizationRun, OptimizationRun.slice_id == OptimizationSlice.id)
        .where(OptimizationSlice.job_id == job_id)
    ).all()
    keys = {run.id: (s.label, run.param_key) for s, run in runs}
    stored = {
        (s.label, run.param_key): (run.params, run.metrics(), run.stability_score, run.results_json) for s, run in runs
    }
    slices = {
        s.label: (s.status, s.checks_json, keys.get(s.best_run_id), keys.get(s.robust_run_id), s.candles_fingerprint)
        for s in db.session.scalars(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id))
    }
    return stored, slices


def test_a_local_cluster_stores_exactly_what_the_local_pool_stores(markets, db):
    job = JobRunner(executor=DaskExecutor(address=None, workers=2)).run(_job().id)
    assert job.status == "completed" and job.completed_runs == 8 * 8
    on_dask = _stored(db, job.id)
    # The same job again (same seed) on the local pool, from scratch.
    db.session.execute(delete(OptimizationRun).where(OptimizationRun.job_id == job.id))
    db.session.execute(delete(OptimizationSlice).where(OptimizationSlice.job_id == job.id))
    job.status, job.completed_runs = "pending", 0
    db.session.commit()
    job = JobRunner(executor=LocalExecutor(workers=2)).run(job.id)
    assert job.status == "completed" and job.completed_runs == 8 * 8
    assert _stored(db, job.id) == on_dask


def test_a_worker_killed_mid_job_is_retried_by_dask(markets, db, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv("DASK_TEST_MARKER", str(marker))  # read by the spawned workers
    job = JobRunner(executor=DaskExecutor(address=None, workers=2, evaluate=die_once)).run(_job().id)
    assert marker.read_text() == "killed"  # a worker really died
    assert job.status == "completed" and job.completed_runs == 64 and job.failed_runs == 0


def test_a_slice_dask_gives_up_on_is_recorded_failed_and_retried_on_resume(markets, db):
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        job = JobRunner(executor=DaskExecutor(address=None, workers=2, evaluate=die_on_order_block)).run(_job().id)
    assert job.status == "failed" and "order_block" in job.summary
    failed = db.session.scalars(
        select(OptimizationSlice).where(OptimizationSlice.job_id == job.id, OptimizationSlice.status == "failed")
    ).all()
    # Every order_block slice failed; an innocent slice queued on a dying worker may have failed with it.
    assert sum(s.strategy == "order_block" for s in failed) == 4
    assert all("Dask cluster" in s.error_message for s in failed)
    job = JobRunner(executor=LocalExecutor(workers=1)).run(job.id)
    assert job.status == "completed" and job.completed_runs == 64


def test_the_executor_comes_from_config(app):
    from config import ConfigError

    app.config.update(OPTIMIZER_EXECUTOR="dask", DASK_SCHEDULER_ADDRESS="tcp://10.0.0.5:8786")
    runner = JobRunner(workers=3)
    assert isinstance(runner.executor, DaskExecutor)
    assert (runner.executor.address, runner.executor.workers) == ("tcp://10.0.0.5:8786", 3)
    app.config.update(OPTIMIZER_EXECUTOR="local")
    assert isinstance(JobRunner(workers=2).executor, LocalExecutor)
    app.config.update(OPTIMIZER_EXECUTOR="spark")
    with pytest.raises(ConfigError, match="unknown OPTIMIZER_EXECUTOR 'spark'"):
        JobRunner()
