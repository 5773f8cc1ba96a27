"""The layers hold (docs/architecture.md): rules by package prefix, so a new file is covered without a list.

Every module under ``app/`` belongs to the layer of its longest matching prefix
in ``LAYERS`` (a new top-level package fails ``test_every_module_has_a_layer``
until it is given one). A layer names the ``app`` packages it may import;
imports are read from the source, function bodies and ``TYPE_CHECKING``
blocks included (an import inside a function runs only when called), and
``importlib.import_module("...")`` / ``__import__("...")`` with a literal name
count as imports.

The pure layers (core, strategies, evaluation and the enums leaf) also import
no web stack and no database layer, checked twice: in the source, and by
importing each module in a fresh interpreter and looking at ``sys.modules``.
Routes never touch ``db.session`` (a service does) and never call the pure
evaluation code directly.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class Layer:
    may_import: tuple[str, ...]  # app package prefixes this layer may import (besides the enums leaf)
    pure: bool = False  # no flask / sqlalchemy / ... anywhere in the import graph


CORE = ("app.core",)
STRATEGIES = (*CORE, "app.strategies")
EVALUATION = (*STRATEGIES, "app.evaluation")
FLASK_SIDE = ("app.extensions", "app.errors")  # the app's Flask objects and its error types
LAYERS = {
    "app.enums": Layer((), pure=True),
    "app.core": Layer(CORE, pure=True),
    "app.strategies": Layer(STRATEGIES, pure=True),
    "app.evaluation": Layer(EVALUATION, pure=True),
    "app.models": Layer((*CORE, "app.models", "app.extensions")),
    "app.services": Layer((*EVALUATION, "app.models", "app.services", *FLASK_SIDE)),
    "app.routes": Layer((*STRATEGIES, "app.models", "app.services", "app.routes", "app.forms", *FLASK_SIDE)),
    "app.cli": Layer(("app",)),
    "app": Layer(("app",)),  # the factory, extensions, errors, forms, logs
}
LEAVES = ("app.enums",)  # closed sets of names every layer may use
IMPURE_TOP_LEVEL = ("flask", "sqlalchemy", "alembic", "werkzeug", "click", "pymysql", "MySQLdb")


def module_path(module: str) -> Path:
    base = REPO_ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def app_modules() -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / "app").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str:
    return max((prefix for prefix in LAYERS if within(module, prefix)), key=len)


MODULES = app_modules()
PURE_MODULES = [m for m in MODULES if m != "app" and LAYERS[layer_of(m)].pure]


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
                # ``from app.services.candles import candle_store`` imports a module, not a name of the package.
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


def broken_rules(module: str, source: str | None = None) -> list[str]:
    """Return a readable line per import of ``module`` that its layer forbids (empty: it keeps to its layer)."""
    path = module_path(module)
    source = path.read_text() if source is None else source
    layer = LAYERS[layer_of(module)]
    bad = []
    for line, name in imported_names(source, module=module, is_package=path.name == "__init__.py"):
        top = name.split(".")[0]
        if layer.pure and (top in IMPURE_TOP_LEVEL or top.startswith("flask_")):
            bad.append(f"{module}:{line} imports {name} (web stack / database layer in a pure layer)")
        elif top == "app" and name != "app" and not any(within(name, p) for p in (*layer.may_import, *LEAVES)):
            bad.append(f"{module}:{line} imports {name} ({layer_of(module)} may import only {layer.may_import})")
    return bad


def test_every_module_has_a_layer():
    # A new top-level package lands in the catch-all 'app' layer only if it is one of the factory's own modules.
    factory_modules = {"app", "app.errors", "app.extensions", "app.forms", "app.logs"}
    assert {m for m in MODULES if layer_of(m) == "app"} == factory_modules
    assert {"app.core.engine", "app.strategies.base", "app.evaluation.backtest", "app.enums"} <= set(PURE_MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_keeps_to_its_layer(module):
    assert broken_rules(module) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("app.core.engine", "def load():\n    from app.services.candles.candle_store import load_candles\n"),
        ("app.core.engine", "def load():\n    from app.services.candles import candle_store\n"),
        ("app.core.engine", "if TYPE_CHECKING:\n    from flask import Flask\n"),
        ("app.core.engine", "def db():\n    import sqlalchemy.orm\n"),
        ("app.core.engine", "def models():\n    from ..models import Candle\n"),
        ("app.core.engine", "def ext():\n    return importlib.import_module('app.extensions')\n"),
        ("app.core.levels", "from app.strategies import get_strategy\n"),
        ("app.strategies.base", "from app.evaluation.backtest import run_backtest\n"),
        ("app.models.candle", "from app.services.candles import candle_store\n"),
        ("app.routes.api.jobs", "from app.evaluation.scoring import RANKING_METRICS\n"),
        ("app.services.health", "from app.routes.guards import admin_required\n"),
    ],
)
def test_the_scan_sees_an_upward_import_wherever_it_stands(module, source):
    assert broken_rules(module, source), source
    assert broken_rules("app.core.engine", "def ok():\n    from app.core.costs import MAKER\n") == []


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) == "app.routes"])
def test_routes_never_touch_the_session(module):
    assert "db.session" not in module_path(module).read_text()


def test_the_pure_layers_load_neither_the_web_stack_nor_an_impure_module():
    # What the source scan cannot see: an import made by a third-party module, or by the app package itself.
    # One interpreter imports the pure modules in turn; the first one that pulls anything impure in is named.
    allowed = ["app", *PURE_MODULES]
    code = (
        "import importlib, json, sys\n"
        f"impure, allowed = {IMPURE_TOP_LEVEL!r}, set({allowed!r})\n"
        f"for module in {PURE_MODULES!r}:\n"
        "    importlib.import_module(module)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in impure or m.startswith('flask_')\n"
        "                 or (m.startswith('app.') and m not in allowed))\n"
        "    if bad:\n"
        "        print(json.dumps({module: bad}))\n"
        "        break\n"
        "else:\n"
        "    print('{}')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {}
