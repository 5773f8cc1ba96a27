"""History replay: steps give the outcomes of one scan of all, reconcile exactly; a re-run changes nothing; a set
with regime sets trades each setup with its own candle's regime, whatever the steps."""

from collections import Counter

import pandas as pd
import pytest
from sqlalchemy import delete, inspect, select

from app.core.candles import read_candles_csv
from app.core.costs import TAKER
from app.core.patterns import get_detector
from app.core.regimes import candle_regimes
from app.errors import AppError
from app.models import Pattern, ProductionParameterSet, SetupOutcome, Signal
from app.services.candles import candle_store
from app.services.outcomes import reconciliation, replay
from app.services.params import parameter_sets
from app.services.scanning import pattern_scanner, signal_scanner
from app.strategies import PATTERN, get_strategy, strategy_names

FIELDS = (
    "setup_kind",
    "detected_at",
    "direction",
    "params_source",
    "parameter_set_id",
    "entry",
    "stop",
    "target",
    "state",
    "filled_at",
    "exited_at",
    "exit_price",
    "exit_reason",
    "r_multiple",
    "bars_held",
)
SLICE = {"symbol": "BTC/USDT", "timeframe": "1d"}


@pytest.fixture
def btc_daily(db, bundled_dir):
    candles = read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz")
    candle_store.store_candles(candles, **SLICE)
    return candles


def _outcomes(db, strategy: str, *, with_params: bool = False) -> list[tuple]:
    rows = db.session.scalars(
        select(SetupOutcome).where(SetupOutcome.strategy == strategy).order_by(SetupOutcome.detected_at)
    )
    fields = (*FIELDS, "params") if with_params else FIELDS
    return [tuple(getattr(r, name) for name in fields) for r in rows]


def _patterns(db) -> list[tuple]:
    rows = db.session.scalars(select(Pattern).order_by(Pattern.pattern_type, Pattern.detected_at, Pattern.direction))
    return [(p.pattern_type, p.detected_at, p.direction, p.status, p.status_changed_at, p.entry) for p in rows]


def _clear(db) -> None:
    for model in (SetupOutcome, Pattern, Signal):
        db.session.execute(delete(model))
    db.session.commit()


def _scan_all(strategy: str) -> None:
    if get_strategy(strategy).kind == PATTERN:
        pattern_scanner.scan_detector(get_detector(strategy), **SLICE)
    else:
        signal_scanner.scan_signals(**SLICE, strategy=strategy)


