"""``flask params``: thin commands over the services, their output and exit codes."""

import json

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE, good, stored_job

from app.models import Symbol, User
from app.services.params import parameter_sets

ARGS = [SLICE["symbol"], SLICE["timeframe"], SLICE["strategy"]]


@pytest.fixture
def tuned(db):
    db.session.add(Symbol(name="BTC/USDT", exchange="binance"))
    db.session.add_all(
        [User(email="free@x.test", password_hash="-"), User(email="pro@x.test", password_hash="-", tier="premium")]
    )
    db.session.commit()
    _, _, runs = stored_job([(BETTER, good()), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))])
    stored_job([(BETTER, good(expectancy_r=-0.2))], symbol="ETH/USDT")
    return runs


def _invoke(runner, *args):
    return runner.invoke(args=["params", *args])


def test_autotune_dry_run_table_then_apply(runner, tuned):
    result = _invoke(runner, "autotune")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["symbol", "tf", "strategy", "decision", "reason"]
    assert "BTC/USDT   1d   imbalance       proposed  better: composite_score" in result.output
    assert "ETH/USDT   1d   imbalance       skipped   negative expectancy after costs" in result.output
    assert "no run of the grid passes" in result.output
    assert lines[-1].startswith("2 slices: 0 applied, 1 proposed, 1 skipped; 1 with no promotable run at all")
    assert parameter_sets.active_set(**SLICE) is None
    applied = json.loads(_invoke(runner, "autotune", "--apply", "--symbol", "BTC/USDT", "--json").output)
    assert [d["decision"] for d in applied] == ["applied"] and parameter_sets.active_set(**SLICE)["params"] == BETTER


def test_get_json_history_and_rollback(runner, tuned):
    assert json.loads(_invoke(runner, "get", *ARGS, "--json").output)["source"] == "default"
    _invoke(runner, "autotune", "--apply")
    got = json.loads(_invoke(runner, "get", *ARGS, "--json").output)
    assert got["source"] == "production" and got["params"] == BETTER and got["as_of"] and got["metrics"]["in_sample"]
    first = parameter_sets.active_set(**SLICE)["id"]
    parameter_sets.apply_set(**SLICE, params=DEFAULTS, source="manual", actor="t", reason="by hand")
    history = _invoke(runner, "history", *ARGS)
    assert history.exit_code == 0 and "by hand" in history.output and f"{first:>5}" in history.output
    result = _invoke(runner, "rollback", *ARGS, "--to", str(first))
    assert result.exit_code == 0 and f"copy of set {first}" in result.output
    assert parameter_sets.active_set(**SLICE)["params"] == BETTER
    assert _invoke(runner, "rollback", *ARGS, "--to", "999").exit_code == 2


def test_status_and_suggest(runner, tuned):
    result = _invoke(runner, "status")
    assert result.exit_code == 0 and result.output.startswith("slices: 2 (2 optimized, 0 with a production set")
    assert json.loads(_invoke(runner, "status", "--json").output)["sources"]["default"] == 2
    suggestion = _invoke(runner, "suggest", *ARGS)
    assert suggestion.output.startswith("needs update: yes: better")


def test_copy_and_clear_premium_only(runner, tuned):
    refused = _invoke(runner, "copy", "free@x.test", "--run", str(tuned[0].id))
    assert refused.exit_code == 2 and "premium feature" in refused.output
    copied = _invoke(runner, "copy", "pro@x.test", "--run", str(tuned[0].id))
    assert copied.exit_code == 0 and "from job:" in copied.output
    mine = json.loads(_invoke(runner, "get", *ARGS, "--user", "pro@x.test", "--json").output)
    assert mine["source"] == "user" and mine["params"] == BETTER
    assert _invoke(runner, "clear", "pro@x.test", "BTC/USDT", "imbalance").exit_code == 0
    assert json.loads(_invoke(runner, "get", *ARGS, "--user", "pro@x.test", "--json").output)["source"] == "default"
    production = _invoke(runner, "copy", "pro@x.test", "--production", *ARGS)
    assert production.exit_code == 0 and "production:default" in production.output
    assert _invoke(runner, "copy", "pro@x.test").exit_code == 2
    assert _invoke(runner, "get", *ARGS, "--user", "nobody@x.test").exit_code == 2
