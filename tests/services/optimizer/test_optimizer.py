"""Optimizer services: job creation and validation, running, resuming, claiming, best and compare."""

import threading

import pytest
from sqlalchemy import func, select

from app import create_app
from app.core.patterns import registry
from app.core.patterns.fair_value_gap import FVGDetector
from app.errors import ConflictError, NotFoundError, ValidationError
from app.evaluation.backtest import run_backtest
from app.extensions import db as _db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner
from config import TestingConfig

SMALL_GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


@pytest.fixture
def daily(db, bundled_dir):
    for pair in ("BTC", "ETH"):
        candle_store.import_csv(bundled_dir / f"{pair}_USDT-1d.csv.gz", symbol=f"{pair}/USDT", timeframe="1d")


def _job(grid=SMALL_GRID, **overrides):
    args = {
        "name": "test job",
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "timeframes": ["1d"],
        "strategies": ["imbalance", "order_block"],
        "start_date": "2021-01-01",
        "end_date": "2024-12-31",
        "grids": grid,
    }
    args.update(overrides)
    return jobs.create_job(**args)


def _run(job_id, *, workers=1, **kwargs):
    return JobRunner(workers=workers).run(job_id, **kwargs)


def _run_count(db, job_id):
    return db.session.scalar(select(func.count()).select_from(OptimizationRun).where(OptimizationRun.job_id == job_id))


def _slice_runs(db, job_id, symbol, strategy):
    return db.session.scalars(
        select(OptimizationRun)
        .join(OptimizationSlice)
        .where(
            OptimizationRun.job_id == job_id, OptimizationSlice.symbol == symbol, OptimizationSlice.strategy == strategy
        )
    ).all()


def test_create_job_counts_runs(daily, db):
    job = _job()
    assert job.status == "pending"
    assert job.total_runs == 8 * 2 * 1 * 2
    assert job.parameter_grids["imbalance"]["use_overlap"] == [True]
    assert job.costs == {"maker_fee_pct": 0.1, "taker_fee_pct": 0.1, "slippage_pct": 0.05, "risk_per_trade_pct": 1.0}


def test_cost_presets_and_per_strategy_grids(daily, db):
    job = _job(grid={"imbalance": "quick", "order_block": {"rr_target": [2.0]}}, costs="binance_usdm")
    assert job.total_runs == (6 + 1) * 2
    assert (job.maker_fee_pct, job.taker_fee_pct) == (0.02, 0.05)
    with pytest.raises(ValidationError, match="unknown preset 'kraken'"):
        _job(costs="kraken")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"symbols": ["DOGE/USDT"]}, "unknown symbol.*DOGE/USDT"),
        ({"symbols": []}, "symbol list must be a non-empty list"),
        ({"timeframes": ["2h"]}, "unknown timeframe.*2h"),
        ({"strategies": ["head_and_shoulders"]}, "unknown strategy.*head_and_shoulders"),
        ({"start_date": "2024-06-01", "end_date": "2024-01-01"}, "after end_date"),
        ({"start_date": "yesterday-ish"}, "start_date is not a date"),
        ({"timeframes": ["4h"]}, "no candles .* BTC/USDT 4h, ETH/USDT 4h"),
        ({"start_date": "2030-01-01", "end_date": "2030-02-01"}, "no candles"),
        ({"grids": {"rr_target": [0]}}, "rr_target"),
        ({"grids": {"rr_target": [50]}}, "rr_target"),
        ({"grids": {"stop": [1]}}, "unknown grid parameter"),
        ({"grids": "huge"}, "unknown grid preset"),
        ({"name": ""}, "name"),
        ({"ranking_metric": "vibes"}, "unknown ranking metric"),
    ],
)
def test_invalid_scope_or_grid_creates_nothing(daily, db, overrides, message):
    with pytest.raises(ValidationError, match=message):
        _job(**overrides)
    assert db.session.scalar(select(func.count()).select_from(OptimizationJob)) == 0


def test_run_cap_is_enforced(daily, db, app):
    app.config["OPTIMIZER_MAX_RUNS_PER_JOB"] = 10
    with pytest.raises(ValidationError, match="32 runs, more than the maximum of 10"):
        _job()


