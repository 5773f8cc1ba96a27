"""The declared parameter space: validation, defaults, grids, constraints, keys, presets and the JSON schema."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from app.strategies import PATTERN, Constraint, Parameter, ParameterError, ParameterSpace, get_strategy, strategy_names
from tests.conftest import REPO_ROOT

SPACE = get_strategy("imbalance").space
DEFAULTS = {
    "rr_target": 2.0,
    "sl_buffer_pct": 10.0,
    "min_zone_pct": 0.15,
    "tp_method": "fixed_rr",
    "entry_method": "zone_edge",
    "use_overlap": True,
}


def crossover_space(**presets) -> ParameterSpace:
    """A space with a constraint between two parameters (an EMA-crossover-like fast < slow)."""
    return ParameterSpace(
        parameters=(
            Parameter("fast", "int", 10, "Fast period.", low=1, high=500),
            Parameter("slow", "int", 30, "Slow period.", low=2, high=1000),
            Parameter("mode", "choice", "close", "Price used.", choices=("close", "hl2")),
        ),
        presets=presets or {"default": {"fast": [5, 10, 20], "slow": [10, 20, 50]}, "quick": {"fast": [10]}},
        constraints=(Constraint("fast < slow", lambda p: p["fast"] < p["slow"]),),
    )


# --------------------------------------------------------------------------- one parameter set


def test_defaults_are_the_production_parameters_and_fill_missing_names():
    assert SPACE.defaults == DEFAULTS
    assert SPACE.validate(None) == SPACE.validate({}) == DEFAULTS
    assert SPACE.validate({"rr_target": 3}) == {**DEFAULTS, "rr_target": 3.0}
    assert isinstance(SPACE.validate({"rr_target": 3})["rr_target"], float)  # one canonical form: 3 becomes 3.0
    assert SPACE.names == tuple(DEFAULTS)


def test_the_three_pattern_strategies_share_one_space():
    assert strategy_names(PATTERN) == ("imbalance", "order_block", "liquidity_sweep")
    assert all(get_strategy(name).space is SPACE for name in strategy_names(PATTERN))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rr_target": 50}, "'rr_target': must be less than or equal to 20"),
        ({"rr_target": 20.0001}, "'rr_target'"),
        ({"rr_target": 0}, "'rr_target': must be greater than 0"),
        ({"rr_target": -1.5}, "'rr_target'"),
        ({"rr_target": math.nan}, "'rr_target': must be a finite number"),
        ({"rr_target": math.inf}, "'rr_target'"),
        ({"rr_target": "2"}, "'rr_target'"),
        ({"rr_target": True}, "'rr_target'"),  # a bool is not a number
        ({"sl_buffer_pct": -5}, "'sl_buffer_pct'"),
        ({"sl_buffer_pct": 201}, "'sl_buffer_pct'"),
        ({"min_zone_pct": -0.1}, "'min_zone_pct'"),
        ({"min_zone_pct": 11}, "'min_zone_pct'"),
        ({"tp_method": "moon"}, "'tp_method': must be 'fixed_rr', 'swing_target' or 'atr_multiple'"),
        ({"entry_method": "market"}, "'entry_method'"),
        ({"use_overlap": 1}, "'use_overlap': must be a valid boolean"),
        ({"use_overlap": 0}, "'use_overlap'"),
        ({"use_overlap": "true"}, "'use_overlap'"),
        ({"use_overlap": "yes"}, "'use_overlap'"),
        ({"use_overlap_detection": True}, "unknown parameter.*use_overlap_detection"),
        ({"skip_overlap": True}, "unknown parameter.*skip_overlap"),
        ({"rr": 2}, r"unknown parameter\(s\): rr \(known: rr_target,"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter(params, message):
    with pytest.raises(ParameterError, match=message):
        SPACE.validate(params)


def test_a_parameter_set_must_be_a_mapping():
    with pytest.raises(ParameterError, match="mapping"):
        SPACE.validate([("rr_target", 2.0)])
    assert issubclass(ParameterError, ValueError)  # callers that catch ValueError keep working


def test_bounds_are_inclusive_where_declared():
    assert SPACE.validate({"rr_target": 20, "sl_buffer_pct": 0, "min_zone_pct": 0})["rr_target"] == 20.0
    assert SPACE.validate({"rr_target": 0.01})["rr_target"] == 0.01


def test_bools_are_strict_and_kept_as_bools():
    assert SPACE.validate({"use_overlap": False})["use_overlap"] is False
    assert SPACE.validate({"use_overlap": True})["use_overlap"] is True


# --------------------------------------------------------------------------- grids


def test_default_preset_expands_to_960_distinct_combinations():
    grid = SPACE.preset("default")
    combos = SPACE.expand(grid)
    assert len(combos) == SPACE.grid_size(grid) == 960
    assert len({SPACE.key(c) for c in combos}) == 960
    assert combos[0] == {
        "rr_target": 1.5,
        "sl_buffer_pct": 5.0,
        "min_zone_pct": 0.1,
        "tp_method": "fixed_rr",
        "entry_method": "zone_edge",
        "use_overlap": True,
    }
    assert all(SPACE.validate(c) == c for c in combos)


def test_quick_preset_expands_to_6():
    combos = SPACE.expand(SPACE.preset("quick"))
    assert len(combos) == 6
    assert sorted((c["rr_target"], c["sl_buffer_pct"]) for c in combos) == [
        (2.0, 10.0),
        (2.0, 15.0),
        (2.5, 10.0),
        (2.5, 15.0),
        (3.0, 10.0),
        (3.0, 15.0),
    ]
    assert {(c["tp_method"], c["use_overlap"], c["min_zone_pct"]) for c in combos} == {("fixed_rr", True, 0.15)}


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ParameterError, match="unknown grid preset 'huge'.*default, quick"):
        SPACE.preset("huge")


def test_missing_grid_names_take_production_defaults():
    grid = SPACE.validate_grid({"rr_target": [2, 3]})
    assert grid["tp_method"] == ["fixed_rr"] and grid["use_overlap"] == [True] and grid["min_zone_pct"] == [0.15]
    assert grid["rr_target"] == [2.0, 3.0] and all(isinstance(v, float) for v in grid["rr_target"])
    assert list(grid) == list(SPACE.names)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "non-empty mapping"),
        ([1, 2], "non-empty mapping"),
        ({"rr": [2]}, "unknown grid parameter.*rr"),
        ({"rr_target": []}, "'rr_target' must be a non-empty list"),
        ({"rr_target": 2}, "'rr_target' must be a non-empty list"),
        ({"rr_target": ["2"]}, "'rr_target': must be a valid number"),
        ({"rr_target": [0]}, "'rr_target': must be greater than 0"),
        ({"rr_target": [2, 50]}, "'rr_target': must be less than or equal to 20"),
        ({"rr_target": [-1.5]}, "'rr_target'"),
        ({"rr_target": [float("nan")]}, "'rr_target': must be a finite number"),
        ({"sl_buffer_pct": [-5]}, "'sl_buffer_pct'"),
        ({"min_zone_pct": [True]}, "'min_zone_pct'"),
        ({"tp_method": ["moon"]}, "'tp_method'.*'moon'"),
        ({"entry_method": ["market"]}, "'entry_method'.*'market'"),
        ({"use_overlap": ["yes"]}, "'use_overlap': must be a valid boolean"),
        ({"use_overlap": [True, 1]}, "'use_overlap'"),
        ({"rr_target": [2, 2.0]}, "'rr_target' lists a value twice"),
        ({"tp_method": ["fixed_rr", "fixed_rr"]}, "'tp_method' lists a value twice"),
        ({"use_overlap": [True, True]}, "'use_overlap' lists a value twice"),
    ],
)
def test_invalid_grids_are_refused_naming_the_problem(grid, message):
    with pytest.raises(ParameterError, match=message):
        SPACE.validate_grid(grid)


def test_grid_is_capped():
    with pytest.raises(ParameterError, match="960 combinations, more than the maximum of 500"):
        SPACE.validate_grid(SPACE.presets["default"], max_combinations=500)
    assert SPACE.grid_size(SPACE.validate_grid(SPACE.presets["default"], max_combinations=960)) == 960


# --------------------------------------------------------------------------- constraints


def test_constraints_filter_expand_and_grid_size():
    space = crossover_space()
    grid = space.preset("default")
    combos = space.expand(grid)
    assert [(c["fast"], c["slow"]) for c in combos] == [(5, 10), (5, 20), (5, 50), (10, 20), (10, 50), (20, 50)]
    assert space.grid_size(grid) == len(combos) == 6  # not 3 x 3 = 9: invalid combinations are never counted
    assert space.grid_size(space.preset("quick")) == 1


def test_constraints_refuse_a_breaking_parameter_set_and_an_empty_grid():
    space = crossover_space()
    assert space.validate({"fast": 5, "slow": 8}) == {"fast": 5, "slow": 8, "mode": "close"}
    with pytest.raises(ParameterError, match="fast < slow"):
        space.validate({"fast": 30, "slow": 20})
    with pytest.raises(ParameterError, match="no combination that satisfies the constraints.*fast < slow"):
        space.validate_grid({"fast": [50, 60], "slow": [10, 20]})
    with pytest.raises(ParameterError, match="no combination that satisfies the constraints"):
        crossover_space(default={"fast": [5]}, bad={"fast": [40], "slow": [20]})


def test_ints_refuse_floats_and_choices_refuse_others():
    space = crossover_space()
    with pytest.raises(ParameterError, match="'fast'"):
        space.validate({"fast": 5.5})
    with pytest.raises(ParameterError, match="'mode'"):
        space.validate({"mode": "open"})


def test_a_declaration_must_be_valid():
    with pytest.raises(ValueError, match="kind"):
        Parameter("x", "decimal", 1, "bad kind")
    with pytest.raises(ValueError, match="choices"):
        Parameter("x", "choice", "a", "no choices")
    with pytest.raises(ParameterError, match="default 'x'"):
        ParameterSpace(parameters=(Parameter("x", "int", 0, "default outside its range", low=1),))


# --------------------------------------------------------------------------- keys


def test_canonical_key_is_stable_and_unique():
    key = SPACE.key(SPACE.defaults)
    # Pinned: runs stored under this key must be found again by later versions and other processes.
    assert key == "d2ebfbc4760482ee77da"
    assert SPACE.key(SPACE.validate({"rr_target": 2})) == SPACE.key(SPACE.validate({"rr_target": 2.0})) == key
    reordered = dict(reversed(list(SPACE.defaults.items())))
    assert SPACE.key(reordered) == key
    assert SPACE.key(SPACE.validate({"rr_target": 3})) != key
    assert SPACE.key(SPACE.validate({"use_overlap": False})) != key
    code = (
        "from app.strategies import get_strategy; s = get_strategy('imbalance').space; "
        "print(s.key(s.validate({'rr_target': 2})))"
    )
    other = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == key


# --------------------------------------------------------------------------- descriptions


def test_json_schema_and_description_come_from_the_declaration():
    schema = SPACE.model.model_json_schema()
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == list(SPACE.names)
    assert schema["properties"]["rr_target"]["maximum"] == 20.0
    assert schema["properties"]["rr_target"]["exclusiveMinimum"] == 0.0
    assert schema["properties"]["use_overlap"]["type"] == "boolean"
    assert schema["properties"]["tp_method"]["enum"] == ["fixed_rr", "swing_target", "atr_multiple"]
    info = get_strategy("order_block").describe()
    json.dumps(info, allow_nan=False)
    assert info["name"] == "order_block" and info["kind"] == PATTERN and info["entry_order"] == "maker"
    assert [p["name"] for p in info["parameters"]] == list(SPACE.names)
    assert {name: preset["size"] for name, preset in info["presets"].items()} == {"default": 960, "quick": 6}
    assert info["json_schema"] == schema
