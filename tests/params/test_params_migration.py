"""Migration 0007: the parameter tables up and down, on SQLite and (when configured) MariaDB."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db
from app.services import parameter_sets
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
