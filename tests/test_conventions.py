"""Conventions the code keeps (docs/design-rules.md#conventions), checked over the source so new code is covered.

- Public functions take at most two positional parameters; the rest are
  keyword-only, so a call reads what it passes and two same-typed arguments
  (symbol, timeframe, strategy) cannot silently trade places. The OHLC
  arrays (``open_, high, low, close``) do not count: their order is the
  market's own. Click commands are called by click with keywords and are
  exempt by rule; ``SIGNATURES_OF_OTHERS`` lists the few signatures another
  party fixes.
- Every link in README.md and docs/ resolves, anchors included, and so does
  every ``docs/...md#anchor`` a docstring cites.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

OHLC = {"open_", "high", "low", "close"}
MAX_POSITIONAL = 2
SIGNATURES_OF_OTHERS = {
    # the first design document's public names, as it writes them
    "app/services/backtester_v2.py:run_backtest_v2",
    "app/services/optimizer/seed_facade.py:ParameterOptimizer.create_job",
    "app/services/optimizer/seed_facade.py:ParameterOptimizer.get_best_params",
    "app/services/optimizer/seed_facade.py:ParameterOptimizer.compare_params",
    "app/evaluation/validation/monte_carlo.py:monte_carlo_simulation",
    # Alembic calls this hook positionally
    "app/models/trading_script.py:include_in_autogenerate",
}


def _is_click_command(node: ast.FunctionDef) -> bool:
    return any(".command(" in ast.unparse(d) or ast.unparse(d).endswith(".command") for d in node.decorator_list)


def _positional(node: ast.FunctionDef, *, in_class: bool) -> list[str]:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    if in_class and names and names[0] in ("self", "cls"):
        names = names[1:]
    return [n for n in names if n not in OHLC]


def _public_functions(tree: ast.AST, prefix: str = "", in_class: bool = False):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from _public_functions(node, f"{prefix}{node.name}.", True)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node, in_class


def too_many_positionals() -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / "app").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        for name, node, in_class in _public_functions(ast.parse(path.read_text())):
            if f"{relative}:{name}" in SIGNATURES_OF_OTHERS or _is_click_command(node):
                continue
            positional = _positional(node, in_class=in_class)
            if len(positional) > MAX_POSITIONAL:
                found.append(f"{relative}:{node.lineno} {name}({', '.join(positional)})")
    return found


def test_public_functions_take_at_most_two_positional_parameters():
    assert too_many_positionals() == [], "make the parameters after the second keyword-only (add `*,`)"


def test_the_exceptions_still_exist():
    # A stale exception would hide a new function of the same name.
    for entry in SIGNATURES_OF_OTHERS:
        relative, name = entry.split(":")
        names = {n for n, _, _ in _public_functions(ast.parse((REPO_ROOT / relative).read_text()))}
        assert name in names, entry


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(), flags=re.S)  # a '#' in a code block is no heading
    return {_anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("markdown", DOCS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_link_in_the_docs_resolves(markdown: Path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", markdown.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (markdown.parent / path) if path else markdown
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []


def test_every_docs_anchor_the_code_cites_exists():
    cited = set()
    for folder in ("app", "tests", "tools", "scripts"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            cited |= set(re.findall(r"docs/([a-z-]+\.md)#([a-z0-9-]+)", path.read_text()))
    assert cited, "the docstrings cite the design rules by anchor"
    missing = {f"{doc}#{anchor}" for doc, anchor in cited if anchor not in anchors(REPO_ROOT / "docs" / doc)}
    assert missing == set()
