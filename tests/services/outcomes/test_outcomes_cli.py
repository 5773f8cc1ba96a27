"""``flask outcomes status`` / ``monitor`` and the monitor section of ``flask params status``."""

import json

import pytest

from tests.services.outcomes.test_monitor import alarmed_sets


@pytest.fixture
def alarmed(db, monkeypatch):
    return alarmed_sets(db, monkeypatch, seed=3, trades=(80, 80))


def test_status_lists_sets_in_alarm_first_with_the_suggestion(runner, alarmed):
    first, bad, _ = alarmed
    result = runner.invoke(args=["outcomes", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "1 in alarm" in lines[0]
    assert lines[1].lstrip().startswith("ALARM") and f"set {bad['id']}" in lines[1]
    assert f"suggest rollback to set {first['id']}" in lines[2]
    states = json.loads(runner.invoke(args=["outcomes", "status", "--json"]).output)
    assert states[0]["verdict"] == "alarm"


def test_monitor_only_suggests_while_auto_rollback_is_off(runner, alarmed):
    result = runner.invoke(args=["outcomes", "monitor"])
    assert result.exit_code == 0, result.output
    assert "PARAMS_AUTO_ROLLBACK is off" in result.output


def test_monitor_rolls_back_when_auto_rollback_is_on(app, runner, alarmed):
    first, _, _ = alarmed
    app.config["PARAMS_AUTO_ROLLBACK"] = True
    result = runner.invoke(args=["outcomes", "monitor"])
    assert result.exit_code == 0, result.output
    assert f"(copy of set {first['id']})" in result.output


def test_params_status_has_a_monitor_section(runner, alarmed):
    result = runner.invoke(args=["params", "status"])
    assert result.exit_code == 0, result.output
    assert "decay monitor" in result.output and "ALARM" in result.output
    assert json.loads(runner.invoke(args=["params", "status", "--json"]).output)["monitor"][0]["verdict"] == "alarm"
