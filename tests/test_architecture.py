"""The pure core stays pure (DESIGN section 2, issue 9): no Flask, no SQLAlchemy, no reaching up.

One parametrized test per pure module checks two things:

1. importing it in a fresh interpreter loads neither the web stack nor the database layer;
2. its source imports nothing impure ANYWHERE, function bodies and ``TYPE_CHECKING`` blocks
   included (an import inside a function runs only when called, so the import check alone
   misses it): no flask / sqlalchemy / alembic / werkzeug / click, and from ``app`` only
   other pure modules (never ``app.models``, ``app.extensions``, ``app.services.candle_store``
   or any other module that is not on the list below). ``importlib.import_module("...")``
   and ``__import__("...")`` with a literal name count as imports.

Every module under ``app/strategies`` and ``app/services/patterns`` is pure, so a new strategy
module is checked without editing this file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PURE_PACKAGES = ("app.strategies", "app.services.patterns")
PURE_SINGLE_MODULES = (
    "app.services",  # the package __init__, run by importing any of its modules
    "app.enums",
    "app.services.candle_frame",
    "app.services.costs",
    "app.services.metric_names",
    "app.services.trade_levels",
    "app.services.backtest_engine",
    "app.services.backtester_v2",
    "app.services.scoring",
    "app.services.validation",
    "app.services.optimization_worker",
    "app.services.market_regime",
    "app.services.regime_evaluation",
    "app.services.pine_script",
    "app.services.script_records",
    "app.services.run_analysis",
)
IMPURE_TOP_LEVEL = ("flask", "sqlalchemy", "alembic", "werkzeug", "click", "pymysql", "MySQLdb")


def module_path(module: str) -> Path:
    base = REPO_ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def package_modules(package: str) -> list[str]:
    root = REPO_ROOT.joinpath(*package.split("."))
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


PURE_MODULES = sorted({*PURE_SINGLE_MODULES, *(m for package in PURE_PACKAGES for m in package_modules(package))})


def is_pure_app_module(name: str) -> bool:
    return name in PURE_MODULES or any(name.startswith(package + ".") for package in PURE_PACKAGES)


def imported_names(source: str, *, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Return (line, module name) of every import in ``source`` (the code of ``module``), wherever it stands."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from app.services import candle_store`` imports the module app.services.candle_store.
                candidate = f"{base}.{alias.name}"
                is_module = base.split(".")[0] == "app" and module_path(candidate).exists()
                found.append((node.lineno, candidate if is_module else base))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def impure_imports(module: str, source: str | None = None) -> list[str]:
    """Return a readable line per import of ``module`` that breaks the rule (empty: pure)."""
    path = module_path(module)
    source = path.read_text() if source is None else source
    bad = []
    for line, name in imported_names(source, module=module, is_package=path.name == "__init__.py"):
        top = name.split(".")[0]
        if top in IMPURE_TOP_LEVEL or top.startswith("flask_"):
            bad.append(f"{module}:{line} imports {name} (web stack / database layer)")
        elif top == "app" and not is_pure_app_module(name):
            bad.append(f"{module}:{line} imports {name} (not a pure module)")
    return bad


def test_the_module_list_covers_the_pure_core():
    # The discovered list is not empty by accident, and every listed module exists.
    assert {"app.strategies.base", "app.strategies.parameters", "app.strategies.patterns"} <= set(PURE_MODULES)
    assert {"app.services.patterns.base", "app.services.patterns.registry"} <= set(PURE_MODULES)
    assert all(module_path(m).exists() for m in PURE_MODULES)


@pytest.mark.parametrize(
    "source",
    [
        "def load():\n    from app.services.candle_store import load_candles\n",
        "def load():\n    from app.services import candle_store\n",
        "if TYPE_CHECKING:\n    from flask import Flask\n",
        "def db():\n    import sqlalchemy.orm\n",
        "def models():\n    from ..models import Candle\n",
        "def ext():\n    return importlib.import_module('app.extensions')\n",
    ],
)
def test_the_scan_sees_imports_inside_functions(source):
    # What the subprocess check cannot see: a lazy import of an impure module, found in the source.
    assert impure_imports("app.services.backtest_engine", source), source
    assert impure_imports("app.services.backtest_engine", "def ok():\n    from app.services.costs import MAKER\n") == []


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_neither_flask_nor_sqlalchemy(module):
    assert impure_imports(module) == []
    # Loaded in a fresh interpreter: no web stack, and from app nothing but pure modules.
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"impure = {IMPURE_TOP_LEVEL!r}; pure = set({PURE_MODULES!r}); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in impure or m.startswith('flask_') "
        "or (m.startswith('app.') and m not in pure))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [], f"{module} pulls in {result.stdout}"
