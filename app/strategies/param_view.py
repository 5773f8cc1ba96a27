"""A parameter set as a reader wants it: what differs from the strategy's defaults, and what a new set changes (pure).

The defaults are the strategy's declared ``ParameterSpace`` defaults (never
repeated here), so a chip list shows what a set *chose*: ``rr_target 3`` rather
than nine names of which eight are the defaults. The pages render these with
the macros in ``app/templates/_params.html``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from app.strategies import get_strategy


class Change(NamedTuple):
    """One parameter a new set changes: ``rr_target 2.0 -> 3.0`` (None: the name was absent on that side)."""

    name: str
    before: Any
    after: Any


def show_value(value: Any) -> str:
    """A parameter value as chips print it: ``2.0``, ``true``, ``zone_edge`` (no quotes, no JSON noise)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float: 2.0, 0.15, 1e-05
    return "—" if value is None else str(value)


def defaults_of(strategy: str) -> dict[str, Any]:
    """The strategy's declared defaults, in its declared order ({} for a strategy no longer registered)."""
    try:
        return get_strategy(strategy).space.defaults
    except ValueError:
        return {}


def non_default(params: dict[str, Any] | None, defaults: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (name, value) pairs of ``params`` that differ from ``defaults``: declared order first, unknown names last."""
    params = params or {}
    order = [n for n in defaults if n in params] + sorted(n for n in params if n not in defaults)
    return [(n, params[n]) for n in order if n not in defaults or params[n] != defaults[n]]


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None, *, defaults: dict[str, Any]) -> list[Change]:
    """What replacing ``before`` with ``after`` changes; a name missing on one side counts as its default."""
    before, after = {**defaults, **(before or {})}, {**defaults, **(after or {})}
    order = list(defaults) + sorted(n for n in {*before, *after} if n not in defaults)
    return [Change(n, before.get(n), after.get(n)) for n in order if before.get(n) != after.get(n)]


def chips(strategy: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """What the chip macro renders: {changed: [(name, text)], all: [(name, text)], full: 'a=1, b=2'}."""
    defaults = defaults_of(strategy)
    every = [(n, show_value(v)) for n, v in {**defaults, **(params or {})}.items()]
    return {
        "changed": [(n, show_value(v)) for n, v in non_default(params, defaults)],
        "all": every,
        "full": ", ".join(f"{n}={text}" for n, text in every),
    }


def diff(strategy: str, before: dict[str, Any] | None, *, after: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """What the diff macro renders: [(name, before text, after text)] of the changed parameters."""
    return [
        (c.name, show_value(c.before), show_value(c.after))
        for c in changes(before, after, defaults=defaults_of(strategy))
    ]


def diff_text(strategy: str, before: dict[str, Any] | None, *, after: dict[str, Any] | None) -> str:
    """``diff`` as one line for a message: ``rr_target 2.0 -> 3.0, sl_buffer_pct 10 -> 15`` (or ``no change``)."""
    changed = diff(strategy, before, after=after)
    return ", ".join(f"{name} {old} -> {new}" for name, old, new in changed) or "no change"
