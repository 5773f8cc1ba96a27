"""The monitor service over hand-built outcomes: a set far below its expectation alarms, one on track does not."""

import itertools
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from app.models import ParameterChange, ProductionParameterSet, SetupOutcome
from app.services.candles.candle_store import get_or_create_symbol
from app.services.outcomes import monitor
from app.services.params import parameter_sets

SETUP_IDS = itertools.count(1)
rng = np.random.default_rng(7)
SAMPLE = list(rng.normal(0.5, 1.0, 300))  # the "backtest": +0.5 R per trade, sd 1
OOS = {"in_sample": {"expectancy_r": 0.6}, "out_of_sample": {"expectancy_r": 0.5, "total_trades": 120}}


def _set(strategy: str, params: dict, *, metrics=OOS) -> dict:
    return parameter_sets.apply_set(
        symbol="BTC/USDT", timeframe="1d", strategy=strategy, params=params, source="manual", actor="test",
        reason="test", metrics=metrics,
    )  # fmt: skip


def _outcomes(db, set_id: int, strategy: str, r_values, *, start: datetime | None = None) -> None:
    """Closed outcomes of the set, one a day from ``start`` (default: the day the set was applied: live ones)."""
    symbol = get_or_create_symbol("BTC/USDT")
    start = start or db.session.get(ProductionParameterSet, set_id).applied_at
    for i, r in enumerate(r_values):
        db.session.add(
            SetupOutcome(
                setup_kind="signal", setup_id=next(SETUP_IDS), symbol_id=symbol.id, symbol="BTC/USDT",
                timeframe="1d", strategy=strategy, direction=1, detected_at=start + timedelta(days=i),
                params_source="production", parameter_set_id=set_id, params={}, costs={}, entry_order="market",
                max_wait_bars=10, state="closed", exited_at=start + timedelta(days=i + 1), r_multiple=float(r),
            )
        )  # fmt: skip
    db.session.commit()


def alarmed_sets(db, monkeypatch, *, seed: int, trades: tuple[int, int]) -> tuple[dict, dict, dict]:
    """An earlier imbalance set, the active one far below its +0.5 R expectation (``trades[0]`` outcomes of
    -0.5 R), and an ema_cross set on track (``trades[1]`` of +0.5 R): what a monitor should alarm on."""
    monkeypatch.setattr(monitor, "backtest_sample", lambda row: (SAMPLE, "test sample"))
    first = _set("imbalance", {"rr_target": 2.0})
    bad = _set("imbalance", {"rr_target": 3.0})
    good = _set("ema_cross", {})
    rng = np.random.default_rng(seed)
    _outcomes(db, bad["id"], "imbalance", rng.normal(-0.5, 1.0, trades[0]))
    _outcomes(db, good["id"], "ema_cross", rng.normal(0.5, 1.0, trades[1]))
    return first, bad, good


@pytest.fixture
def sample(monkeypatch):
    monkeypatch.setattr(monitor, "backtest_sample", lambda row: (SAMPLE, "test sample"))


def test_the_expected_mean_is_out_of_sample_where_walk_forward_ran():
    assert monitor.expected_mean(OOS) == (0.5, "out_of_sample")
    assert monitor.expected_mean({**OOS, "out_of_sample": None}) == (0.6, "in_sample")
    assert monitor.expected_mean(None) == (None, "in_sample")


def test_a_set_far_below_its_expectation_alarms_and_one_on_track_does_not(db, sample):
    first = _set("imbalance", {"rr_target": 2.0})
    bad = _set("imbalance", {"rr_target": 3.0})
    good = _set("ema_cross", {})
    _outcomes(db, bad["id"], "imbalance", rng.normal(-0.5, 1.0, 80))
    _outcomes(db, good["id"], "ema_cross", rng.normal(0.5, 1.0, 80))
    states = monitor.monitor_states()
    assert [s["set_id"] for s in states][0] == bad["id"]  # alarm first
    by_id = {s["set_id"]: s for s in states}
    assert by_id[bad["id"]]["verdict"] == "alarm"
    assert by_id[bad["id"]]["expectation"]["source"] == "out_of_sample"
    assert by_id[bad["id"]]["suggestion"]["action"] == "rollback"
    assert by_id[bad["id"]]["suggestion"]["to_set_id"] == first["id"]
    assert by_id[bad["id"]]["suggestion"]["evidence"]
    assert by_id[good["id"]]["verdict"] in ("ok", "too_early")
    assert by_id[good["id"]]["suggestion"] is None
    assert by_id[good["id"]]["trades"] == 80


def test_without_a_previous_set_the_suggestion_is_the_default(db, sample):
    only = _set("imbalance", {"rr_target": 3.0})
    _outcomes(db, only["id"], "imbalance", rng.normal(-0.5, 1.0, 80))
    (state,) = monitor.monitor_states()
    assert state["suggestion"]["action"] == "default"


def test_auto_rollback_is_off_by_default_and_rolls_back_through_the_change_log_when_on(app, db, sample):
    first = _set("imbalance", {"rr_target": 2.0})
    bad = _set("imbalance", {"rr_target": 3.0})
    _outcomes(db, bad["id"], "imbalance", rng.normal(-0.5, 1.0, 80))
    assert app.config["PARAMS_AUTO_ROLLBACK"] is False
    assert monitor.run_monitor()["rolled_back"] == []
    app.config["PARAMS_AUTO_ROLLBACK"] = True
    result = monitor.run_monitor()
    (restored,) = result["rolled_back"]
    assert restored["restored_from"] == first["id"]
    active = parameter_sets.active_set(symbol="BTC/USDT", timeframe="1d", strategy="imbalance")
    assert active["params"]["rr_target"] == 2.0
    last = db.session.scalars(select(ParameterChange).order_by(ParameterChange.id.desc())).first()
    assert (last.action, last.actor) == ("rollback", "monitor")
    assert "decay monitor alarm: " in last.reason and "CUSUM" in last.reason  # the evidence, not just "rollback"


def test_a_set_without_backtest_trades_has_no_expectation(db):
    only = _set("imbalance", {"rr_target": 3.0})
    _outcomes(db, only["id"], "imbalance", [-1.0] * 30)
    (state,) = monitor.monitor_states()
    assert state["verdict"] == "no_expectation"
    assert state["suggestion"] is None


def test_setups_detected_before_the_set_was_applied_are_not_its_live_record(db, sample):
    chosen = _set("imbalance", {"rr_target": 3.0})
    applied_at = db.session.get(ProductionParameterSet, chosen["id"]).applied_at
    _outcomes(db, chosen["id"], "imbalance", [5.0] * 30, start=applied_at - timedelta(days=40))  # backfill
    _outcomes(db, chosen["id"], "imbalance", [-1.0, 2.0])  # published while active
    (state,) = monitor.monitor_states()
    assert state["trades"] == 2 and state["cumulative_r"] == 1.0
