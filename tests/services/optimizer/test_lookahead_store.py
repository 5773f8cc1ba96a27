"""The lookahead guard's verdicts across processes (app.services.optimizer.lookahead_store, runner._Guard).

"A fresh process" is this one with the runner's in-process cache emptied: the
verdict then comes from the table, or the check runs again.
"""

import pytest
from sqlalchemy import func, select

from app.core.patterns import registry
from app.evaluation import slice_eval
from app.models import LookaheadVerdict, OptimizationRun
from app.services.candles import candle_store
from app.services.optimizer import jobs, runner
from app.services.optimizer.lookahead_store import find_verdict, record_verdicts
from app.services.optimizer.runner import JobRunner
from app.strategies import get_strategy
from tests.services.optimizer.test_optimizer_validation import LeakyFVG

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15]}


@pytest.fixture
def btc_4h(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-4h.csv.gz", symbol="BTC/USDT", timeframe="4h")


@pytest.fixture
def checks(monkeypatch):
    """Count the lookahead checks that really run; each test starts as a fresh process (empty process cache)."""
    monkeypatch.setattr(runner, "_GUARD_CACHE", {})
    calls = []
    real = slice_eval.check_prefix_invariance

    def counted(candles, **kwargs):
        calls.append(kwargs["strategy"])
        return real(candles, **kwargs)

    monkeypatch.setattr(slice_eval, "check_prefix_invariance", counted)
    return calls


def _job(strategy="order_block", *, end_date="2024-12-31"):
    job = jobs.create_job(
        name="verdicts",
        symbols=["BTC/USDT"],
        timeframes=["4h"],
        strategies=[strategy],
        start_date="2022-01-01",
        end_date=end_date,
        grids=GRID,
    )
    return JobRunner(workers=1).run(job.id)


def _fresh_process():
    runner._GUARD_CACHE.clear()


def test_an_identical_check_reuses_the_stored_verdict(btc_4h, db, checks):
    first = _job()
    assert first.status == "completed" and checks == ["order_block"]
    assert "reused" not in first.validation_json["lookahead"]["order_block"]
    assert db.session.scalar(select(func.count()).select_from(LookaheadVerdict)) == 1

    _fresh_process()
    second = _job()
    assert second.status == "completed" and checks == ["order_block"]  # not checked again
    verdict = second.validation_json["lookahead"]["order_block"]  # still recorded on the job
    assert verdict["status"] == "ok" and verdict["reused"]["job_id"] == first.id
    assert verdict["code_version"] == first.validation_json["lookahead"]["order_block"]["code_version"]


def test_changed_strategy_code_checks_again(btc_4h, db, checks, monkeypatch):
    _job()
    _fresh_process()
    strategy = type(get_strategy("order_block"))
    monkeypatch.setattr(strategy, "code_version", lambda self: "0123456789abcdef")
    job = _job()
    assert checks == ["order_block", "order_block"]
    assert "reused" not in job.validation_json["lookahead"]["order_block"]
    assert db.session.scalar(select(func.count()).select_from(LookaheadVerdict)) == 2


def test_other_candles_check_again(btc_4h, db, checks):
    _job()
    _fresh_process()
    job = _job(end_date="2024-06-30")  # fewer candles: another fingerprint
    assert checks == ["order_block", "order_block"]
    assert "reused" not in job.validation_json["lookahead"]["order_block"]


def test_a_stored_violation_is_reused_and_still_stops_the_job(btc_4h, db, checks):
    previous = registry.register_detector("imbalance", LeakyFVG)
    try:
        first = _job("imbalance")
        _fresh_process()
        second = _job("imbalance")
    finally:
        registry.register_detector("imbalance", previous)
    assert checks == ["imbalance"]  # the second job read the verdict
    for job in (first, second):
        assert job.status == "failed" and "lookahead guard" in job.summary
        assert job.validation_json["lookahead"]["imbalance"]["status"] == "violated"
        assert db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job.id)).all() == []
    assert second.validation_json["lookahead"]["imbalance"]["reused"]["job_id"] == first.id


def test_recording_a_key_twice_keeps_the_first_and_a_crash_is_never_stored(db):
    ok = {"status": "ok", "code_version": "a" * 16, "checked_on": "x", "violations": []}
    record_verdicts([("k" * 64, "order_block", "f" * 64, ok)], job_id=1)
    record_verdicts([("k" * 64, "order_block", "f" * 64, {**ok, "checked_on": "later"})], job_id=2)
    record_verdicts([("c" * 64, "order_block", "f" * 64, {"status": "not checked", "error": "boom"})], job_id=3)
    db.session.commit()
    stored = find_verdict("k" * 64)
    assert stored["checked_on"] == "x" and stored["reused"]["job_id"] == 1
    assert find_verdict("c" * 64) is None
