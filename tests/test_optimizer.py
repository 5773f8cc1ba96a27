"""ParameterOptimizer: job creation and validation, running, resuming, claiming, best and compare."""

import threading

import pytest
from sqlalchemy import func, select

from app import create_app
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db as _db
from app.models import OptimizationJob, OptimizationRun
from app.services import candle_store
from app.services.backtester_v2 import run_backtest_v2
from app.services.optimizer import ParameterOptimizer
from app.services.patterns import registry
from app.services.patterns.fair_value_gap import FVGDetector
from config import TestingConfig

SMALL_GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


@pytest.fixture
def daily(db, bundled_dir):
    for pair in ("BTC", "ETH"):
        candle_store.import_csv(bundled_dir / f"{pair}_USDT-1d.csv.gz", symbol=f"{pair}/USDT", timeframe="1d")


def _job(optimizer, grid=SMALL_GRID, **overrides):
    args = {
        "name": "test job",
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "timeframes": ["1d"],
        "pattern_types": ["imbalance", "order_block"],
        "start_date": "2021-01-01",
        "end_date": "2024-12-31",
        "parameter_grid": grid,
    }
    args.update(overrides)
    return optimizer.create_job(**args)


def _run_count(db, job_id, **filters):
    query = select(func.count()).select_from(OptimizationRun).where(OptimizationRun.job_id == job_id)
    for name, value in filters.items():
        query = query.where(getattr(OptimizationRun, name) == value)
    return db.session.scalar(query)


def test_create_job_counts_runs(daily, db):
    job = _job(ParameterOptimizer(workers=1))
    assert job.status == "pending"
    assert job.total_runs == 8 * 2 * 1 * 2
    assert job.parameter_grid["use_overlap"] == [True]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"symbols": ["DOGE/USDT"]}, "unknown symbol.*DOGE/USDT"),
        ({"symbols": []}, "symbols must be a non-empty list"),
        ({"timeframes": ["2h"]}, "unknown timeframe.*2h"),
        ({"pattern_types": ["head_and_shoulders"]}, "unknown pattern type.*head_and_shoulders"),
        ({"start_date": "2024-06-01", "end_date": "2024-01-01"}, "after end_date"),
        ({"start_date": "yesterday-ish"}, "start_date is not a date"),
        ({"timeframes": ["4h"]}, "no candles .* BTC/USDT 4h, ETH/USDT 4h"),
        ({"start_date": "2030-01-01", "end_date": "2030-02-01"}, "no candles"),
        ({"parameter_grid": {"rr_target": [0]}}, "rr_target"),
        ({"parameter_grid": {"stop": [1]}}, "unknown grid parameter"),
        ({"parameter_grid": "huge"}, "unknown grid preset"),
        ({"name": ""}, "name"),
        ({"ranking_metric": "vibes"}, "unknown ranking metric"),
    ],
)
def test_invalid_scope_or_grid_creates_nothing(daily, db, overrides, message):
    with pytest.raises(ValidationError, match=message):
        _job(ParameterOptimizer(workers=1), **overrides)
    assert db.session.scalar(select(func.count()).select_from(OptimizationJob)) == 0


def test_run_cap_is_enforced(daily, db, app):
    app.config["OPTIMIZER_MAX_RUNS_PER_JOB"] = 10
    with pytest.raises(ValidationError, match="32 runs, more than the maximum of 10"):
        _job(ParameterOptimizer(workers=1))


