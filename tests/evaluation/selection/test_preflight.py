"""The pre-flight warning: the best of N skill-less trials over a date range, and the minimum backtest length."""

import pytest

from app.evaluation.selection.preflight import luck_preview


def test_the_papers_example_45_trials_need_five_years_for_a_sharpe_of_one():
    preview = luck_preview(trials=45, days=5 * 365.25)
    assert preview["min_backtest_years"] == pytest.approx(5.0, abs=0.01)
    assert preview["expected_max_sharpe"] == pytest.approx(1.0, abs=0.01)  # 5 years: exactly the target
    assert "shorter" not in preview["warning"]


def test_more_trials_or_fewer_years_raise_what_luck_shows():
    base = luck_preview(trials=1000, days=4 * 365.25)
    assert luck_preview(trials=10_000, days=4 * 365.25)["expected_max_sharpe"] > base["expected_max_sharpe"]
    assert luck_preview(trials=1000, days=365.25)["expected_max_sharpe"] > base["expected_max_sharpe"]
    assert base["warning"].startswith("1,000 trials over 4.0 years") and "(this range is shorter)" in base["warning"]
    assert luck_preview(trials=1, days=30)["expected_max_sharpe"] == 0.0