@pytest.mark.parametrize("workers", [1, 2])
def test_run_job_stores_every_run_matching_the_backtester(daily, db, workers):
    job = _job()
    events = []
    job = _run(job.id, workers=workers, progress=events.append)
    assert job.status == "completed" and job.completed_runs == job.total_runs == 32 and job.failed_runs == 0
    assert _run_count(db, job.id) == 32
    assert [e.done_slices for e in events] == [0, 1, 2, 3, 4] and events[-1].total_slices == 4
    candles = candle_store.load_candles("ETH/USDT", "1d", start="2021-01-01", end="2024-12-31 23:59")
    for params in (
        {"rr_target": 2.5, "sl_buffer_pct": 5.0, "tp_method": "swing_target"},
        {"rr_target": 1.5, "sl_buffer_pct": 15.0, "tp_method": "fixed_rr"},
    ):
        full = {**params, "min_zone_pct": 0.15, "entry_method": "zone_edge", "use_overlap": True}
        run = next(r for r in _slice_runs(db, job.id, "ETH/USDT", "order_block") if r.params == full)
        expected = run_backtest(candles, strategy="order_block", params=params)
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
        assert run.slice.candles_fingerprint and len(run.slice.candles_fingerprint) == 64
    # Trades are kept only for the best run of each slice.
    with_trades = db.session.scalars(
        select(OptimizationRun).where(OptimizationRun.job_id == job.id, OptimizationRun.results_json.is_not(None))
    ).all()
    assert len(with_trades) == 4
    report = jobs.job_report(job.id)
    assert {s["label"] for s in report["slices"] if s["best"]} == {
        f"{s}|1d|{p}" for s in ("BTC/USDT", "ETH/USDT") for p in ("imbalance", "order_block")
    }
    assert {r.id for r in with_trades} == {s["best"]["run_id"] for s in report["slices"]}


def test_running_again_adds_nothing(daily, db):
    job = _run(_job().id)
    ids = set(db.session.scalars(select(OptimizationRun.id).where(OptimizationRun.job_id == job.id)))
    again = _run(job.id)
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
    job = _run(_job().id)
    assert job.status == "failed"
    assert job.completed_runs == 16 and job.failed_runs == 16
    failed = db.session.scalars(select(OptimizationSlice).filter_by(job_id=job.id, status="failed")).all()
    assert {s.strategy for s in failed} == {"imbalance"}
    assert all("detector blew up" in s.error_message for s in failed)
    assert "failed slices: BTC/USDT|1d|imbalance, ETH/USDT|1d|imbalance" in job.summary


def test_rerun_retries_only_failed_slices(daily, db, exploding_imbalance):
    job = _run(_job().id)
    kept = set(db.session.scalars(select(OptimizationRun.id).filter_by(job_id=job.id)))
    registry.register_detector("imbalance", FVGDetector)
    job = _run(job.id)
    assert job.status == "completed" and job.completed_runs == 32 and job.failed_runs == 0
    assert kept <= set(db.session.scalars(select(OptimizationRun.id).filter_by(job_id=job.id)))
    assert _run_count(db, job.id) == 32


def test_resume_after_a_killed_run(daily, db):
    """A process dies after two slices: the job resumes with no duplicate and no missing run."""
    job = _job()

    def die_after_two(event):
        if event.done_slices == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        _run(job.id, progress=die_after_two)
    assert _run_count(db, job.id) == 16
    assert db.session.get(OptimizationJob, job.id).status == "failed"
    job = _run(job.id)
    assert job.status == "completed" and job.completed_runs == 32
    assert _run_count(db, job.id) == 32


def test_hard_killed_job_is_picked_up_once_its_heartbeat_is_stale(daily, db):
    from datetime import timedelta

    from app.models._time import utcnow

    job = _job()
    # What a SIGKILLed process leaves behind: running, claimed, a heartbeat that stops moving.
    job.status, job.claimed_by, job.heartbeat_at = "running", "dead-host:1", utcnow()
    db.session.commit()
    with pytest.raises(ConflictError, match="already running"):
        _run(job.id)
    assert jobs.next_runnable_job(stale_after_seconds=600) is None
    job.heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert jobs.next_runnable_job(stale_after_seconds=600).id == job.id
    assert _run(job.id).status == "completed"


def test_two_concurrent_claims_only_one_wins(tmp_path, monkeypatch, bundled_dir):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        _db.create_all()
        candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
        job_id = jobs.create_job(
            name="race",
            symbols=["BTC/USDT"],
            timeframes=["1d"],
            strategies=["imbalance"],
            start_date="2021-01-01",
            end_date="2021-12-31",
            grids="quick",
        ).id
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(owner):
        with app.app_context():
            runner = JobRunner(workers=1, owner=owner)
            barrier.wait()
            try:
                runner._claim(job_id)
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
        _run(999)


