"""Production parameter sets: apply keeps history, one active set, the change log, rollback restores exactly."""

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE
from sqlalchemy import func, select

from app.errors import NotFoundError, ValidationError
from app.models import ParameterChange, ProductionParameterSet
from app.services.params import parameter_sets


def _apply(params, **extra):
    return parameter_sets.apply_set(**SLICE, params=params, source="manual", actor="tester", reason="test", **extra)


def test_no_set_means_none(db):
    assert parameter_sets.active_set(**SLICE) is None
    assert parameter_sets.set_history(**SLICE) == []


def test_apply_keeps_history_and_one_active_set(db):
    first = _apply(DEFAULTS, metrics={"in_sample": {"total_trades": 12}, "out_of_sample": None})
    second = _apply(BETTER)
    active = parameter_sets.active_set(**SLICE)
    assert active["id"] == second["id"] and active["params"] == BETTER and active["source"] == "manual"
    assert active["applied_by"] == "tester" and active["metrics"] == {"in_sample": None, "out_of_sample": None}
    history = parameter_sets.set_history(**SLICE)
    assert [h["id"] for h in history] == [second["id"], first["id"]]
    assert [h["is_active"] for h in history] == [True, False]
    assert history[1]["metrics"]["in_sample"] == {"total_trades": 12}
    active_rows = db.session.scalar(
        select(func.count()).select_from(ProductionParameterSet).where(ProductionParameterSet.is_active.is_(True))
    )
    assert active_rows == 1
    log = parameter_sets.change_log(**SLICE)
    assert [entry["action"] for entry in log] == ["applied", "applied"]
    assert log[0]["before"] == DEFAULTS and log[0]["after"] == BETTER and log[0]["set_id"] == second["id"]
    assert log[1]["before"] is None


def test_apply_validates_by_the_declared_space(db):
    with pytest.raises(ValidationError, match="rr_target"):
        _apply({**DEFAULTS, "rr_target": -1})
    with pytest.raises(ValidationError, match="source"):
        parameter_sets.apply_set(**SLICE, params=DEFAULTS, source="default", actor="x", reason="x")
    assert db.session.scalar(select(func.count()).select_from(ParameterChange)) == 0


def test_rollback_restores_exactly_and_is_logged(db):
    evidence = {"in_sample": {"total_trades": 44, "expectancy_r": 0.2}, "out_of_sample": {"expectancy_r": 0.1}}
    first = _apply(DEFAULTS, metrics=evidence, job_id=7, run_id=70)
    _apply(BETTER)
    restored = parameter_sets.rollback(**SLICE, to_set_id=first["id"], actor="ops")
    assert restored["params"] == first["params"] and restored["metrics"] == first["metrics"]
    assert (restored["job_id"], restored["run_id"], restored["source"]) == (7, 70, "manual")
    assert restored["restored_from"] == first["id"] and restored["applied_by"] == "ops"
    assert parameter_sets.active_set(**SLICE)["id"] == restored["id"]
    assert len(parameter_sets.set_history(**SLICE)) == 3  # nothing overwritten
    entry = parameter_sets.change_log(limit=1)[0]
    assert entry["action"] == "rollback" and entry["before"] == BETTER and entry["after"] == DEFAULTS
    assert entry["actor"] == "ops" and f"set {first['id']}" in entry["reason"]


def test_rollback_refuses_unknown_or_other_slice_or_active_set(db):
    first = _apply(DEFAULTS)
    with pytest.raises(NotFoundError):
        parameter_sets.rollback(**SLICE, to_set_id=999, actor="ops")
    with pytest.raises(NotFoundError):
        parameter_sets.rollback(**{**SLICE, "timeframe": "4h"}, to_set_id=first["id"], actor="ops")
    with pytest.raises(ValidationError, match="already the active set"):
        parameter_sets.rollback(**SLICE, to_set_id=first["id"], actor="ops")


def test_change_log_filters_and_limits(db):
    _apply(DEFAULTS)
    parameter_sets.apply_set(
        **{**SLICE, "symbol": "ETH/USDT"}, params=DEFAULTS, source="manual", actor="t", reason="eth"
    )
    assert [e["symbol"] for e in parameter_sets.change_log(symbol="ETH/USDT")] == ["ETH/USDT"]
    assert len(parameter_sets.change_log(limit=1)) == 1
    with pytest.raises(ValidationError):
        parameter_sets.change_log(limit=0)
