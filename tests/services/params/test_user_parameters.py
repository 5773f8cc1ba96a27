"""Premium copies: premium users and admins keep their own sets (from a run or production); free users are refused."""

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE, good, stored_job

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import Symbol, User
from app.services.accounts.access import PREMIUM_MESSAGE
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import get_parameters


@pytest.fixture
def people(db):
    db.session.add(Symbol(name="BTC/USDT", exchange="binance"))
    users = {tier: User(email=f"{tier}@x.test", password_hash="-", tier=tier) for tier in ("free", "premium", "admin")}
    db.session.add_all(users.values())
    db.session.commit()
    return users


@pytest.mark.parametrize("tier", ["premium", "admin"])
def test_premium_and_admin_copy_a_run(people, tier):
    job, _, runs = stored_job([(BETTER, good())])
    saved = user_parameters.copy_run(people[tier], run_id=runs[0].id)
    assert saved["params"] == BETTER and saved["params_source"] == f"job:{job.id}/run:{runs[0].id}"
    assert get_parameters(**SLICE, user=people[tier]).source == "user"
    assert [s["strategy"] for s in user_parameters.list_sets(people[tier])] == ["imbalance"]


def test_free_users_get_the_premium_refusal_and_nothing_is_stored(people):
    _, _, runs = stored_job([(BETTER, good())])
    free = people["free"]
    calls = [
        lambda: user_parameters.copy_run(free, run_id=runs[0].id),
        lambda: user_parameters.copy_production(free, **SLICE),
        lambda: user_parameters.save_custom(free, symbol="BTC/USDT", strategy="imbalance", params=BETTER),
        lambda: user_parameters.clear_custom(free, symbol="BTC/USDT", strategy="imbalance"),
    ]
    for call in calls:
        with pytest.raises(ForbiddenError, match=PREMIUM_MESSAGE):
            call()
    assert user_parameters.list_sets(free) == []


def test_copy_production_records_the_set_and_clear_falls_back(people):
    premium = people["premium"]
    copied = user_parameters.copy_production(premium, **SLICE)
    assert copied["params"] == DEFAULTS and copied["params_source"] == "production:default/1d"
    applied = parameter_sets.apply_set(**SLICE, params=BETTER, source="manual", actor="t", reason="t")
    copied = user_parameters.copy_production(premium, **SLICE)
    assert copied["params"] == BETTER and copied["params_source"] == f"production:set:{applied['id']}/1d"
    user_parameters.save_custom(premium, symbol="BTC/USDT", strategy="imbalance", params={**BETTER, "rr_target": 1.5})
    user_parameters.clear_custom(premium, symbol="BTC/USDT", strategy="imbalance")
    assert get_parameters(**SLICE, user=premium).source == "production"
    (kept,) = user_parameters.list_sets(premium)
    assert kept["use_custom"] is False and kept["params"]["rr_target"] == 1.5  # kept, switched off


def test_bad_input_is_named(people):
    premium = people["premium"]
    with pytest.raises(ValidationError, match="rr_target"):
        user_parameters.save_custom(premium, symbol="BTC/USDT", strategy="imbalance", params={"rr_target": "x"})
    with pytest.raises(NotFoundError, match="DOGE"):
        user_parameters.save_custom(premium, symbol="DOGE/USDT", strategy="imbalance", params={})
    with pytest.raises(NotFoundError):
        user_parameters.copy_run(premium, run_id=12345)
    with pytest.raises(NotFoundError, match="no custom parameters"):
        user_parameters.clear_custom(premium, symbol="BTC/USDT", strategy="macd")
