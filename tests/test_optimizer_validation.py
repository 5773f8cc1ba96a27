"""The optimizer's overfitting defences: stability, robust best, Monte Carlo, walk-forward, lookahead guard."""

import numpy as np
import pytest
from sqlalchemy import select

from app.errors import ValidationError
from app.models import OptimizationRun
from app.services import candle_store
from app.services.optimizer import ParameterOptimizer
from app.services.patterns import registry
from app.services.patterns.fair_value_gap import FVGDetector
from app.services.validation import stability_scores

GRID = {"rr_target": [1.5, 2.5, 3.5], "sl_buffer_pct": [5, 15]}


@pytest.fixture
def btc_4h(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-4h.csv.gz", symbol="BTC/USDT", timeframe="4h")


def _create(optimizer, **kwargs):
    return optimizer.create_job(
        "defences", ["BTC/USDT"], ["4h"], ["order_block"], "2021-01-01", "2024-12-31", GRID, **kwargs
    )


def _runs(db, job_id):
    return db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job_id)).all()


def test_walk_forward_job_stores_and_shows_in_and_out_of_sample(btc_4h, db, runner):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_create(optimizer, validation="walk_forward", min_trades=5).id)
    assert job.status == "completed"
    checks = job.validation_json["BTC/USDT|4h|order_block"]
    wf = checks["walk_forward"]
    assert len(wf["splits"]) == 5
    for split in wf["splits"]:
        assert split["train_end"] < split["test_start"] <= split["test_end"]
        assert set(split["params"]) >= {"rr_target", "sl_buffer_pct"}
        assert {"in_sample", "out_of_sample"} <= set(split)
    assert "walk_forward_efficiency" in wf["summary"]
    mc = checks["monte_carlo"]
    assert mc["n_simulations"] == 1000 and mc["seed"] == job.id
    assert job.validation_json["lookahead"]["order_block"]["status"] == "ok"

    status = runner.invoke(args=["optimize", "status", str(job.id)])
    assert status.exit_code == 0, status.output
    assert "walk-forward BTC/USDT|4h|order_block: efficiency" in status.output
    assert "in-sample: trades" in status.output and "out-of-sample: trades" in status.output
    assert "stitched out-of-sample" in status.output
    assert "monte carlo BTC/USDT|4h|order_block" in status.output
    assert "lookahead guard order_block: ok" in status.output


def test_stability_scores_are_stored_and_robust_best_uses_them(btc_4h, db):
    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_create(optimizer, monte_carlo=False, min_trades=5).id)
    runs = _runs(db, job.id)
    import pandas as pd

    table = pd.DataFrame(
        [{**r.params, "composite_score": r.composite_score, "total_trades": r.total_trades} for r in runs]
    )
    np.testing.assert_allclose([r.stability_score for r in runs], stability_scores(table))
    (robust,) = optimizer.get_best_params(job_id=job.id, min_trades=5, robust=True)
    trusted = [r for r in runs if r.total_trades >= 5]
    assert robust["value"] == max(r.stability_score for r in trusted)
    assert job.best_params_json["BTC/USDT|4h|order_block"]["robust"]["params"] == robust["params"]
    assert "monte_carlo" not in (job.validation_json or {}).get("BTC/USDT|4h|order_block", {})


class LeakyFVG(FVGDetector):
    """Peeks one candle ahead: the zone top is the NEXT candle's low."""

    def find_candidates(self, open_, high, low, close):
        found = super().find_candidates(open_, high, low, close)
        ahead = np.minimum(found.index + 1, len(low) - 1)
        return type(found)(found.index, found.direction, found.zone_low, np.maximum(found.zone_high, low[ahead]))


def test_lookahead_guard_stops_a_leaky_detector(btc_4h, db):
    previous = registry.register_detector("imbalance", LeakyFVG)
    try:
        optimizer = ParameterOptimizer(workers=1)
        job = optimizer.create_job(
            "leaky", ["BTC/USDT"], ["4h"], ["imbalance", "order_block"], "2021-01-01", "2024-12-31", GRID
        )
        job = optimizer.run_job(job.id)
    finally:
        registry.register_detector("imbalance", previous)
    assert job.status == "failed"
    assert "lookahead guard" in job.summary and "imbalance" in job.summary
    verdict = job.validation_json["lookahead"]["imbalance"]
    assert verdict["status"] == "violated" and verdict["violations"]
    assert job.validation_json["lookahead"]["order_block"]["status"] == "ok"
    assert _runs(db, job.id) == []


def test_validation_mode_and_ranking_metric_are_checked(btc_4h, db):
    optimizer = ParameterOptimizer(workers=1)
    with pytest.raises(ValidationError, match="validation must be one of none, walk_forward"):
        _create(optimizer, validation="k_fold")
    with pytest.raises(ValidationError, match="stability_score is derived"):
        _create(optimizer, ranking_metric="stability_score")


def test_job_report_is_json_ready_and_the_home_page_lists_jobs(btc_4h, db, client):
    import json

    optimizer = ParameterOptimizer(workers=1)
    job = optimizer.run_job(_create(optimizer, validation="walk_forward", min_trades=5).id)
    report = json.loads(json.dumps(optimizer.job_report(job.id)))
    assert report["status"] == "completed" and report["progress"]["percent"] == 100.0
    assert set(report["best_params"]) == {"BTC/USDT|4h|order_block"}
    assert "walk_forward" in report["validation_results"]["BTC/USDT|4h|order_block"]
    page = client.get("/").get_data(as_text=True)
    assert "Optimization jobs" in page and "defences" in page and "completed" in page
