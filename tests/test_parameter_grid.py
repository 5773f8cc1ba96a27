"""Grid presets, validation and expansion."""

import pytest

from app.services.parameter_grid import (
    DEFAULT_PARAMETER_GRID,
    PARAMETER_NAMES,
    QUICK_PARAMETER_GRID,
    GridError,
    expand_grid,
    grid_size,
    validate_grid,
)


def test_default_grid_expands_to_960_distinct_combinations():
    combos = expand_grid(validate_grid(DEFAULT_PARAMETER_GRID))
    assert len(combos) == grid_size(DEFAULT_PARAMETER_GRID) == 960
    assert len({tuple(c[n] for n in PARAMETER_NAMES) for c in combos}) == 960
    assert combos[0] == {
        "rr_target": 1.5,
        "sl_buffer_pct": 5.0,
        "min_zone_pct": 0.1,
        "tp_method": "fixed_rr",
        "entry_method": "zone_edge",
        "use_overlap": True,
    }


def test_quick_grid_expands_to_6():
    combos = expand_grid(validate_grid(QUICK_PARAMETER_GRID))
    assert len(combos) == 6
    assert sorted((c["rr_target"], c["sl_buffer_pct"]) for c in combos) == [
        (2.0, 10.0),
        (2.0, 15.0),
        (2.5, 10.0),
        (2.5, 15.0),
        (3.0, 10.0),
        (3.0, 15.0),
    ]


def test_missing_keys_take_production_defaults():
    grid = validate_grid({"rr_target": [2, 3]})
    assert grid["tp_method"] == ["fixed_rr"] and grid["use_overlap"] == [True] and grid["min_zone_pct"] == [0.15]
    assert grid["rr_target"] == [2.0, 3.0] and all(isinstance(v, float) for v in grid["rr_target"])


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "non-empty mapping"),
        ([1, 2], "non-empty mapping"),
        ({"rr": [2]}, "unknown grid parameter.*rr"),
        ({"rr_target": []}, "'rr_target' must be a non-empty list"),
        ({"rr_target": 2}, "'rr_target' must be a non-empty list"),
        ({"rr_target": ["2"]}, "'rr_target' takes numbers"),
        ({"rr_target": [0]}, "'rr_target' value 0 is outside"),
        ({"rr_target": [-1.5]}, "outside"),
        ({"rr_target": [float("nan")]}, "takes numbers"),
        ({"sl_buffer_pct": [-5]}, "'sl_buffer_pct' value -5 is outside"),
        ({"min_zone_pct": [True]}, "takes numbers"),
        ({"tp_method": ["moon"]}, "unknown method 'moon'"),
        ({"entry_method": ["market"]}, "unknown method 'market'"),
        ({"use_overlap": ["yes"]}, "true/false"),
        ({"rr_target": [2, 2.0]}, "twice"),
    ],
)
def test_invalid_grids_are_refused_naming_the_problem(grid, message):
    with pytest.raises(GridError, match=message):
        validate_grid(grid)


def test_grid_is_capped():
    with pytest.raises(GridError, match="960 combinations, more than the maximum of 500"):
        validate_grid(DEFAULT_PARAMETER_GRID, max_combinations=500)
    assert grid_size(validate_grid(DEFAULT_PARAMETER_GRID, max_combinations=960)) == 960
