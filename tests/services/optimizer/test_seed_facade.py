"""ParameterOptimizer: the seed's class and signatures over the jobs, runner and results services."""

from __future__ import annotations

import pytest

from app.enums import JobStatus
from app.errors import ValidationError
from app.models import OptimizationJob
from app.services.candles import candle_store
from app.services.optimizer import ParameterOptimizer, results

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15]}


@pytest.fixture
def optimizer(app, db, bundled_dir):
    app.config["OPTIMIZER_WORKERS"] = 1
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    return ParameterOptimizer()


def _job(optimizer, **overrides):
    args = ("seed job", ["BTC/USDT"], ["1d"], ["imbalance", "order_block"], "2021-01-01", "2024-12-31")
    return optimizer.create_job(*args, parameter_grid=GRID, **overrides)


def test_create_and_run_a_job_the_seed_way(optimizer, db):
    job = _job(optimizer)
    assert isinstance(job, OptimizationJob) and job.strategies == ["imbalance", "order_block"]
    assert job.total_runs == 2 * 4
    report = optimizer.run_job(job.id)
    assert report["status"] == JobStatus.COMPLETED and report["id"] == job.id
    assert report["progress"]["completed_runs"] == 8


def test_a_bad_grid_is_refused_and_nothing_is_created(optimizer, db):
    with pytest.raises(ValidationError, match="rr_target"):
        optimizer.create_job(
            "bad", ["BTC/USDT"], ["1d"], ["imbalance"], "2021-01-01", "2024-12-31", {"rr_target": [-1]}
        )
    assert db.session.query(OptimizationJob).count() == 0


def test_best_params_and_compare_are_the_results_services(optimizer):
    optimizer.run_job(_job(optimizer).id)
    best = optimizer.get_best_params(symbol="BTC/USDT", pattern_type="order_block", metric="win_rate")
    assert best["metric"] == "win_rate"
    assert best["best"] == results.best_params(symbol="BTC/USDT", strategy="order_block", metric="win_rate")
    assert [row["strategy"] for row in best["best"]] == ["order_block"]
    assert len(optimizer.get_best_params()["best"]) == 2  # every slice, by total_profit_pct
    a, b = {"rr_target": 1.5}, {"rr_target": 3.0}
    compared = optimizer.compare_params(a, b, "BTC/USDT", "1d", "imbalance")
    assert compared == results.compare_params(a, b, symbol="BTC/USDT", timeframe="1d", strategy="imbalance")
    assert compared["better"] in ("a", "b", "tie") and compared["a"]["params"]["rr_target"] == 1.5
