"""Suggestions per slice and the status report."""

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE, good, stored_job

from app.errors import ValidationError
from app.services.auto_tuner import apply_best_params
from app.services.params import parameter_sets
from app.services.params.optimal_parameters import get_parameters, status_report, suggest_parameter_updates


def _grid(**better):
    return [(BETTER, good(**better)), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))]


def test_suggestion_without_a_job_and_for_a_bad_strategy(db):
    suggestion = suggest_parameter_updates(**SLICE)
    assert suggestion["needs_update"] is False and suggestion["reason"].startswith("no completed optimization")
    with pytest.raises(ValidationError):
        suggest_parameter_updates(symbol="BTC/USDT", timeframe="1d", strategy="nope")


def test_suggestion_proposes_without_writing(db):
    stored_job(_grid())
    suggestion = suggest_parameter_updates(**SLICE)
    assert suggestion["needs_update"] is True and suggestion["suggested"] == BETTER
    assert suggestion["improvement_pct"] > 5 and suggestion["reason"].startswith("better")
    assert parameter_sets.change_log() == []


def test_an_old_or_losing_active_set_is_stale(app, db):
    stored_job(_grid())
    apply_best_params(dry_run=False)
    assert suggest_parameter_updates(**SLICE)["needs_update"] is False
    stale = suggest_parameter_updates(**SLICE)
    assert stale["stale"] and "days ago" in stale["stale_reasons"][0]  # the job's data ended 2024-12-31
    app.config["PARAMS_STALE_DAYS"] = 100_000
    assert suggest_parameter_updates(**SLICE)["stale"] is False
    stored_job(
        [(BETTER, good(expectancy_r=-0.1)), (DEFAULTS, good())], validation="walk_forward", walk_forward_oos=-0.2
    )
    reasons = suggest_parameter_updates(**SLICE)["stale_reasons"]
    assert any("negative out of sample" in r for r in reasons) and any("now loses" in r for r in reasons)


def test_status_report_counts_sources_pending_and_cache(db):
    stored_job(_grid())
    stored_job(_grid(), symbol="ETH/USDT")
    apply_best_params(symbol="BTC/USDT", dry_run=False)
    apply_best_params(symbol="ETH/USDT")  # a dry run: pending
    get_parameters(**SLICE)
    get_parameters(**SLICE)
    report = status_report()
    assert (report["slices"], report["optimized"], report["with_production_set"]) == (2, 2, 1)
    assert report["sources"] == {"job": 1, "run": 0, "manual": 0, "default": 1}
    assert report["pending_proposals"] == 1
    assert report["average_performance"]["expectancy_r"] == pytest.approx(0.3)
    assert report["cache"]["hits"] == 1 and report["cache"]["misses"] == 1
    rows = {r["symbol"]: r for r in report["rows"]}
    assert rows["ETH/USDT"]["last_action"] == "proposed" and rows["BTC/USDT"]["source"] == "job"
    assert rows["BTC/USDT"]["trades"] == 60 and rows["BTC/USDT"]["stale"] is True