@pytest.mark.parametrize("strategy", strategy_names())
def test_replay_in_steps_equals_one_scan_reconciles_and_reruns_to_the_same(db, btc_daily, strategy):
    start = btc_daily.index[len(btc_daily) // 2]
    report = replay.replay(**SLICE, start=start.isoformat(), strategies=[strategy], step=5)
    assert report.steps == -(-(len(btc_daily) - len(btc_daily) // 2) // 5)
    stepped = _outcomes(db, strategy)
    assert len(stepped) > 10 and {"closed"} <= {row[8] for row in stepped}
    check = reconciliation.reconcile(**SLICE, strategy=strategy)
    assert check["identical"], check["first_mismatch"]
    assert check["compared"] == len(stepped)
    # Again (also in other steps): the same rows.
    patterns = _patterns(db)
    for step in (5, 17):
        replay.replay(**SLICE, start=start.isoformat(), strategies=[strategy], step=step)
        assert _outcomes(db, strategy) == stepped
        assert _patterns(db) == patterns
    # One scan of every candle from scratch: the same outcomes.
    _clear(db)
    _scan_all(strategy)
    assert _outcomes(db, strategy) == stepped


def test_each_step_trades_the_set_applied_by_then(db, btc_daily):
    middle = btc_daily.index[len(btc_daily) // 2].tz_localize(None).to_pydatetime()
    applied = parameter_sets.apply_set(
        **SLICE,
        strategy="imbalance",
        params={"rr_target": 3.0, "sl_buffer_pct": 20.0},
        source="manual",
        actor="test",
        reason="test",
    )
    row = db.session.get(ProductionParameterSet, applied["id"])
    row.applied_at = middle
    db.session.commit()
    replay.replay(**SLICE, start=btc_daily.index[len(btc_daily) // 4].isoformat(), strategies=["imbalance"], step=10)
    rows = list(db.session.scalars(select(SetupOutcome).order_by(SetupOutcome.detected_at)))
    sources = {r.params_source for r in rows}
    assert sources == {"default", "production"}
    assert all(r.parameter_set_id == applied["id"] for r in rows if r.params_source == "production")
    check = reconciliation.reconcile(**SLICE, strategy="imbalance")
    assert check["compared"] == len(rows) and len(check["sets"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbol": "NOPE/USDT", "timeframe": "1d", "start": "2020-01-01"}, "unknown symbol"),
        ({"symbol": "BTC/USDT", "timeframe": "7x", "start": "2020-01-01"}, "timeframe"),
        ({"symbol": "BTC/USDT", "timeframe": "1d", "start": "not-a-date"}, "not a date"),
        ({"symbol": "BTC/USDT", "timeframe": "1d", "start": "2021-01-01", "end": "2020-01-01"}, "before"),
        ({"symbol": "BTC/USDT", "timeframe": "1d", "start": "2020-01-01", "step": 0}, "step"),
        ({"symbol": "BTC/USDT", "timeframe": "1d", "start": "2020-01-01", "strategies": ["nope"]}, "nope"),
        ({"symbol": "BTC/USDT", "timeframe": "1d", "start": "2099-01-01"}, "no stored candles"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(db, btc_daily, kwargs, message):
    symbol, timeframe = kwargs.pop("symbol"), kwargs.pop("timeframe")
    with pytest.raises(AppError, match=message):
        replay.replay(symbol, timeframe, **kwargs)
    assert db.session.scalar(select(SetupOutcome.id).limit(1)) is None


def test_a_reconciliation_window_with_an_offset_is_the_same_utc_window(db, btc_daily):
    start = btc_daily.index[len(btc_daily) // 2]
    replay.replay(**SLICE, start=start.isoformat(), strategies=["imbalance"], step=25)
    utc = reconciliation.reconcile(**SLICE, strategy="imbalance", start=start.isoformat())
    shifted = start.tz_convert("Etc/GMT-2").isoformat()  # the same instant written at +02:00
    assert reconciliation.reconcile(**SLICE, strategy="imbalance", start=shifted) == utc
    with pytest.raises(AppError, match="not a date"):
        reconciliation.reconcile(**SLICE, strategy="imbalance", start="not-a-date")


REGIME_CHANGES = {  # per strategy: what its regime sets change (detection and levels)
    "imbalance": {"rr_target": 3.0, "min_zone_pct": 0.3},
    "order_block": {"rr_target": 3.0, "min_zone_pct": 0.3},
    "liquidity_sweep": {"rr_target": 3.0, "sl_buffer_pct": 20.0},
    "ema_cross": {"rr_target": 3.0, "stop_value": 2.5},
    "macd": {"fast": 8, "slow": 21, "rr_target": 3.0},
}


def _apply_regime_set(db, candles, strategy: str, *, applied_at) -> dict:
    """Apply a set whose two most frequent regimes after ``applied_at`` have their own sets (one each)."""
    labels = candle_regimes(candles).labels()
    later = labels[candles.index.tz_convert("UTC").tz_localize(None) > applied_at]
    common = [label for label, _ in Counter(later.tolist()).most_common() if label != "unknown"][:2]
    base = parameter_sets.default_params(strategy)
    sets = {
        common[0]: {"params": base | REGIME_CHANGES[strategy], "metrics": {"trades": 40, "expectancy_r": 0.2}},
        common[1]: {"params": base | {"rr_target": 1.5}, "metrics": {"trades": 40, "expectancy_r": 0.1}},
    }
    applied = parameter_sets.apply_set(
        **SLICE, strategy=strategy, params=base, source="manual", actor="test", reason="test", regime_sets=sets
    )
    db.session.get(ProductionParameterSet, applied["id"]).applied_at = applied_at
    db.session.commit()
    return {label: chosen["params"] for label, chosen in sets.items()} | {None: base}


@pytest.mark.parametrize("strategy", strategy_names())
def test_a_set_with_regime_sets_trades_each_setup_with_its_own_candles_regime_in_any_steps(db, btc_daily, strategy):
    start = btc_daily.index[len(btc_daily) // 2]
    applied_at = (start - pd.Timedelta(minutes=1)).tz_localize(None).to_pydatetime()
    by_label = _apply_regime_set(db, btc_daily, strategy, applied_at=applied_at)
    stepped = {}
    for step in (6, 25):
        _clear(db)
        replay.replay(**SLICE, start=start.isoformat(), strategies=[strategy], step=step)
        stepped[step] = _outcomes(db, strategy, with_params=True)
        check = reconciliation.reconcile(**SLICE, strategy=strategy, start=start.isoformat())
        assert check["identical"], check["first_mismatch"]
        assert check["compared"] == sum(row[1] >= applied_at for row in stepped[step])
    assert stepped[6] == stepped[25]
    # Every set-produced setup carries the parameters of the regime at its own detection candle.
    labels = pd.Series(candle_regimes(btc_daily).labels(), index=btc_daily.index.tz_convert("UTC").tz_localize(None))
    traded = [(row[1], row[-1]) for row in stepped[6] if row[4] is not None]
    assert len(traded) > 10
    for detected_at, params in traded:
        assert params == by_label.get(labels[detected_at], by_label[None])
    assert len({repr(sorted(p.items())) for _, p in traded}) == 3  # the base and both regime sets traded
    # A setup stored with another regime's parameters is a difference, even where its outcome is the same.
    row = db.session.scalar(
        select(SetupOutcome)
        .where(SetupOutcome.strategy == strategy, SetupOutcome.detected_at >= applied_at)
        .order_by(SetupOutcome.detected_at)
        .limit(1)
    )
    other = next(p for p in by_label.values() if p != row.params)
    row.params = dict(other)
    db.session.commit()
    check = reconciliation.reconcile(**SLICE, strategy=strategy, start=start.isoformat())
    assert check["compared"] - check["matched"] == 1 and set(check["first_mismatch"]["fields"]) == {"params"}


def _stored(db, strategy: str) -> dict[str, list[tuple]]:
    """Every row the replay writes for ``strategy``, field by field (not ``updated_at``: the wall clock)."""
    patterns = db.session.scalars(
        select(Pattern).where(Pattern.pattern_type == strategy).order_by(Pattern.detected_at, Pattern.direction)
    )
    signals = db.session.scalars(
        select(Signal).where(Signal.strategy == strategy).order_by(Signal.signal_at, Signal.direction)
    )
    outcomes = db.session.scalars(
        select(SetupOutcome).where(SetupOutcome.strategy == strategy).order_by(SetupOutcome.detected_at)
    )
    levels = ("entry", "stop_loss", "tp1", "tp2", "tp3")
    return {
        "patterns": [
            (
                p.detected_at,
                p.direction,
                p.zone_low,
                p.zone_high,
                p.status,
                p.status_changed_at,
                *(getattr(p, n) for n in levels),
            )
            for p in patterns
        ],
        "signals": [(s.signal_at, s.direction, s.status, *(getattr(s, n) for n in levels)) for s in signals],
        "outcomes": [(*(getattr(r, n) for n in FIELDS), r.params, r.costs, r.max_wait_bars) for r in outcomes],
    }


def _scan_every_step(strategy: str, *, start: str, step: int) -> None:
    """The replay before it skipped steps: every step a production scan of all candles up to then."""
    stamps = candle_store.load_candles(**SLICE).index
    ends = replay.step_ends(stamps, start=pd.Timestamp(start), end=stamps[-1], step=step)
    for until in ends.tz_convert("UTC").tz_localize(None).to_pydatetime():
        if get_strategy(strategy).kind == PATTERN:
            pattern_scanner.scan_detector(get_detector(strategy), **SLICE, until=until)
        else:
            signal_scanner.scan_signals(**SLICE, strategy=strategy, until=until)


@pytest.mark.parametrize("strategy", strategy_names())
def test_the_replay_stores_what_a_scan_at_every_step_stores_across_a_set_change(db, btc_daily, strategy):
    space = get_strategy(strategy).space
    params = space.expand(space.preset("default"))[-1]
    assert params != space.defaults
    applied = parameter_sets.apply_set(
        **SLICE, strategy=strategy, params=params, source="manual", actor="test", reason="test"
    )
    row = db.session.get(ProductionParameterSet, applied["id"])
    row.applied_at = btc_daily.index[(2 * len(btc_daily)) // 3].tz_localize(None).to_pydatetime()
    db.session.commit()
    start = btc_daily.index[len(btc_daily) // 3].isoformat()
    report = replay.replay(**SLICE, start=start, strategies=[strategy], step=3)
    replayed = _stored(db, strategy)
    assert report.scans[strategy] < report.steps
    assert {r[3] for r in replayed["outcomes"]} == {"default", "production"}
    _clear(db)
    _scan_every_step(strategy, start=start, step=3)
    assert _stored(db, strategy) == replayed


def test_the_replay_keeps_loaded_rows_unexpired_only_while_it_runs(db, btc_daily):
    session = db.session()
    assert session.expire_on_commit
    with replay._rows_kept():
        assert not session.expire_on_commit
        pattern_scanner.scan_detector(get_detector("imbalance"), **SLICE)
        held = [p for p in session.identity_map.values() if isinstance(p, Pattern)]
        assert held and not any(inspect(p).expired_attributes for p in held)  # committed, still loaded
    assert session.expire_on_commit
    db.session.commit()
    assert all(inspect(p).expired_attributes for p in held)  # the default again once the replay ends


@pytest.mark.parametrize("strategy", [n for n in strategy_names() if get_strategy(n).entry_order == TAKER])
def test_a_one_position_replay_scans_the_step_before_only_for_a_back_dated_setup(db, btc_daily, strategy, monkeypatch):
    answers = []
    back_dated = replay.PublishWatch.back_dated

    def spy(self, k, *, until):
        answers.append(back_dated(self, k, until=until))
        return answers[-1]

    monkeypatch.setattr(replay.PublishWatch, "back_dated", spy)
    start = btc_daily.index[len(btc_daily) // 3].isoformat()
    replay.replay(**SLICE, start=start, strategies=[strategy], step=3)
    assert answers and not any(answers)  # no set change: every setup is published by its own step's scan
    _clear(db)
    answers.clear()
    space = get_strategy(strategy).space
    applied = parameter_sets.apply_set(
        **SLICE,
        strategy=strategy,
        params=space.expand(space.preset("default"))[-1],
        source="manual",
        actor="test",
        reason="test",
    )
    row = db.session.get(ProductionParameterSet, applied["id"])
    row.applied_at = btc_daily.index[(2 * len(btc_daily)) // 3].tz_localize(None).to_pydatetime()
    db.session.commit()
    replay.replay(**SLICE, start=start, strategies=[strategy], step=3)
    assert any(answers)  # the new set's own history, back-dated: the step before it is scanned
