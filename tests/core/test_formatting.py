"""The one formatting rule of every page: prices, percentages, R, numbers, durations."""

from __future__ import annotations

import math

import pytest

from app.core import formatting as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (97123.456, "97,123.46"),
        (612.3, "612.30"),
        (2.25523, "2.2552"),
        (0.51234567, "0.51235"),
        (0.0000123456, "0.000012346"),
        (-3.5, "-3.5000"),
        (0.0, "0.00"),
    ],
)
def test_a_price_keeps_five_significant_digits_and_at_least_two_decimals(value, text):
    assert fmt.price(value) == text


def test_a_tick_size_fixes_the_decimals():
    assert fmt.price(2.255231, tick=0.0001) == "2.2552"
    assert fmt.price(97123.4, tick=0.01) == "97,123.40"
    assert fmt.price(97123.4, tick=1) == "97,123"
    assert fmt.price_decimals(1.0, tick=1e-8) == 8


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_a_missing_value_prints_as_a_dash(missing):
    for formatter in (fmt.price, fmt.pct, fmt.rate, fmt.r_multiple, fmt.number, fmt.duration):
        assert formatter(missing) == fmt.MISSING


def test_percentages_have_their_unit_and_a_change_its_sign():
    assert fmt.pct(12.3) == "+12.30%"
    assert fmt.pct(-0.4) == "-0.40%"
    assert fmt.pct(0) == "+0.00%"
    assert fmt.pct(-99.934, digits=1) == "-99.9%"
    assert fmt.pct(1234.5) == "+1,234.50%"
    assert fmt.rate(55) == "55.0%"


def test_r_multiples_have_sign_and_unit():
    assert fmt.r_multiple(0.4234) == "+0.42 R"
    assert fmt.r_multiple(-1) == "-1.00 R"


def test_numbers_separate_thousands_and_keep_integers_whole():
    assert fmt.number(57600) == "57,600"
    assert fmt.number(1.23456) == "1.23"
    assert fmt.number(0.5, digits=3) == "0.500"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45.9, "45 s"),
        (60, "1 min"),
        (754, "12 min 34 s"),
        (19_200, "5 h 20 min"),
        (3 * 86400, "3 d"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
        (-5, "0 s"),
    ],
)
def test_durations_print_their_two_largest_units(seconds, text):
    assert fmt.duration(seconds) == text


def test_each_metric_prints_by_its_own_rule():
    assert fmt.metric("total_profit_pct", -99.934) == "-99.93%"
    assert fmt.metric("win_rate", 41.25) == "41.2%"
    assert fmt.metric("max_drawdown", 12.34) == "12.3%"
    assert fmt.metric("expectancy_r", 0.1) == "+0.10 R"
    assert fmt.metric("total_trades", 57) == "57"
    assert fmt.metric("avg_trade_duration", 5.5) == "5 h 30 min"
    assert fmt.metric("something_new", 1.5) == "1.50"
    assert fmt.metric_label("total_profit_pct") == "Profit" and fmt.metric_label("something_new") == "something_new"
