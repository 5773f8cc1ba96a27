"""Migration 0007: the parameter tables up and down, on SQLite and (when configured) MariaDB."""

import pytest
from flask_migrate import downgrade, upgrade
from params_helpers import BETTER, DEFAULTS, good, stored_job
from sqlalchemy import inspect

from app.extensions import db
from app.models import Symbol, User
from app.services.auto_tuner import apply_best_params
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import get_parameters, status_report
from tests.conftest import requires_mysql

TABLES = {"production_parameter_sets", "parameter_changes"}
SLICE = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance"}


def _round_trip() -> None:
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    first = parameter_sets.apply_set(**SLICE, params={}, source="manual", actor="t", reason="defaults")
    parameter_sets.apply_set(**SLICE, params={"rr_target": 3.0}, source="manual", actor="t", reason="r3")
    assert parameter_sets.rollback(**SLICE, to_set_id=first["id"], actor="t")["params"] == first["params"]
    assert len(parameter_sets.set_history(**SLICE)) == 3 and len(parameter_sets.change_log()) == 3
    db.session.remove()
    downgrade(revision="0006")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    upgrade()
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_upgrade_and_downgrade_on_sqlite(migrated_app):
    _round_trip()


@requires_mysql
def test_upgrade_and_downgrade_on_mysql(mysql_app):
    _round_trip()


@requires_mysql
def test_one_active_set_is_enforced_by_mysql(mysql_app):
    for rr in (2.0, 3.0, 2.5):
        parameter_sets.apply_set(**SLICE, params={"rr_target": rr}, source="manual", actor="t", reason="t")
    assert [s["is_active"] for s in parameter_sets.set_history(**SLICE)] == [True, False, False]
    assert pytest.approx(parameter_sets.active_set(**SLICE)["params"]["rr_target"]) == 2.5


@requires_mysql
def test_the_loop_on_mysql(mysql_app):
    db.session.add(Symbol(name="BTC/USDT", exchange="binance"))
    premium = User(email="pro@x.test", password_hash="-", tier="premium")
    db.session.add(premium)
    db.session.commit()
    stored_job([(BETTER, good()), (DEFAULTS, good(total_profit_pct=5.0, sharpe_ratio=0.2))])
    assert [d.decision for d in apply_best_params()] == ["proposed"]
    assert get_parameters(**SLICE).source == "default"
    (applied,) = apply_best_params(dry_run=False)
    assert applied.decision == "applied" and get_parameters(**SLICE).params == BETTER
    user_parameters.copy_production(premium, **SLICE)
    assert get_parameters(**SLICE, user=premium).source == "user"
    first = parameter_sets.apply_set(**SLICE, params=DEFAULTS, source="manual", actor="t", reason="back")
    restored = parameter_sets.rollback(**SLICE, to_set_id=applied.set_id, actor="t")
    assert restored["params"] == BETTER and first["id"] < restored["id"]
    assert status_report()["with_production_set"] == 1
    assert [e["action"] for e in parameter_sets.change_log()] == ["rollback", "applied", "applied", "proposed"]
