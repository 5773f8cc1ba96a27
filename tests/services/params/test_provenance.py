"""Provenance cards: the same evidence on a production set, a premium copy and the resolved parameters."""

from params_helpers import BETTER, DEFAULTS, SLICE, good, selection, stored_job

from app.models import Symbol, User
from app.services.auto_tuner import apply_best_params
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import get_parameters
from app.services.params.provenance import card_of_run_id, source_provenance


def _promoted():
    job, _, runs = stored_job(
        [(BETTER, good()), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))], walk_forward_oos=0.12
    )
    (decision,) = apply_best_params(dry_run=False)
    assert decision.decision == "applied", decision.reason
    return job, runs


def test_a_promoted_set_carries_its_card_everywhere(db):
    job, runs = _promoted()
    card = parameter_sets.active_set(**SLICE)["provenance"]
    assert card == {
        "job_id": job.id,
        "job_name": "hand-made",
        "run_id": runs[0].id,
        "data_start": "2021-01-01",
        "data_end": "2024-12-31",
        "trials": {"raw": 1010, "effective": 84, "job": 1010},
        "dsr": 0.99,
        "psr": 0.999,
        "pbo": 0.05,
        "walk_forward": {"expectancy_r": 0.12, "total_trades": 40, "total_profit_pct": 0.0},
        "luck": None,
    }
    assert get_parameters(**SLICE).provenance == card
    premium = User(email="p@x.test", password_hash="-", tier="premium")
    db.session.add_all([premium, Symbol(name="BTC/USDT", exchange="binance")])
    db.session.commit()
    assert user_parameters.copy_production(premium, **SLICE)["provenance"] == card
    assert user_parameters.copy_run(premium, run_id=runs[0].id)["provenance"] == card


def test_a_card_says_plainly_when_a_run_is_no_better_than_luck(db):
    _, _, runs = stored_job([(BETTER, good())], selection=selection(dsr=0.41))
    card = card_of_run_id(runs[0].id)
    assert card["dsr"] == 0.41 and card["luck"] == "luck: DSR 0.41 < 0.95 over 1,010 trials, effective 84"
    assert get_parameters(**SLICE).provenance is None  # defaults: nothing was chosen, nothing to deflate


def test_unknown_sources_and_gone_runs_have_no_card(db):
    assert source_provenance("manual") is None and source_provenance(None) is None
    assert source_provenance("job:1/run:x") is None and source_provenance("production:set:999/1h") is None
    assert card_of_run_id(12345) is None
