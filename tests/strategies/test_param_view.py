"""Parameter sets as a reader wants them: what differs from the declared defaults, and what a new set changes."""

from __future__ import annotations

from app.strategies import get_strategy
from app.strategies import param_view as pv


def test_only_what_differs_from_the_declared_defaults_is_a_chip():
    defaults = get_strategy("macd").space.defaults
    chips = pv.chips("macd", {**defaults, "fast": 8, "rr_target": 3.0})
    assert chips["changed"] == [("fast", "8"), ("rr_target", "3.0")]
    assert [name for name, _ in chips["all"]] == list(defaults)
    assert "slow=26" in chips["full"]


def test_a_set_of_defaults_has_no_chip():
    assert pv.chips("imbalance", get_strategy("imbalance").space.defaults)["changed"] == []
    assert pv.chips("imbalance", {})["changed"] == []


def test_a_missing_name_counts_as_its_default_in_a_diff():
    assert pv.diff("macd", None, after={"rr_target": 3.0}) == [("rr_target", "2.0", "3.0")]
    assert pv.diff("macd", {"rr_target": 3.0, "fast": 8}, after={"fast": 10}) == [
        ("fast", "8", "10"),
        ("rr_target", "3.0", "2.0"),
    ]
    assert pv.diff("macd", {"fast": 12}, after={}) == []


def test_names_the_space_does_not_declare_come_last_and_an_unknown_strategy_shows_everything():
    assert pv.non_default({"zz": 1, "fast": 8}, {"fast": 12, "slow": 26}) == [("fast", 8), ("zz", 1)]
    assert pv.chips("no-such-strategy", {"a": 1})["changed"] == [("a", "1")]
    assert pv.changes({"a": 1}, {"a": 2, "b": True}, defaults={}) == [pv.Change("a", 1, 2), pv.Change("b", None, True)]


def test_values_print_without_json_noise():
    assert [pv.show_value(v) for v in (2.0, 0.15, True, False, None, "zone_edge", 5)] == [
        "2.0",
        "0.15",
        "true",
        "false",
        "—",
        "zone_edge",
        "5",
    ]


def test_a_diff_as_one_line_for_messages():
    defaults = pv.defaults_of("imbalance")
    assert pv.diff_text("imbalance", defaults, after={**defaults, "rr_target": 3.0}) == "rr_target 2.0 -> 3.0"
    assert pv.diff_text("imbalance", defaults, after=defaults) == "no change"