@pytest.mark.parametrize("workers", [1, 2])
def test_run_job_stores_every_run_matching_the_backtester(daily, db, workers):
    optimizer = ParameterOptimizer(workers=workers)
    job = _job(optimizer)
    events = []
    job = optimizer.run_job(job.id, progress=events.append)
    assert job.status == "completed" and job.completed_runs == job.total_runs == 32 and job.failed_runs == 0
    assert _run_count(db, job.id) == 32
    assert [e.done_slices for e in events] == [0, 1, 2, 3, 4] and events[-1].total_slices == 4
    candles = candle_store.load_candles("ETH/USDT", "1d", "2021-01-01", "2024-12-31 23:59")
    for params in (
        {"rr_target": 2.5, "sl_buffer_pct": 5.0, "tp_method": "swing_target"},
        {"rr_target": 1.5, "sl_buffer_pct": 15.0, "tp_method": "fixed_rr"},
    ):
        run = db.session.scalar(
            select(OptimizationRun).filter_by(job_id=job.id, symbol="ETH/USDT", pattern_type="order_block", **params)
        )
        expected = run_backtest_v2("ETH/USDT", "1d", pattern_type="order_block", candles=candles, **params)
        for metric in (
            "total_trades",
            "winning_trades",
            "win_rate",
            "total_profit_pct",
            "max_drawdown",
            "sharpe_ratio",
            "profit_factor",
            "expectancy_r",
        ):
            assert getattr(run, metric) == pytest.approx(expected[metric]), metric
        assert run.candles_fingerprint and len(run.candles_fingerprint) == 64
    # Trades are kept only for the best run of each slice.
    with_trades = db.session.scalars(
        select(OptimizationRun).where(OptimizationRun.job_id == job.id, OptimizationRun.results_json.is_not(None))
    ).all()
    assert len(with_trades) == 4
    assert set(job.best_params_json) == {
        f"{s}|1d|{p}" for s in ("BTC/USDT", "ETH/USDT") for p in ("imbalance", "order_block")
    }


def test_running_again_adds_nothing(daily, db):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_job(optimizer).id)
    ids = set(db.session.scalars(select(OptimizationRun.id).where(OptimizationRun.job_id == job.id)))
    again = optimizer.run_job(job.id)
    assert again.status == "completed" and again.completed_runs == 32
    assert set(db.session.scalars(select(OptimizationRun.id).where(OptimizationRun.job_id == job.id))) == ids


class ExplodingDetector(FVGDetector):
    def find_candidates(self, *args, **kwargs):
        raise RuntimeError("detector blew up")


@pytest.fixture
def exploding_imbalance():
    previous = registry.register_detector("imbalance", ExplodingDetector)
    yield
    registry.register_detector("imbalance", previous)


def test_failing_slice_is_recorded_and_the_job_goes_on(daily, db, exploding_imbalance):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_job(optimizer).id)
    assert job.status == "failed"
    assert job.completed_runs == 16 and job.failed_runs == 16
    failed = db.session.scalars(select(OptimizationRun).filter_by(job_id=job.id, status="failed")).all()
    assert {r.pattern_type for r in failed} == {"imbalance"}
    assert all("detector blew up" in r.error_message for r in failed)
    assert "failed slices: BTC/USDT|1d|imbalance, ETH/USDT|1d|imbalance" in job.summary


def test_rerun_retries_only_failed_slices(daily, db, exploding_imbalance):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_job(optimizer).id)
    kept = set(db.session.scalars(select(OptimizationRun.id).filter_by(job_id=job.id, status="completed")))
    registry.register_detector("imbalance", FVGDetector)
    job = optimizer.run_job(job.id)
    assert job.status == "completed" and job.completed_runs == 32 and job.failed_runs == 0
    assert kept <= set(db.session.scalars(select(OptimizationRun.id).filter_by(job_id=job.id)))
    assert _run_count(db, job.id) == 32


def test_resume_after_a_killed_run(daily, db):
    """A process dies after two slices: the job resumes with no duplicate and no missing run."""
    optimizer = ParameterOptimizer(workers=1)
    job = _job(optimizer)

    def die_after_two(event):
        if event.done_slices == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        optimizer.run_job(job.id, progress=die_after_two)
    assert _run_count(db, job.id) == 16
    assert db.session.get(OptimizationJob, job.id).status == "failed"
    job = ParameterOptimizer(workers=1).run_job(job.id)
    assert job.status == "completed" and job.completed_runs == 32
    assert _run_count(db, job.id) == 32


def test_hard_killed_job_is_picked_up_once_its_heartbeat_is_stale(daily, db):
    from datetime import timedelta

    from app.models._time import utcnow

    optimizer = ParameterOptimizer(workers=1)
    job = _job(optimizer)
    # What a SIGKILLed process leaves behind: running, claimed, a heartbeat that stops moving.
    job.status, job.claimed_by, job.heartbeat_at = "running", "dead-host:1", utcnow()
    db.session.commit()
    with pytest.raises(ConflictError, match="already running"):
        optimizer.run_job(job.id)
    assert optimizer.next_runnable_job() is None
    job.heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert optimizer.next_runnable_job().id == job.id
    assert optimizer.run_job(job.id).status == "completed"


