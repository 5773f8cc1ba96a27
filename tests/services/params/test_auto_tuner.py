"""The auto-tuner: every skip reason, a dry run writes nothing but log entries, apply promotes and is logged."""

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE, good, selection, stored_job
from sqlalchemy import func, select

from app.errors import NotFoundError, ValidationError
from app.models import ParameterChange, ProductionParameterSet
from app.services.auto_tuner import apply_best_params, improvement_pct
from app.services.params import parameter_sets
from app.services.params.optimal_parameters import get_parameters


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def _one(**kwargs):
    (decision,) = apply_best_params(**kwargs)
    return decision


@pytest.mark.parametrize(
    ("runs", "options", "reason"),
    [
        ([(BETTER, good(total_trades=4))], {"best": None}, "too few trades: no run of job"),
        ([(BETTER, good(total_trades=4))], {"min_trades": 2}, "too few trades: 4 < 10"),
        ([(BETTER, good(expectancy_r=-0.05))], {}, "negative expectancy after costs: -0.050 R"),
        ([(BETTER, good(expectancy_r=0.0))], {}, "negative expectancy after costs"),
        ([(BETTER, good())], {"walk_forward_oos": -0.1}, "failed walk-forward: out"),
        ([(BETTER, good())], {"walk_forward_oos": None}, "failed walk-forward: the job ran"),
        ([(BETTER, good())], {"validation": "none", "walk_forward_oos": None}, "no walk-forward: job"),
        ([(BETTER, good())], {"selection": None}, "no selection statistics: only a slice's best"),
        (
            [(BETTER, good())],
            {"selection": selection(dsr=0.41)},
            "luck: DSR 0.41 < 0.95 over 1,010 trials, effective 84",
        ),
        ([(BETTER, good())], {"selection": selection(pbo=0.46)}, "luck: PBO 0.46 > 0.20 over 12,870 splits of 1,010"),
        ([(DEFAULTS, good())], {}, "already active"),
        (
            [(BETTER, good(composite_score=1.01, total_profit_pct=41.0)), (DEFAULTS, good())],
            {},
            "below threshold: composite_score",
        ),
    ],
)
def test_every_skip_reason(db, runs, options, reason):
    stored_job(runs, **options)
    if "min_trades" in options:  # the tuner's own minimum is given; the job's stays 10
        stored_job(runs, min_trades=10)
    decision = _one(dry_run=False)
    assert decision.decision == "skipped" and decision.reason.startswith(reason), decision.reason
    assert parameter_sets.active_set(**SLICE) is None  # nothing promoted
    assert _count(db, ParameterChange) == 1


def test_min_trades_defaults_to_the_jobs_and_can_be_raised(db):
    stored_job([(BETTER, good(total_trades=60)), (DEFAULTS, good(total_trades=60, total_profit_pct=1.0))])
    assert _one(min_trades=100).reason == "too few trades: 60 < 100; no run of the grid passes"
    assert _one().decision == "proposed"


def test_dry_run_writes_nothing_but_a_log_entry(db):
    job, _, runs = stored_job([(BETTER, good()), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))])
    decision = _one()
    assert decision.decision == "proposed" and decision.before == DEFAULTS and decision.after == BETTER
    assert decision.improvement_pct > 5 and decision.reason.startswith("better: composite_score")
    assert (decision.job_id, decision.run_id) == (job.id, runs[0].id)
    assert _count(db, ProductionParameterSet) == 0 and get_parameters(**SLICE).source == "default"
    (entry,) = parameter_sets.change_log()
    assert entry["action"] == "proposed" and entry["dry_run"] is True and entry["after"] == BETTER
    assert entry["actor"] == "autotune" and entry["improvement_pct"] == decision.improvement_pct


def test_apply_promotes_with_its_evidence_and_a_second_run_keeps_it(db):
    job, slice_, runs = stored_job(
        [(BETTER, good()), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))],
        validation="walk_forward",
        walk_forward_oos=0.12,
    )
    decision = _one(dry_run=False, actor="ops")
    assert decision.decision == "applied" and "out-of-sample +0.120 R" in decision.reason
    active = parameter_sets.active_set(**SLICE)
    assert active["params"] == BETTER and active["source"] == "job" and active["applied_by"] == "ops"
    assert (active["job_id"], active["run_id"], decision.set_id) == (job.id, runs[0].id, active["id"])
    assert active["metrics"]["in_sample"]["total_trades"] == 60
    assert active["metrics"]["out_of_sample"]["expectancy_r"] == 0.12
    assert active["details"]["candles_fingerprint"] == slice_.candles_fingerprint
    resolved = get_parameters(**SLICE)
    assert resolved.source == "production" and resolved.params == BETTER and resolved.confidence["level"] == "medium"
    again = _one(dry_run=False)
    assert again.decision == "skipped" and again.reason.startswith("already active")
    assert [e["action"] for e in parameter_sets.change_log()] == ["skipped", "applied"]


