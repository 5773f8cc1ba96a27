"""The loop closed: optimize -> apply -> scan, and the stored levels follow the applied parameters."""

import numpy as np
import pytest
from sqlalchemy import delete, select

from app.core.patterns import get_detector
from app.models import OptimizationRun, Pattern, Signal
from app.services.auto_tuner import apply_best_params
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import JobRunner
from app.services.params import parameter_sets
from app.services.scanning import pattern_scanner, signal_scanner
from app.strategies import get_strategy

GRIDS = {
    "macd": {"rr_target": [2.0, 3.0], "stop_value": [1.5, 2.5]},
    "imbalance": {"rr_target": [2.0, 3.0], "sl_buffer_pct": [10.0, 20.0]},
}


@pytest.fixture
def optimized(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    job = jobs.create_job(
        name="e2e",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=list(GRIDS),
        start_date="2020-01-01",
        end_date="2025-12-31",
        grids=GRIDS,
    )
    return JobRunner(workers=1).run(job.id)


def _risk_reward(rows) -> tuple[np.ndarray, np.ndarray]:
    entry, stop, tp2 = (np.array([getattr(r, name) for r in rows]) for name in ("entry", "stop_loss", "tp2"))
    risk = np.abs(entry - stop)
    return risk, np.abs(tp2 - entry) / risk


def test_signals_follow_the_auto_tuners_applied_set(app, db, optimized):
    # What promotion does downstream, not whether it should: the gate's luck and walk-forward checks are off
    # (one small sweep on 1d candles proves nothing; tests/services/params/test_auto_tuner.py tests the gate).
    app.config.update(AUTOTUNE_MIN_DSR=0.0, AUTOTUNE_MAX_PBO=1.0, AUTOTUNE_REQUIRE_WALK_FORWARD=False)
    decisions = {d.strategy: d for d in apply_best_params(dry_run=False)}
    assert decisions["macd"].decision == "applied", decisions["macd"].reason
    applied = parameter_sets.active_set(symbol="BTC/USDT", timeframe="1d", strategy="macd")["params"]
    assert (applied["stop_value"], applied["rr_target"]) == (2.5, 3.0)  # not the defaults (1.5, 2.0)
    # Imbalance lost money after costs for every run: nothing promoted, production keeps its defaults.
    assert decisions["imbalance"].decision == "skipped" and "negative expectancy" in decisions["imbalance"].reason

    signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy="macd")
    tuned = db.session.scalars(select(Signal).where(Signal.status == "entered").order_by(Signal.signal_at)).all()
    tuned_risk, tuned_rr = _risk_reward(tuned)
    np.testing.assert_allclose(tuned_rr, 3.0)
    # Back to the defaults (a logged manual set), the same signals get the default levels.
    parameter_sets.apply_set(
        symbol="BTC/USDT", timeframe="1d", strategy="macd", params={}, source="manual", actor="t", reason="defaults"
    )
    db.session.execute(delete(Signal))
    signal_scanner.scan_signals(symbol="BTC/USDT", timeframe="1d", strategy="macd")
    default = db.session.scalars(select(Signal).where(Signal.status == "entered").order_by(Signal.signal_at)).all()
    default_risk, default_rr = _risk_reward(default)
    assert [s.signal_at for s in default] == [s.signal_at for s in tuned]
    np.testing.assert_allclose(default_rr, 2.0)
    np.testing.assert_allclose(tuned_risk / default_risk, 2.5 / 1.5)  # ATR stops: 2.5 ATR instead of 1.5


def test_patterns_follow_an_applied_run(db, optimized):
    space = get_strategy("imbalance").space
    chosen = db.session.scalar(
        select(OptimizationRun).where(
            OptimizationRun.param_key == space.key(space.validate({"rr_target": 3.0, "sl_buffer_pct": 20.0}))
        )
    )
    parameter_sets.apply_set(
        symbol="BTC/USDT",
        timeframe="1d",
        strategy="imbalance",
        params=chosen.params,
        source="run",
        job_id=chosen.job_id,
        run_id=chosen.id,
        actor="t",
        reason="chosen by hand for the test",
    )
    pattern_scanner.scan_detector(get_detector("imbalance"), symbol="BTC/USDT", timeframe="1d")
    stored = db.session.scalars(select(Pattern).where(Pattern.stop_loss.is_not(None))).all()
    assert stored
    _, rr = _risk_reward(stored)
    np.testing.assert_allclose(rr, 3.0)
    for p in stored:  # zone-edge entry, stop beyond the far edge by 20% of the zone height
        height = p.zone_high - p.zone_low
        far = p.zone_low - 0.2 * height if p.direction == "bullish" else p.zone_high + 0.2 * height
        assert p.stop_loss == pytest.approx(far)
