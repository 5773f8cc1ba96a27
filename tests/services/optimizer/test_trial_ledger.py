"""The trial ledger: every job's trials per slice, summed over earlier jobs into each slice's selection check."""

from __future__ import annotations

from sqlalchemy import select

from app.models import OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs, retention
from app.services.optimizer.runner import JobRunner
from app.services.optimizer.trial_ledger import prior_trials

KEY = ("BTC/USDT", "1d", "imbalance")


def _job(grid):
    return jobs.create_job(
        name="ledger",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=["imbalance"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids={"imbalance": grid},
    )


def _selection(db, job_id):
    return db.session.scalar(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id)).checks_json[
        "selection"
    ]


def test_each_job_deflates_by_every_earlier_jobs_trials(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    first, second = _job({"rr_target": [1.5, 2.0, 2.5]}), _job({"rr_target": [1.5, 3.0]})
    assert prior_trials(job_id=first.id, keys=[KEY]) == {KEY: 0}
    JobRunner(workers=1).run(first.id)
    JobRunner(workers=1).run(second.id)
    assert prior_trials(job_id=second.id, keys=[KEY]) == {KEY: 3}
    assert prior_trials(job_id=second.id + 1, keys=[KEY, ("ETH/USDT", "1d", "imbalance")]) == {
        KEY: 5,
        ("ETH/USDT", "1d", "imbalance"): 0,
    }
    trials = _selection(db, second.id)["trials"]
    assert (trials["job"], trials["prior"], trials["cumulative"]) == (2, 3, 5)
    assert 1 <= trials["effective"] <= 2 and trials["effective_cumulative"] >= trials["effective"]
    assert _selection(db, first.id)["trials"]["prior"] == 0


def test_a_deleted_job_leaves_the_ledger_and_pruned_runs_do_not(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    first, second = _job({"rr_target": [1.5, 2.0, 2.5]}), _job({"rr_target": [1.5, 3.0]})
    JobRunner(workers=1).run(first.id)
    JobRunner(workers=1).run(second.id)
    later = second.id + 1
    retention.prune_runs(keep_last=0)  # runs go, slices (and so their run_count) stay
    assert prior_trials(job_id=later, keys=[KEY]) == {KEY: 5}
    jobs.delete_job(first.id)  # its slices go with it: its trials are no longer counted
    assert prior_trials(job_id=later, keys=[KEY]) == {KEY: 2}
    assert prior_trials(job_id=second.id, keys=[KEY]) == {KEY: 0}
