"""Architecture rules that keep the pure core pure (DESIGN section 2)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# Pure computation: DataFrames / arrays in, values out; never Flask or SQLAlchemy.
PURE_MODULES = [
    "app.services.candle_frame",
    "app.services.parameter_grid",
    "app.services.patterns",
    "app.services.patterns.base",
    "app.services.patterns.fair_value_gap",
    "app.services.patterns.order_block",
    "app.services.patterns.liquidity",
    "app.services.patterns.registry",
    "app.services.trade_levels",
    "app.services.backtest_engine",
    "app.services.backtester_v2",
    "app.services.scoring",
    "app.services.optimization_worker",
    "app.services.validation",
    "app.services.pine_script",
    "app.services.script_records",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_neither_flask_nor_sqlalchemy(module):
    web_stack = "('flask', 'sqlalchemy', 'flask_sqlalchemy')"
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {web_stack})))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [], f"{module} pulls in {result.stdout}"
