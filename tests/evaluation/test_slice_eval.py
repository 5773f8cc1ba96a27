"""The pure slice work: compact storage of the best run, the timing split, Monte Carlo on arrays."""

import json

import numpy as np
import pytest

from app.core.candles import read_candles_csv
from app.core.costs import CostModel
from app.core.patterns import PatternArrays
from app.evaluation import slice_eval as worker
from app.evaluation.backtest import run_backtest
from app.evaluation.validation import monte_carlo_returns, monte_carlo_simulation
from app.strategies import get_strategy, smart_money


@pytest.fixture
def candles(bundled_dir):
    return read_candles_csv(bundled_dir / "BTC_USDT-4h.csv.gz")


def _task(candles, strategy="imbalance", **overrides):
    space = get_strategy(strategy).space
    grid = space.validate_grid({"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15]})
    args = dict(
        symbol="BTC/USDT",
        timeframe="4h",
        strategy=strategy,
        candles=candles,
        combinations=space.expand(grid),
        costs=CostModel(),
        ranking_metric="composite_score",
        min_trades=10,
        monte_carlo=True,
        seed=3,
    )
    return worker.SliceTask(**{**args, **overrides})


@pytest.mark.parametrize("cap", [5, 100_000])
def test_compact_details_expand_to_what_a_full_backtest_shows(candles, monkeypatch, cap):
    monkeypatch.setattr(worker, "MAX_STORED_TRADES", cap)  # 5: trades and curve cut; 100,000: all kept
    task = _task(candles)
    result = worker.evaluate_slice(task)
    assert result.error is None
    full = run_backtest(candles, strategy="imbalance", params=task.combinations[result.best_position])
    stored = json.loads(json.dumps(result.best_result))  # what the database gives back
    expanded = worker.expand_details(stored)
    # The stored trades also carry the regime of their signal bar (regime_evaluation); the rest is the backtest's.
    assert all(trade.pop("regime") for trade in expanded["trades"])
    assert expanded == worker.stored_details(full)
    assert len(json.dumps(stored)) < len(json.dumps(worker.stored_details(full)))
    assert worker.expand_details(worker.stored_details(full)) == worker.stored_details(full)  # the old format


def test_slice_reports_kernel_and_cpu_time_and_ready_rows(candles):
    task = _task(candles)
    result = worker.evaluate_slice(task)
    assert 0 < result.kernel_seconds <= result.cpu_seconds
    rows = worker.grid_rows(get_strategy("imbalance").space, task.combinations)
    assert result.param_keys == list(rows.param_keys)
    assert [json.loads(p) for p in result.params_json] == task.combinations
    assert worker.evaluate_slice(_task(candles, rows=rows)).params_json == result.params_json


def test_monte_carlo_on_arrays_is_the_simulation_of_the_trades():
    r = np.random.default_rng(0).choice([-1.0, 0.0, 2.0], size=300)
    trades = [{"r_multiple": float(x), "return_pct": float(x) * 0.5} for x in r]
    for method in ("shuffle", "bootstrap"):
        expected = monte_carlo_simulation(trades, 200, method=method, seed=5)
        assert monte_carlo_returns(r, r * 0.5, n_simulations=200, method=method, seed=5) == expected
    with pytest.raises(ValueError, match="finite"):
        monte_carlo_returns(np.array([1.0, np.nan]), np.array([1.0, 1.0]))


def test_the_lookahead_check_key_changes_with_code_candles_and_nothing_else(candles, monkeypatch):
    fingerprint = worker.candles_fingerprint(candles)
    key = worker.lookahead_check_key("order_block", fingerprint)
    assert worker.lookahead_check_key("order_block", fingerprint) == key  # an identical check
    assert worker.lookahead_check_key("imbalance", fingerprint) != key
    assert worker.lookahead_check_key("order_block", worker.candles_fingerprint(candles.iloc[:-1])) != key
    strategy = type(get_strategy("order_block"))
    monkeypatch.setattr(strategy, "code_version", lambda self: "0" * 16)
    assert worker.lookahead_check_key("order_block", fingerprint) != key
    monkeypatch.undo()
    monkeypatch.setattr(worker, "LOOKAHEAD_CUTS", 11)  # the guard's settings count too
    assert worker.lookahead_check_key("order_block", fingerprint) != key


def test_the_lookahead_seed_is_a_function_of_the_candles(candles):
    fingerprint = worker.candles_fingerprint(candles)
    assert worker.lookahead_seed(fingerprint) == worker.lookahead_seed(fingerprint) >= 0
    assert worker.lookahead_seed(fingerprint) != worker.lookahead_seed(worker.candles_fingerprint(candles.iloc[:-1]))


def test_the_guard_checks_smart_money_confirmation_too(candles, monkeypatch):
    honest = smart_money.production_zones

    def peeking(market, pattern_type):  # dates every zone 3 bars earlier than it was known: a lookahead
        zones, end = honest(market, pattern_type)
        early = PatternArrays(np.maximum(zones.index - 3, 0), zones.direction, zones.zone_low, zones.zone_high)
        return early, end

    task = worker.SliceTask(**{**vars(_task(candles)), "strategy": "macd", "combinations": [{}]})
    assert worker.lookahead_verdict(task, seed=1)["status"] == "ok"
    monkeypatch.setattr(smart_money, "production_zones", peeking)
    verdict = worker.lookahead_verdict(task, seed=1)
    assert verdict["status"] == "violated"
    assert all(v.startswith("with {'smart_money': 'any'") for v in verdict["violations"])
