"""Declared parameter spaces: the one parameter model of every strategy (pure: no Flask, no SQLAlchemy).

A strategy declares its parameters once (``Parameter``: type, allowed values
or range, default, description) in a ``ParameterSpace`` with its named grid
presets and its constraints between parameters (e.g. ``fast < slow``). Every
consumer derives from it: single parameter sets and grids are validated here
(for the CLI, the optimizer, the web and the API alike), grids expand here
(invalid combinations are never produced or counted), runs are keyed here,
the stability score finds grid neighbours here, and the API's JSON schema is
the pydantic model built here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, create_model
from pydantic import ValidationError as PydanticValidationError

KINDS = ("float", "int", "choice", "bool")


class ParameterError(ValueError):
    """A parameter set or grid does not fit the declared space; the message names the parameter."""


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: ``kind`` is float, int, choice or bool.

    Numbers take ``low``/``high`` bounds (``low_inclusive`` False makes the low
    bound exclusive); choices take ``choices``. Floats are stored as floats
    (2 becomes 2.0) so a parameter set has one canonical form.
    """

    name: str
    kind: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: kind must be one of {', '.join(KINDS)}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"parameter {self.name}: a choice needs choices")

    @property
    def ordered(self) -> bool:
        """Numbers have neighbours on a line; every other value of a choice or bool is one step away."""
        return self.kind in ("float", "int")

    def annotation(self) -> Any:
        """Return the pydantic type of this parameter (bounds and choices included)."""
        if self.kind == "choice":
            return Literal[self.choices]
        if self.kind == "bool":
            return Annotated[bool, Field(strict=True)]
        bounds: dict[str, Any] = {"le": self.high} if self.high is not None else {}
        if self.low is not None:
            bounds["ge" if self.low_inclusive else "gt"] = self.low
        base = float if self.kind == "float" else int
        return Annotated[base, Field(strict=True, allow_inf_nan=False, **bounds)]

    @cached_property
    def _adapter(self) -> TypeAdapter:
        return TypeAdapter(self.annotation())

    def check(self, value: Any, *, where: str = "parameter") -> Any:
        """Return ``value`` in canonical form or raise ParameterError naming the parameter."""
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        try:
            checked = self._adapter.validate_python(value)
        except PydanticValidationError as exc:
            raise ParameterError(f"{where} '{self.name}': {_first_message(exc)}, got {value!r}") from None
        return float(checked) if self.kind == "float" else checked

    def describe(self) -> dict[str, Any]:
        """Return the declaration as JSON-safe data (for the API, the CLI and the dashboard's forms)."""
        info: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default}
        info["description"] = self.description
        if self.kind == "choice":
            info["choices"] = list(self.choices)
        if self.low is not None:
            info["low"], info["low_inclusive"] = self.low, self.low_inclusive
        if self.high is not None:
            info["high"] = self.high
        return info


