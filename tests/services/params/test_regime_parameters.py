"""Regimes through the loop: the job reports per-regime metrics, the service serves a regime's own set only
when the job evaluated one, and the scanner trades each signal with the set of its own candle's regime."""

import json

import numpy as np
import pytest
from params_helpers import BETTER, DEFAULTS, good, stored_job
from sqlalchemy import select

from app.core.candles import read_candles_csv
from app.core.regimes import candle_regimes, current_regime
from app.errors import ValidationError
from app.evaluation.slice_eval import expand_details
from app.models import OptimizationRun, OptimizationSlice, Signal
from app.services.auto_tuner import regime_sets
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import JobRunner
from app.services.params import optimal_parameters, parameter_sets
from app.services.params.optimal_parameters import get_parameters, market_context
from app.services.scanning import signal_scanner

SLICE = {"symbol": "BTC/USDT", "timeframe": "4h", "strategy": "macd"}


@pytest.fixture
def btc_4h(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-4h.csv.gz", symbol="BTC/USDT", timeframe="4h")
    return read_candles_csv(bundled_dir / "BTC_USDT-4h.csv.gz")


def test_the_job_reports_per_regime_metrics_of_its_best_runs(db, btc_4h):
    job = jobs.create_job(
        name="regimes",
        symbols=["BTC/USDT"],
        timeframes=["4h"],
        strategies=["macd"],
        start_date="2020-01-01",
        end_date="2025-12-31",
        grids={"macd": {"rr_target": [1.5, 2.0, 3.0], "stop_value": [1.5, 2.5]}},
    )
    JobRunner(workers=1).run(job.id)
    slice_ = db.session.scalar(select(OptimizationSlice))
    best = db.session.get(OptimizationRun, slice_.best_run_id)
    regimes = slice_.checks_json["regimes"]
    assert sum(m["trades"] for m in regimes["best_run"].values()) == best.total_trades
    assert regimes["candidates"][0]["params"] == best.params and len(regimes["candidates"]) == 5
    stored_trades = expand_details(best.results_json)["trades"]
    assert len(stored_trades) == best.total_trades
    assert all(t["regime"] for t in stored_trades)
    for label, chosen in regimes["sets"].items():  # every regime set passed its own bar
        assert chosen["metrics"]["trades"] >= job.min_trades and chosen["metrics"]["expectancy_r"] > 0
        assert label != "unknown"
    assert jobs.job_report(job.id)["slices"][0]["checks"]["regimes"]["best_run"] == regimes["best_run"]


def test_market_context_is_the_newest_candles_regime(db, btc_4h):
    context = market_context("BTC/USDT", "4h")
    full = current_regime(btc_4h)
    assert {k: context[k] for k in ("regime", "volatility", "trend", "as_of")} == {
        k: full[k] for k in ("regime", "volatility", "trend", "as_of")
    }
    assert context["adx"] == pytest.approx(full["adx"], abs=1e-6)
    assert market_context("BTC/USDT", "1h")["regime"] == "unknown"  # no candles: unknown, never an error


def test_market_context_is_computed_once_per_newest_candle(db, bundled_dir, monkeypatch):
    frame = read_candles_csv(bundled_dir / "BTC_USDT-4h.csv.gz")
    candle_store.store_candles(frame.iloc[:-1], symbol="BTC/USDT", timeframe="4h")
    loads = []
    real_load = optimal_parameters.load_candles
    monkeypatch.setattr(optimal_parameters, "load_candles", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    first = market_context("BTC/USDT", "4h")
    assert market_context("BTC/USDT", "4h") == first and len(loads) == 1  # cached
    candle_store.store_candles(frame.iloc[-1:], symbol="BTC/USDT", timeframe="4h")
    newer = market_context("BTC/USDT", "4h")  # a new candle: computed again, exactly
    assert len(loads) == 2 and newer["as_of"] == frame.index[-1].isoformat()
    assert newer["regime"] == current_regime(frame)["regime"]


def _apply_with_regime(label: str, regime_params: dict) -> dict:
    sets = {label: {"params": regime_params, "position": 3, "metrics": {"trades": 40, "expectancy_r": 0.2}}}
    return parameter_sets.apply_set(
        **SLICE, params={"rr_target": 2.0}, source="manual", actor="t", reason="t", regime_sets=sets
    )


def test_the_service_serves_a_regime_set_only_for_its_regime(db, btc_4h):
    _apply_with_regime("high-trending", {"rr_target": 3.0})
    base = get_parameters(**SLICE)
    assert base.regime is None and base.params["rr_target"] == 2.0
    own = get_parameters(**SLICE, market={"regime": "high-trending"})
    assert own.regime == "high-trending" and own.params["rr_target"] == 3.0 and own.confidence["trades"] == 40
    other = get_parameters(**SLICE, market={"regime": "low-ranging"})
    assert other.regime is None and other.params["rr_target"] == 2.0


def test_current_market_and_the_get_command(db, btc_4h, runner):
    label = market_context("BTC/USDT", "4h")["regime"]
    _apply_with_regime(label, {"rr_target": 3.0})
    assert get_parameters(**SLICE, market="current").regime == label
    with pytest.raises(ValidationError, match="market"):
        get_parameters(**SLICE, market="high")
    args = ["params", "get", "BTC/USDT", "4h", "macd", "--json"]
    assert json.loads(runner.invoke(args=args).output)["params"]["rr_target"] == 3.0
    assert json.loads(runner.invoke(args=[*args, "--base"]).output)["params"]["rr_target"] == 2.0


def test_the_scanner_trades_each_signal_with_its_own_candles_regimes_set(db, btc_4h):
    label = market_context("BTC/USDT", "4h")["regime"]
    _apply_with_regime(label, get_parameters(**SLICE).params | {"rr_target": 3.0})
    signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="4h", strategy="macd")
    entered = db.session.scalars(select(Signal).where(Signal.status == "entered")).all()
    entry, stop, tp2 = (np.array([getattr(s, n) for s in entered]) for n in ("entry", "stop_loss", "tp2"))
    labels = candle_regimes(btc_4h).labels()
    at = btc_4h.index.tz_convert("UTC").tz_localize(None).get_indexer([s.signal_at for s in entered])
    expected = np.where(labels[at] == label, 3.0, 2.0)  # the regime at the signal's own candle, else the base
    assert {2.0, 3.0} <= set(expected.tolist())
    np.testing.assert_allclose(np.abs(tp2 - entry) / np.abs(entry - stop), expected)


def test_the_auto_tuner_keeps_only_regime_sets_that_differ_from_the_base(db):
    _, slice_, runs = stored_job([(BETTER, good())])
    slice_.checks_json = {
        "regimes": {
            "sets": {
                "high-trending": {"params": BETTER, "metrics": {"trades": 20, "expectancy_r": 0.1}},
                "low-ranging": {"params": DEFAULTS, "metrics": {"trades": 20, "expectancy_r": 0.1}},
            }
        }
    }
    assert set(regime_sets(slice_, runs[0])) == {"low-ranging"}
    slice_.checks_json = None
    assert regime_sets(slice_, runs[0]) is None