def test_best_params_and_compare(daily, db):
    job = _run(_job().id)
    best = results.best_params(symbol="BTC/USDT", strategy="imbalance", metric="total_profit_pct", min_trades=5)
    assert len(best) == 1
    top = best[0]
    runs = _slice_runs(db, job.id, "BTC/USDT", "imbalance")
    eligible = [r for r in runs if r.total_trades >= 5]
    assert top["value"] == max(r.total_profit_pct for r in eligible)
    assert top["run_id"] in {r.id for r in eligible}
    # Nothing reaches an impossible trade count: no "best" at all.
    assert results.best_params(symbol="BTC/USDT", min_trades=10_000) == []
    with pytest.raises(ValidationError, match="unknown ranking metric"):
        results.best_params(metric="luck")
    # A newer job answers for the slices it covers; robust ranks by stability.
    newer = _run(_job(grid="quick", strategies=["imbalance"]).id)
    assert {r["job_id"] for r in results.best_params(min_trades=0)} == {job.id, newer.id}
    robust = results.best_params(strategy="imbalance", min_trades=0, robust=True)
    assert all(r["job_id"] == newer.id and r["metric"] == "stability_score" for r in robust)

    a = {"rr_target": 1.5, "sl_buffer_pct": 5}
    b = {"rr_target": 2.5, "sl_buffer_pct": 15}
    comparison = results.compare_params(
        a, b, symbol="BTC/USDT", timeframe="1d", strategy="imbalance", start_date="2021-01-01", end_date="2024-12-31"
    )
    run_a = next(
        r
        for r in runs
        if (r.params["rr_target"], r.params["sl_buffer_pct"], r.params["tp_method"]) == (1.5, 5.0, "fixed_rr")
    )
    assert comparison["a"]["metrics"]["total_profit_pct"] == pytest.approx(run_a.total_profit_pct)
    assert comparison["difference"]["total_trades"] == (
        comparison["b"]["metrics"]["total_trades"] - comparison["a"]["metrics"]["total_trades"]
    )
    assert comparison["better"] in ("a", "b", "tie")
    with pytest.raises(ValidationError, match="params_b"):
        results.compare_params(a, {"tp_method": "moon"}, symbol="BTC/USDT", timeframe="1d", strategy="imbalance")


def test_trades_of_a_non_best_run_are_recomputed(daily, db):
    job = _run(_job().id)
    run = db.session.scalar(
        select(OptimizationRun).where(OptimizationRun.job_id == job.id, OptimizationRun.results_json.is_(None)).limit(1)
    )
    details = results.run_trades(run.id)
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
            "--strategies",
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
    assert "luck: " in created.output and "annual Sharpe of about" in created.output
    ran = runner.invoke(args=["optimize", "run", "1", "--workers", "1"])
    assert ran.exit_code == 0 and "job 1 completed: 12 of 12 runs completed" in ran.output
    listing = runner.invoke(args=["optimize", "status"])
    assert "cli" in listing.output and "100.0%" in listing.output
    best = runner.invoke(args=["optimize", "best", "--symbol", "BTC/USDT", "--min-trades", "1", "--json"])
    import json

    rows = json.loads(best.output)
    assert {r["strategy"] for r in rows} == {"imbalance", "order_block"}
    bad = runner.invoke(args=["optimize", "new", "--grid", "{not json"])
    assert bad.exit_code != 0 and "not valid JSON" in bad.output
    missing = runner.invoke(args=["optimize", "run", "99"])
    assert missing.exit_code != 0 and "job 99 not found" in missing.output


def test_a_runner_that_lost_its_lease_stops_and_writes_nothing_more(daily, db):
    """Another runner takes the job over (its claim bumps the lease): the first stops at its next write."""
    from app.services.optimizer.runner import LeaseLostError

    job = _job()

    def taken_over_after_one(event):
        if event.done_slices == 1:
            db.session.execute(
                OptimizationJob.__table__.update()
                .where(OptimizationJob.id == job.id)
                .values(lease=OptimizationJob.lease + 1, claimed_by="thief")
            )
            db.session.commit()

    with pytest.raises(LeaseLostError, match="taken over"):
        _run(job.id, progress=taken_over_after_one)
    assert _run_count(db, job.id) == 8
    stored = db.session.get(OptimizationJob, job.id)
    assert stored.claimed_by == "thief" and stored.status == "running" and stored.completed_runs == 8


@pytest.mark.parametrize("metric", ["total_profit_pct", "max_drawdown", "composite_score", "win_rate"])
@pytest.mark.parametrize("robust", [False, True])
def test_best_from_slice_rows_equals_ranking_in_sql(daily, db, metric, robust):
    """The slice rows' stored best per metric answer exactly what the SQL window ranking does."""
    from app.services.optimizer.results import _ranked_in_sql

    job = _run(_job(min_trades=3).id)
    fast = results.best_params(metric=metric, min_trades=3, robust=robust)
    slice_ids = list(db.session.scalars(select(OptimizationSlice.id).where(OptimizationSlice.job_id == job.id)))
    ranking = "stability_score" if robust else metric
    assert sorted(r["run_id"] for r in fast) == sorted(_ranked_in_sql(slice_ids, ranking=ranking, min_trades=3))
    assert len(fast) == 4


def test_the_weekly_sweep_skips_and_reports_an_active_symbol_without_candles(daily, db):
    from app.models import Symbol

    db.session.add(Symbol(name="EMPTY/USDT", exchange="binance", is_active=True))
    db.session.commit()
    job = jobs.create_sweep_job(grids="quick", strategies=["imbalance"])
    assert job.symbols == ["BTC/USDT", "ETH/USDT"]
    assert "skipped (no candles): EMPTY/USDT" in job.description