@dataclass(frozen=True)
class Constraint:
    """A rule between parameters that every valid set satisfies (e.g. ``fast < slow``)."""

    description: str
    holds: Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class ParameterSpace:
    """A strategy's parameters, grid presets (``default`` and ``quick`` at least) and constraints."""

    parameters: tuple[Parameter, ...]
    presets: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        for name, grid in self.presets.items():
            if not self.expand(self.validate_grid(grid)):
                raise ValueError(f"preset {name!r} has no valid combination")
        for param in self.parameters:
            param.check(param.default, where="default")

    # ------------------------------------------------------------------ declarations

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def defaults(self) -> dict[str, Any]:
        """Production's parameters until tuned ones replace them."""
        return {p.name: p.check(p.default) for p in self.parameters}

    def parameter(self, name: str) -> Parameter:
        for param in self.parameters:
            if param.name == name:
                return param
        raise ParameterError(f"unknown parameter {name!r} (known: {', '.join(self.names)})")

    def preset(self, name: str) -> dict[str, list[Any]]:
        """Return the named grid (ParameterError naming the known presets)."""
        try:
            return self.validate_grid(self.presets[name])
        except KeyError:
            raise ParameterError(f"unknown grid preset {name!r} (known: {', '.join(self.presets)})") from None

    def describe(self) -> dict[str, Any]:
        """Return parameters, constraints, presets and their sizes as JSON-safe data."""
        return {
            "parameters": [p.describe() for p in self.parameters],
            "constraints": [c.description for c in self.constraints],
            # A preset names only what it varies: size the grid with the defaults filled in.
            "presets": {
                name: {"grid": grid, "size": self.grid_size(self.preset(name))} for name, grid in self.presets.items()
            },
            "json_schema": self.model.model_json_schema(),
        }

    def _full_presets(self):
        return ((name, self.preset(name)) for name in self.presets)

    @cached_property
    def model(self) -> type:
        """A pydantic model of one parameter set (unknown fields forbidden): the API's schema comes from it."""
        fields = {p.name: (p.annotation(), Field(p.default, description=p.description)) for p in self.parameters}
        return create_model("Parameters", __config__=ConfigDict(extra="forbid"), **fields)

    # ------------------------------------------------------------------ validation

    def validate(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Return one parameter set in canonical form, missing names filled with defaults.

        Raises ParameterError naming the unknown, invalid or conflicting parameter.
        """
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ParameterError(f"parameters must be a mapping of name to value, got {type(params).__name__}")
        self._refuse_unknown(params, "parameter")
        merged = {**self.defaults, **params}
        checked = {p.name: p.check(merged[p.name]) for p in self.parameters}
        for constraint in self.constraints:
            if not constraint.holds(checked):
                raise ParameterError(f"parameters break the constraint {constraint.description}: {checked}")
        return checked

    def validate_grid(self, grid: dict[str, Any], *, max_combinations: int | None = None) -> dict[str, list[Any]]:
        """Return ``grid`` normalised (every name present, canonical values, no duplicates) or raise.

        A name left out takes its default, so a custom grid names only what it varies.
        """
        if not isinstance(grid, dict) or not grid:
            raise ParameterError("parameter grid must be a non-empty mapping of parameter name to list of values")
        self._refuse_unknown(grid, "grid parameter")
        normalised = {}
        for param in self.parameters:
            values = grid.get(param.name, [param.default])
            if not isinstance(values, list | tuple) or not values:
                raise ParameterError(f"grid parameter '{param.name}' must be a non-empty list")
            checked = [param.check(value, where="grid parameter") for value in values]
            if len(set(map(_hashable, checked))) != len(checked):
                raise ParameterError(f"grid parameter '{param.name}' lists a value twice: {list(values)}")
            normalised[param.name] = checked
        size = self.grid_size(normalised)
        if size == 0:
            rules = "; ".join(c.description for c in self.constraints)
            raise ParameterError(f"grid has no combination that satisfies the constraints ({rules})")
        if max_combinations is not None and size > max_combinations:
            raise ParameterError(f"grid has {size} combinations, more than the maximum of {max_combinations}")
        return normalised

    def _refuse_unknown(self, mapping: dict[str, Any], what: str) -> None:
        unknown = sorted(set(mapping) - set(self.names), key=str)
        if unknown:
            raise ParameterError(f"unknown {what}(s): {', '.join(map(str, unknown))} (known: {', '.join(self.names)})")

    # ------------------------------------------------------------------ grids and keys

    def expand(self, grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """Return every valid combination of a validated grid, in a stable order (names, then value lists)."""
        combos = (dict(zip(self.names, values, strict=True)) for values in itertools.product(*grid.values()))
        return [combo for combo in combos if all(c.holds(combo) for c in self.constraints)]

    def grid_size(self, grid: dict[str, list[Any]]) -> int:
        """Return how many valid combinations ``grid`` expands to (constraints applied)."""
        if not self.constraints:
            return math.prod(len(grid[name]) for name in self.names)
        return len(self.expand(grid))

    def key(self, params: dict[str, Any]) -> str:
        """Return the canonical key of a parameter set: unique per set, stable across processes and databases."""
        canonical = json.dumps([params[name] for name in self.names], separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=10).hexdigest()

    def neighbours_axes(self) -> list[tuple[str, bool]]:
        """Return (name, ordered) per parameter: what a one-step grid neighbour means for each."""
        return [(p.name, p.ordered) for p in self.parameters]


def _hashable(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def _first_message(exc: PydanticValidationError) -> str:
    error = exc.errors()[0]
    return str(error["msg"]).replace("Input should be", "must be").replace("Input", "value")
