"""Strategy.code_version: a hash of the code that decides a strategy's setups (the lookahead guard's cache key)."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from app.core import engine, levels
from app.strategies import base, get_strategy, strategy_names


@pytest.mark.parametrize("name", strategy_names())
def test_code_modules_are_imported_module_objects_including_the_engine(name):
    modules = get_strategy(name).code_modules()
    assert all(isinstance(m, ModuleType) for m in modules)
    assert {engine, levels} <= set(modules)


@pytest.mark.parametrize("name", strategy_names())
def test_a_change_in_any_code_module_changes_the_version(name, monkeypatch):
    strategy = get_strategy(name)
    before = strategy.code_version()
    assert strategy.code_version() == before  # stable while nothing changes
    real = inspect.getsource
    for module in strategy.code_modules():
        monkeypatch.setattr(base.inspect, "getsource", lambda m, edited=module: real(m) + ("#" if m is edited else ""))
        assert strategy.code_version() != before, module.__name__
    monkeypatch.setattr(base.inspect, "getsource", real)
