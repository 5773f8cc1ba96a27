"""The optimizer's overfitting defences: stability, robust best, Monte Carlo, walk-forward, lookahead guard."""

import re

import numpy as np
import pytest
from sqlalchemy import select

from app.core.patterns import registry
from app.core.patterns.fair_value_gap import FVGDetector
from app.errors import ValidationError
from app.evaluation.validation import stability_scores
from app.models import OptimizationRun, OptimizationSlice
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner
from app.strategies import get_strategy

GRID = {"rr_target": [1.5, 2.5, 3.5], "sl_buffer_pct": [5, 15]}


@pytest.fixture
def btc_4h(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-4h.csv.gz", symbol="BTC/USDT", timeframe="4h")


def _create(**kwargs):
    args = {"name": "defences", "symbols": ["BTC/USDT"], "timeframes": ["4h"], "strategies": ["order_block"]}
    args.update(start_date="2021-01-01", end_date="2024-12-31", grids=GRID)
    return jobs.create_job(**{**args, **kwargs})


def _run(job_id):
    return JobRunner(workers=1).run(job_id)


def _slice(db, job_id):
    return db.session.scalars(select(OptimizationSlice).where(OptimizationSlice.job_id == job_id)).one()


def _runs(db, job_id):
    return db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job_id)).all()


def test_walk_forward_job_stores_and_shows_in_and_out_of_sample(btc_4h, db, runner):
    job = _run(_create(validation="walk_forward", min_trades=5).id)
    assert job.status == "completed"
    checks = _slice(db, job.id).checks_json
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
    job = _run(_create(monte_carlo=False, min_trades=5).id)
    runs = _runs(db, job.id)
    import pandas as pd

    table = pd.DataFrame(
        [{**r.params, "composite_score": r.composite_score, "total_trades": r.total_trades} for r in runs]
    )
    space = get_strategy("order_block").space
    np.testing.assert_allclose([r.stability_score for r in runs], stability_scores(table, space=space))
    (robust,) = results.best_params(job_id=job.id, min_trades=5, robust=True)
    trusted = [r for r in runs if r.total_trades >= 5]
    assert robust["value"] == max(r.stability_score for r in trusted)
    stored = _slice(db, job.id)
    assert db.session.get(OptimizationRun, stored.robust_run_id).params == robust["params"]
    assert "monte_carlo" not in (stored.checks_json or {})


class LeakyFVG(FVGDetector):
    """Peeks one candle ahead: the zone top is the NEXT candle's low."""

    def find_candidates(self, open_, high, low, close):
        found = super().find_candidates(open_, high, low, close)
        ahead = np.minimum(found.index + 1, len(low) - 1)
        return type(found)(found.index, found.direction, found.zone_low, np.maximum(found.zone_high, low[ahead]))


def test_lookahead_guard_stops_a_leaky_detector(btc_4h, db):
    previous = registry.register_detector("imbalance", LeakyFVG)
    try:
        job = _run(_create(name="leaky", strategies=["imbalance", "order_block"]).id)
    finally:
        registry.register_detector("imbalance", previous)
    assert job.status == "failed"
    assert "lookahead guard" in job.summary and "imbalance" in job.summary
    verdict = job.validation_json["lookahead"]["imbalance"]
    assert verdict["status"] == "violated" and verdict["violations"]
    assert job.validation_json["lookahead"]["order_block"]["status"] == "ok"
    assert _runs(db, job.id) == []


def test_validation_mode_and_ranking_metric_are_checked(btc_4h, db):
    with pytest.raises(ValidationError, match="validation must be one of none, walk_forward"):
        _create(validation="k_fold")
    with pytest.raises(ValidationError, match="stability_score is derived"):
        _create(ranking_metric="stability_score")


def test_job_report_is_json_ready_and_the_jobs_page_lists_it(btc_4h, db, client):
    import json

    from app.services.accounts.users import create_user

    job = _run(_create(validation="walk_forward", min_trades=5).id)
    report = json.loads(json.dumps(jobs.job_report(job.id)))
    assert report["status"] == "completed" and report["progress"]["percent"] == 100.0
    assert [s["label"] for s in report["slices"]] == ["BTC/USDT|4h|order_block"]
    assert "walk_forward" in report["slices"][0]["checks"]
    assert report["costs"]["maker_fee_pct"] == 0.1 and report["lookahead"]["order_block"]["status"] == "ok"
    create_user(email="admin@example.com", password="long enough", tier="admin")
    client.post("/login", data={"email": "admin@example.com", "password": "long enough"})
    page = client.get("/admin/optimization").get_data(as_text=True)
    assert "Optimization jobs" in page and "defences" in page and "completed" in page
    detail = client.get(f"/admin/optimization/{job.id}").get_data(as_text=True)
    # One line per slice with its out-of-sample result; the walk-forward windows are on the slice's own page.
    oos = report["slices"][0]["checks"]["walk_forward"]["summary"]["out_of_sample"]["total_profit_pct"]
    assert f"{oos:+,.2f}%" in detail
    slice_url = re.search(r'href="(/admin/optimization/\d+/slices/\d+)"', detail).group(1)
    assert 'id="walk-forward"' in client.get(slice_url).get_data(as_text=True)