def test_two_concurrent_claims_only_one_wins(tmp_path, monkeypatch, bundled_dir):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        _db.create_all()
        candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
        job_id = (
            ParameterOptimizer(workers=1)
            .create_job("race", ["BTC/USDT"], ["1d"], ["imbalance"], "2021-01-01", "2021-12-31", "quick")
            .id
        )
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(owner):
        with app.app_context():
            optimizer = ParameterOptimizer(workers=1, owner=owner)
            barrier.wait()
            try:
                optimizer._claim(job_id)
                outcomes.append("won")
            except ConflictError:
                outcomes.append("lost")

    threads = [threading.Thread(target=claim, args=(f"proc-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "won"]


def test_unknown_job(db):
    with pytest.raises(NotFoundError):
        ParameterOptimizer(workers=1).run_job(999)


def test_best_params_and_compare(daily, db):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_job(optimizer).id)
    best = optimizer.get_best_params(
        symbol="BTC/USDT", pattern_type="imbalance", metric="total_profit_pct", min_trades=5
    )
    assert len(best) == 1
    top = best[0]
    runs = db.session.scalars(
        select(OptimizationRun).filter_by(job_id=job.id, symbol="BTC/USDT", pattern_type="imbalance")
    ).all()
    eligible = [r for r in runs if r.total_trades >= 5]
    assert top["value"] == max(r.total_profit_pct for r in eligible)
    assert top["run_id"] in {r.id for r in eligible}
    # Nothing reaches an impossible trade count: no "best" at all.
    assert optimizer.get_best_params(symbol="BTC/USDT", min_trades=10_000) == []
    with pytest.raises(ValidationError, match="unknown ranking metric"):
        optimizer.get_best_params(metric="luck")

    a = {"rr_target": 1.5, "sl_buffer_pct": 5}
    b = {"rr_target": 2.5, "sl_buffer_pct": 15}
    comparison = optimizer.compare_params(
        a, b, "BTC/USDT", "1d", "imbalance", start_date="2021-01-01", end_date="2024-12-31"
    )
    run_a = next(r for r in runs if (r.rr_target, r.sl_buffer_pct, r.tp_method) == (1.5, 5.0, "fixed_rr"))
    assert comparison["a"]["metrics"]["total_profit_pct"] == pytest.approx(run_a.total_profit_pct)
    assert comparison["difference"]["total_trades"] == (
        comparison["b"]["metrics"]["total_trades"] - comparison["a"]["metrics"]["total_trades"]
    )
    assert comparison["better"] in ("a", "b", "tie")
    with pytest.raises(ValidationError, match="params_b"):
        optimizer.compare_params(a, {"tp_method": "moon"}, "BTC/USDT", "1d", "imbalance")


def test_trades_of_a_non_best_run_are_recomputed(daily, db):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_job(optimizer).id)
    run = db.session.scalar(
        select(OptimizationRun).where(OptimizationRun.job_id == job.id, OptimizationRun.results_json.is_(None)).limit(1)
    )
    details = optimizer.run_trades(run.id)
    assert len(details["trades"]) == details["trades_total"] == run.total_trades
    assert details["candles_changed"] is False


def test_optimize_cli_new_run_status_best(daily, runner):
    created = runner.invoke(
        args=[
            "optimize",
            "new",
            "--preset",
            "quick",
            "--symbols",
            "BTC/USDT",
            "--timeframes",
            "1d",
            "--patterns",
            "imbalance,order_block",
            "--start",
            "2021-01-01",
            "--end",
            "2024-12-31",
            "--name",
            "cli",
        ]
    )
    assert created.exit_code == 0, created.output
    assert "created job 1 'cli': 12 runs" in created.output
    ran = runner.invoke(args=["optimize", "run", "1", "--workers", "1"])
    assert ran.exit_code == 0 and "job 1 completed: 12 of 12 runs completed" in ran.output
    listing = runner.invoke(args=["optimize", "status"])
    assert "cli" in listing.output and "100.0%" in listing.output
    best = runner.invoke(args=["optimize", "best", "--symbol", "BTC/USDT", "--min-trades", "1", "--json"])
    import json

    rows = json.loads(best.output)
    assert {r["pattern_type"] for r in rows} == {"imbalance", "order_block"}
    bad = runner.invoke(args=["optimize", "new", "--grid", "{not json"])
    assert bad.exit_code != 0 and "not valid JSON" in bad.output
    missing = runner.invoke(args=["optimize", "run", "99"])
    assert missing.exit_code != 0 and "job 99 not found" in missing.output
