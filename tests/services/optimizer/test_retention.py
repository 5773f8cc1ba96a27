"""Retention: old jobs lose their runs except each slice's best ones; newest, running and checks stay."""

import pytest
from sqlalchemy import Column, ForeignKey, Integer, Table, func, select

from app.errors import ValidationError
from app.extensions import db as _db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.retention import prune_runs
from app.services.optimizer.runner import JobRunner
from tests.conftest import requires_mysql

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


@pytest.fixture
def three_jobs(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    made = []
    for k in range(3):
        job = jobs.create_job(
            name=f"job {k}",
            symbols=["BTC/USDT"],
            timeframes=["1d"],
            strategies=["imbalance", "order_block"],
            start_date="2021-01-01",
            end_date="2024-12-31",
            grids=GRID,
            min_trades=3,
        )
        made.append(JobRunner(workers=1).run(job.id).id)
    return made


def _runs(db, job_id):
    return set(db.session.scalars(select(OptimizationRun.id).where(OptimizationRun.job_id == job_id)))


def _best_ids(db, job_id):
    slices = db.session.scalars(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id)).all()
    return {i for s in slices for i in (s.best_run_id, s.robust_run_id, *(s.best_runs or {}).values())} - {None}


def test_prune_keep_last_keeps_the_newest_jobs_and_every_slices_best_runs(db, three_jobs):
    old, middle, newest = three_jobs
    before = {job_id: _runs(db, job_id) for job_id in three_jobs}
    checks = db.session.scalars(select(OptimizationSlice.checks_json).where(OptimizationSlice.job_id == old)).all()
    best_before = results.best_params(job_id=old, min_trades=3)

    report = prune_runs(keep_last=2)

    assert report.jobs == [old] and not report.dry_run
    kept = _best_ids(db, old)
    assert 0 < len(kept) < len(before[old])
    assert _runs(db, old) == kept
    assert report.deleted_runs == len(before[old]) - len(kept)
    assert _runs(db, middle) == before[middle] and _runs(db, newest) == before[newest]
    # What the product reads of the old job is intact: best parameters, checks, counters.
    assert results.best_params(job_id=old, min_trades=3) == best_before
    assert db.session.scalars(select(OptimizationSlice.checks_json).where(OptimizationSlice.job_id == old)).all() == (
        checks
    )
    assert db.session.get(OptimizationJob, old).completed_runs == len(before[old])
    assert prune_runs(keep_last=2).jobs == []  # nothing left to do


def test_prune_dry_run_and_age_and_unfinished_jobs(db, three_jobs):
    counts = {job_id: len(_runs(db, job_id)) for job_id in three_jobs}
    dry = prune_runs(keep_last=0, dry_run=True)
    assert dry.jobs == three_jobs and dry.dry_run and dry.deleted_runs > 0
    assert {job_id: len(_runs(db, job_id)) for job_id in three_jobs} == counts
    assert prune_runs(older_than_days=1).jobs == []  # all created just now
    running = db.session.get(OptimizationJob, three_jobs[0])
    running.status = "running"
    db.session.commit()
    assert prune_runs(keep_last=0).jobs == three_jobs[1:]  # a running job is never touched
    with pytest.raises(ValidationError, match="say what to keep"):
        prune_runs()
    with pytest.raises(ValidationError, match="keep_last"):
        prune_runs(keep_last=-1)


def test_prune_keeps_runs_another_table_points_at(app, db, three_jobs):
    # A stand-in for production parameter history: any foreign key to a run protects it.
    table = Table(
        "test_run_refs",
        _db.metadata,
        Column("id", Integer, primary_key=True),
        Column("run_id", ForeignKey("optimization_runs.id")),
    )
    try:
        table.create(db.engine)
        victim = max(_runs(db, three_jobs[0]) - _best_ids(db, three_jobs[0]))
        db.session.execute(table.insert().values(run_id=victim))
        db.session.commit()
        prune_runs(keep_last=2)
        assert victim in _runs(db, three_jobs[0])
    finally:
        _db.session.rollback()
        table.drop(db.engine)
        _db.metadata.remove(table)


def test_prune_cli(runner, db, three_jobs):
    result = runner.invoke(args=["optimize", "prune", "--keep-last", "1", "--dry-run"])
    assert result.exit_code == 0 and "would delete" in result.output
    assert db.session.scalar(select(func.count()).select_from(OptimizationRun)) == 3 * 16
    result = runner.invoke(args=["optimize", "prune"])
    assert result.exit_code == 2 and "say what to keep" in result.output


@requires_mysql
def test_prune_on_mysql(mysql_app, bundled_dir):
    candle_store.import_csv(bundled_dir / "ETH_USDT-1d.csv.gz", symbol="ETH/USDT", timeframe="1d")
    made = []
    for k in range(2):
        job = jobs.create_job(
            name=f"mysql prune {k}",
            symbols=["ETH/USDT"],
            timeframes=["1d"],
            strategies=["imbalance"],
            start_date="2021-01-01",
            end_date="2024-12-31",
            grids=GRID,
            min_trades=3,
        )
        made.append(JobRunner(workers=1).run(job.id).id)
    report = prune_runs(keep_last=1)
    assert report.jobs == [made[0]]
    assert _runs(_db, made[0]) == _best_ids(_db, made[0]) and len(_runs(_db, made[1])) == 8
