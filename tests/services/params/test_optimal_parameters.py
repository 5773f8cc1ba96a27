"""The optimal-parameter service: the fallback chain user -> production -> default, and its cache."""

import pytest
from flask_login import AnonymousUserMixin
from params_helpers import BETTER, DEFAULTS, SLICE
from sqlalchemy import update

from app.errors import ValidationError
from app.models import ProductionParameterSet, Symbol, User
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import get_parameters
from app.services.params.parameter_cache import parameter_cache
from app.services.params.production_params import production_params

MINE = {**DEFAULTS, "rr_target": 1.5}


@pytest.fixture
def users(db):
    db.session.add(Symbol(name="BTC/USDT", exchange="binance"))
    people = {tier: User(email=f"{tier}@x.test", password_hash="-", tier=tier) for tier in ("free", "premium")}
    db.session.add_all(people.values())
    db.session.commit()
    return people


def _apply(params):
    return parameter_sets.apply_set(**SLICE, params=params, source="manual", actor="t", reason="test")


def _get(user=None):
    return get_parameters(symbol=SLICE["symbol"], timeframe=SLICE["timeframe"], strategy=SLICE["strategy"], user=user)


def test_each_level_missing_in_turn(users):
    premium = users["premium"]
    # Nothing stored: defaults.
    assert _get(premium).to_dict()["source"] == "default" and _get(premium).params == DEFAULTS
    # A production set: production, for everyone.
    applied = _apply(BETTER)
    resolved = _get(premium)
    assert (resolved.source, resolved.params, resolved.set_id) == ("production", BETTER, applied["id"])
    assert resolved.as_of == applied["applied_at"]
    # The premium user's own set: theirs; production for others.
    user_parameters.save_custom(premium, symbol="BTC/USDT", strategy="imbalance", params=MINE)
    assert (_get(premium).source, _get(premium).params) == ("user", MINE)
    assert _get().source == "production"
    # Cleared: production again; the production set rolled back to nothing is not possible, so defaults come
    # back only for a slice without a set.
    user_parameters.clear_custom(premium, symbol="BTC/USDT", strategy="imbalance")
    assert _get(premium).source == "production"
    assert get_parameters(symbol="BTC/USDT", timeframe="4h", strategy="imbalance", user=premium).source == "default"


def test_a_free_users_stored_set_is_not_used(users, db):
    from app.models import UserParameterSet

    db.session.add(UserParameterSet(user_id=users["free"].id, symbol_id=1, strategy="imbalance", params=MINE))
    db.session.commit()
    assert _get(users["free"]).source == "default"


def test_an_anonymous_visitor_resolves_like_no_user(db):
    assert get_parameters(**SLICE, user=AnonymousUserMixin()).source == "default"


def test_unknown_symbol_gives_defaults_unknown_strategy_is_bad_input(db):
    resolved = get_parameters(symbol="NOPE/USDT", timeframe="1h", strategy="macd")
    assert resolved.source == "default" and resolved.confidence["level"] == "none"
    assert resolved.to_dict()["params"]["fast"] == 12
    with pytest.raises(ValidationError, match="strategy"):
        get_parameters(symbol="BTC/USDT", timeframe="1h", strategy="no_such_strategy")


def test_defaults_follow_the_production_params_config(app, db):
    app.config["PRODUCTION_PARAMS"] = {"rr_target": 2.5, "fast": 5}
    assert production_params(**SLICE)["rr_target"] == 2.5


def test_cache_hits_and_invalidation_on_apply_rollback_and_preference(users, db):
    premium = users["premium"]
    cache = parameter_cache()
    first = _get()
    assert _get() == first and cache.hits == 1 and cache.misses == 1
    applied = _apply(BETTER)  # apply: the next lookup sees it at once
    assert _get().params == BETTER
    # A write behind the service's back is not seen: the answer is cached (until the TTL).
    db.session.execute(update(ProductionParameterSet).values(params=MINE))
    db.session.commit()
    assert _get().params == BETTER
    db.session.execute(update(ProductionParameterSet).values(params=BETTER))
    db.session.commit()
    _apply(MINE)
    parameter_sets.rollback(**SLICE, to_set_id=applied["id"], actor="t")  # rollback
    assert _get().params == BETTER
    assert _get(premium).params == BETTER  # cached for the user too
    user_parameters.save_custom(premium, symbol="BTC/USDT", strategy="imbalance", params=MINE)  # preference change
    assert _get(premium).params == MINE
    user_parameters.clear_custom(premium, symbol="BTC/USDT", strategy="imbalance")
    assert _get(premium).params == BETTER
    stats = cache.stats()
    assert stats["invalidations"] == 5 and stats["hits"] == 2 and stats["latency_ms"]["hit"]["p95"] >= 0


def test_a_caller_cannot_change_the_cached_params(db):
    _get().params["rr_target"] = 99.0
    assert _get().params["rr_target"] == DEFAULTS["rr_target"]


def test_the_ttl_comes_from_the_config(app, db):
    app.config["PARAMS_CACHE_TTL_SECONDS"] = 0.01
    app.extensions.pop("parameter_cache", None)
    assert parameter_cache().stats()["ttl_seconds"] == 0.01