def test_a_named_run_is_judged_and_applied_as_source_run(db):
    _, _, runs = stored_job([(DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2)), (BETTER, good())], best=1)
    decision = _one(run_id=runs[0].id, dry_run=False)  # not the best: measured on candles this job has none of
    assert decision.decision == "skipped" and decision.reason.startswith("no selection statistics"), decision.reason
    decision = _one(run_id=runs[1].id, dry_run=False)
    assert decision.decision == "applied" and parameter_sets.active_set(**SLICE)["source"] == "run"
    with pytest.raises(NotFoundError):
        apply_best_params(run_id=9999)


def test_only_the_newest_job_of_a_slice_counts_and_filters_apply(db):
    stored_job([(BETTER, good())])
    stored_job([(BETTER, good(expectancy_r=-0.2))])
    stored_job([(BETTER, good()), (DEFAULTS, good(total_profit_pct=1.0))], symbol="ETH/USDT")
    decisions = apply_best_params()
    assert [(d.symbol, d.decision) for d in decisions] == [("BTC/USDT", "skipped"), ("ETH/USDT", "proposed")]
    assert [d.symbol for d in apply_best_params(symbol="ETH/USDT")] == ["ETH/USDT"]
    assert apply_best_params(strategy="macd") == []
    with pytest.raises(ValidationError):
        apply_best_params(min_improvement_pct=-1)


def test_a_slice_whose_candles_are_gone_is_skipped(db):
    stored_job([(BETTER, good())])  # the defaults are not in the grid: they must be backtested, on no candles
    decision = _one()
    assert decision.decision == "skipped" and decision.reason.startswith("cannot re-evaluate")


def test_improvement_pct():
    assert improvement_pct(1.0, 1.1, higher_is_better=True) == pytest.approx(10.0)
    assert improvement_pct(-0.5, 0.2, higher_is_better=True) == pytest.approx(140.0)
    assert improvement_pct(10.0, 8.0, higher_is_better=False) == pytest.approx(20.0)
    assert improvement_pct(0.0, 1.0, higher_is_better=True) is None


POOLED = {**DEFAULTS, "rr_target": 2.5}  # fair on both symbols, the best on neither


def _two_symbol_job(btc_selection):
    """One sweep on BTC and ETH: BTC's own best (BETTER) fails on ETH; POOLED holds on both."""
    job, btc, _ = stored_job(
        [(BETTER, good(sharpe_ratio=2.0)), (POOLED, good(sharpe_ratio=1.0)), (DEFAULTS, good(sharpe_ratio=0.5))],
        selection=btc_selection,
    )
    stored_job(
        [(BETTER, good(expectancy_r=-0.1)), (POOLED, good(sharpe_ratio=0.9)), (DEFAULTS, good())],
        symbol="ETH/USDT",
        job=job,
    )
    return btc


def test_a_refused_slice_gets_its_jobs_pooled_set_judged_by_the_same_gate(db):
    _two_symbol_job(selection(dsr=0.41))
    decision = apply_best_params(symbol="BTC/USDT")[0]
    assert decision.decision == "skipped"
    own, pooled = decision.reason.split("; the set ")
    assert own.startswith("luck: DSR 0.41 < 0.95")
    # POOLED is neither BTC's best nor its robust best: measured on the job's candles, which this test has none of.
    assert pooled.startswith("pooled across 2 symbols: worst Sharpe 0.90, median 0.95"), pooled
    assert "no selection statistics: the job's candles changed or are gone" in pooled


def test_a_pooled_set_that_passes_is_promoted_with_its_standing(db, app):
    app.config.update(AUTOTUNE_MIN_DSR=0.0, AUTOTUNE_MAX_PBO=1.0)  # the luck check off: this is about the wiring
    btc = _two_symbol_job(selection())
    btc.best_run_id = btc.robust_run_id = None  # BTC's own candidate: none qualified
    decision = apply_best_params(symbol="BTC/USDT", dry_run=False)[0]
    assert decision.decision == "applied", decision.reason
    assert decision.after == POOLED and decision.metrics["pooled"]["slices"] == 2
    assert decision.reason.startswith("the set pooled across 2 symbols")
    assert parameter_sets.active_set(**SLICE)["params"] == POOLED
