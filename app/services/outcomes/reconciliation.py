"""Replay the backtest over a slice's stored candles and compare it with the tracked outcomes.

Per parameter set that produced tracked outcomes in the window, the
strategy's own backtest (``single_run``) runs with that set's parameters,
costs and ``max_wait_bars`` over the slice's whole stored history (what the
scanner saw: detection needs its warm-up), and its setups detected while
that set produced the slice's setups (its first to last tracked detection
inside the window) are compared with the tracked ones
(``app.evaluation.reconciliation``), their parameters included.

A set with regime sets is rebuilt as the scanners trade it
(docs/outcomes.md#trading-by-regime): per distinct parameter set P
(``app.core.regimes.regime_parameters``), the backtest's setups of P whose
detection bar's regime maps to P. Pattern setups are each their own trade
(the backtest's records, filtered); the one-position indicator strategies'
candidates of all P go through ONE one-position walk in time order, the
tracker's own (``app.evaluation.outcomes.follow_setups``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from app.core.costs import MAKER, TAKER, resolve_costs
from app.core.engine import MarketArrays
from app.core.regimes import market_regimes, regime_parameters
from app.errors import ValidationError
from app.evaluation.backtest import market_arrays
from app.evaluation.outcomes import follow_setups
from app.evaluation.reconciliation import reconcile_records, replayed_records
from app.extensions import db
from app.models import ProductionParameterSet, SetupOutcome
from app.services.candles.candle_store import check_timeframe, find_symbol, load_candles
from app.services.optimizer.jobs import check_date
from app.strategies import get_strategy


def _ns(when) -> int:
    return (
        int(pd.Timestamp(when).tz_localize("UTC").value) if pd.Timestamp(when).tz is None else pd.Timestamp(when).value
    )


def tracked_record(row: SetupOutcome) -> dict[str, Any]:
    """Return a stored outcome as a comparable record (``app.evaluation.reconciliation``)."""
    return {
        "detected_at_ns": _ns(row.detected_at),
        "direction": int(row.direction),
        "state": row.state,
        "filled_at_ns": None if row.filled_at is None else _ns(row.filled_at),
        "exited_at_ns": None if row.exited_at is None else _ns(row.exited_at),
        "exit_reason": row.exit_reason,
        "exit_price": row.exit_price,
        "r_multiple": row.r_multiple,
        "bars_held": row.bars_held,
        "params": dict(row.params),
    }


def _bound(value, name: str) -> pd.Timestamp | None:
    """A window bound as naive UTC (the stored times); any offset is converted, not dropped."""
    return None if value is None else check_date(name, value).tz_localize(None)


def reconcile(*, symbol: str, timeframe: str, strategy: str, start: Any = None, end: Any = None) -> dict[str, Any]:
    """Return per producing set how many tracked setups the backtest reproduces exactly, and the first that not."""
    check_timeframe(timeframe)
    find_symbol(symbol)
    try:
        chosen = get_strategy(strategy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    lo, hi = _bound(start, "start"), _bound(end, "end")
    query = select(SetupOutcome).where(
        SetupOutcome.symbol == symbol, SetupOutcome.timeframe == timeframe, SetupOutcome.strategy == strategy
    )
    if lo is not None:
        query = query.where(SetupOutcome.detected_at >= lo)
    if hi is not None:
        query = query.where(SetupOutcome.detected_at <= hi)
    rows = list(db.session.scalars(query.order_by(SetupOutcome.detected_at, SetupOutcome.id)))
    candles = load_candles(symbol, timeframe)
    sets = []
    if rows and not candles.empty:
        market = market_arrays(candles)
        for set_row, group in _by_set(rows):
            sets.append(_reconcile_set(chosen, market, set_row, group))
    compared = sum(s["compared"] for s in sets)
    matched = sum(s["matched"] for s in sets)
    first = next((s["first_mismatch"] for s in sets if s["first_mismatch"]), None)
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "strategy": strategy,
        "compared": compared,
        "matched": matched,
        "identical": compared == matched,
        "first_mismatch": first,
        "sets": sets,
    }


def _by_set(rows: list[SetupOutcome]) -> list[tuple[ProductionParameterSet | None, list[SetupOutcome]]]:
    """The tracked rows per producing set (all its regimes' parameters together), with the set's row.

    Rows of no stored set (the defaults) group by their parameters, as one set each.
    """
    groups: dict[tuple, list[SetupOutcome]] = {}
    sets: dict[tuple, ProductionParameterSet | None] = {}
    for row in rows:
        found = db.session.get(ProductionParameterSet, row.parameter_set_id) if row.parameter_set_id else None
        producer = ("set", row.parameter_set_id) if found is not None else ("params", repr(sorted(row.params.items())))
        key = (producer, repr(sorted(row.costs.items())), row.max_wait_bars)
        groups.setdefault(key, []).append(row)
        sets[key] = found
    return [(sets[key], group) for key, group in groups.items()]


def _reconcile_set(chosen, market, set_row: ProductionParameterSet | None, group: list[SetupOutcome]) -> dict:
    first = group[0]
    costs = resolve_costs(first.costs)
    base = dict(set_row.params) if set_row is not None else dict(first.params)
    by_regime = regime_parameters(base, set_row.regime_sets if set_row is not None else None)
    runs = [
        chosen.single_run(market, chosen.space.validate(g.params), costs=costs, max_wait_bars=first.max_wait_bars)
        for g in by_regime
    ]
    if len(by_regime) == 1:
        replayed = [{**r, "params": by_regime[0].params} for r in replayed_records(market, runs[0])]
    else:
        codes = market_regimes(market.high, market.low, market.close).codes
        if chosen.entry_order == MAKER:  # each setup its own trade: the backtest's records of its regime
            replayed = [
                {**record, "params": g.params}
                for g, run in zip(by_regime, runs, strict=True)
                for record, kept in zip(
                    replayed_records(market, run), g.trades_at(codes, run.setups.index).tolist(), strict=True
                )
                if kept
            ]
        else:
            replayed = _one_position(market, by_regime, runs, codes, costs=costs, max_wait_bars=first.max_wait_bars)
    tracked = [tracked_record(r) for r in group]
    lo, hi = tracked[0]["detected_at_ns"], tracked[-1]["detected_at_ns"]
    replayed = [r for r in replayed if lo <= r["detected_at_ns"] <= hi]
    result = reconcile_records(tracked, replayed)
    mismatch = result.first_mismatch
    if mismatch is not None:
        mismatch = {**mismatch, "detected_at": pd.Timestamp(mismatch["detected_at_ns"], tz="UTC").isoformat()}
    return {
        "parameter_set_id": first.parameter_set_id,
        "params_source": first.params_source,
        "params": base,
        "regimes": [{"params": g.params, "regimes": list(g.labels)} for g in by_regime] if len(by_regime) > 1 else None,
        "compared": result.compared,
        "matched": result.matched,
        "mismatches": result.mismatches,
        "first_mismatch": mismatch,
    }


def _one_position(market: MarketArrays, by_regime, runs, codes: np.ndarray, *, costs, max_wait_bars: int) -> list:
    """The candidates of every regime's parameters, merged in time order, through one one-position walk."""
    parts = [
        (run.setups.take(np.flatnonzero(g.trades_at(codes, run.setups.index))), g.params)
        for g, run in zip(by_regime, runs, strict=True)
    ]
    index = np.concatenate([s.index for s, _ in parts]).astype(np.int64)
    order = np.argsort(index, kind="stable")

    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(s, name) for s, _ in parts])[order]

    params = [p for s, p in parts for _ in range(len(s))]
    direction = column("direction")
    followed = follow_setups(
        market,
        index=index[order],
        direction=direction,
        entry=column("entry").astype(np.float64),
        stop=column("stop").astype(np.float64),
        target=column("target").astype(np.float64),
        entry_order=TAKER,
        costs=costs,
        max_wait_bars=max_wait_bars,
    )
    records = []
    for k, j in enumerate(order.tolist()):
        record = followed.record(k, market.time_ns)
        record.update(detected_at_ns=int(market.time_ns[index[j]]), direction=int(direction[k]), params=params[j])
        records.append(record)
    return records
