"""Backtest smart-money setups on candles: detectors + trade levels + the compiled engine.

Two entry points share one pipeline, so a grid row is exactly what a single
run returns for the same parameters:

- ``run_backtest_v2``: one parameter set, full result (metrics, parameters,
  trades, equity curve) as JSON-safe values;
- ``run_backtest_grid``: many parameter combinations on one candle slice, one
  metrics row per combination (the optimizer's hot path).

Pipeline (work is shared across combinations):

1. detection: ``get_detector(pattern_type).find(...)`` once per distinct
   ``(min_zone_pct, use_overlap)``; the union of all patterns found (exact
   duplicate rows collapsed, sorted by index, direction, zone) is what gets
   simulated, and each filter set is a boolean mask over that union (a
   setup's outcome does not depend on which filter kept it);
2. levels: ``trade_levels.compute_levels`` once per distinct
   ``(entry_method, sl_buffer_pct, tp_method, rr_target)`` on the union;
3. fills: ``backtest_engine.find_fills`` once per distinct entry/stop (i.e.
   per ``(entry_method, sl_buffer_pct)``), shared by every rr_target and
   tp_method;
4. exits: ``backtest_engine.resolve_exits`` per level set (O(log n) per setup);
5. metrics: ``backtest_engine.aggregate_metrics`` for every combination in
   one compiled call (level-set outcomes x filter-set mask).

Trade rules, costs, sizing and every metric formula (win definition, Sharpe /
Sortino annualisation from the daily equity curve with 365 days, the finite
``METRIC_CAP`` = 999.0 used for profit_factor with no losing trade) are written
down in ``app.services.backtest_engine``'s docstring. Units: win_rate,
total_profit_pct, max_drawdown and return_pct in percent; avg_trade_duration
in hours; r_multiple / expectancy_r / avg_rr in R.

``max_wait_bars`` defaults to the detectors' zone expiry (``DEFAULT_EXPIRY_BARS``):
a limit order lives as long as its zone counts as active.

Pure unless ``candles`` is omitted: only then ``run_backtest_v2`` lazily
imports the DB candle loader (which needs a Flask app context).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from app.services.backtest_engine import (
    EXIT_REASONS,
    INT_METRICS,
    METRIC_NAMES,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_INVALID,
    MarketArrays,
    OutcomeTable,
    aggregate_metrics,
    find_fills,
    metrics_row_to_dict,
    prepare_market,
    prices_cover,
    resolve_exits,
)
from app.services.candle_frame import validate_candles
from app.services.parameter_grid import PARAMETER_NAMES, PRODUCTION_DEFAULTS
from app.services.patterns import DEFAULT_EXPIRY_BARS, DEFAULT_SWING_LENGTH, PatternArrays, get_detector
from app.services.trade_levels import ENTRY_METHODS, TP_METHODS, compute_levels, wilder_atr

# The six grid parameters and production's defaults for them live with the grids (one source).
GRID_PARAMETERS: tuple[str, ...] = PARAMETER_NAMES
GRID_DEFAULTS: dict[str, Any] = PRODUCTION_DEFAULTS
DEFAULT_COMMISSION_PCT = 0.1
DEFAULT_SLIPPAGE_PCT = 0.05
DEFAULT_RISK_PER_TRADE_PCT = 1.0
DEFAULT_MAX_WAIT_BARS = DEFAULT_EXPIRY_BARS

_Combo = tuple[float, float, float, str, str, bool]


# --------------------------------------------------------------------------- validation


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _check_combo(params: dict[str, Any]) -> _Combo:
    """Return the six grid parameters as a validated, hashable tuple (ValueError naming the argument)."""
    unknown = sorted(set(params) - set(GRID_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(GRID_PARAMETERS)})")
    merged = {**GRID_DEFAULTS, **params}
    rr = _finite(merged["rr_target"], "rr_target")
    if rr <= 0:
        raise ValueError(f"rr_target must be > 0, got {rr}")
    sl = _finite(merged["sl_buffer_pct"], "sl_buffer_pct")
    if sl < 0:
        raise ValueError(f"sl_buffer_pct must be >= 0, got {sl}")
    mz = _finite(merged["min_zone_pct"], "min_zone_pct")
    if mz < 0:
        raise ValueError(f"min_zone_pct must be >= 0, got {mz}")
    tp, em, ov = merged["tp_method"], merged["entry_method"], merged["use_overlap"]
    if tp not in TP_METHODS:
        raise ValueError(f"tp_method must be one of {', '.join(TP_METHODS)}; got {tp!r}")
    if em not in ENTRY_METHODS:
        raise ValueError(f"entry_method must be one of {', '.join(ENTRY_METHODS)}; got {em!r}")
    if not isinstance(ov, bool | np.bool_):
        raise ValueError(f"use_overlap must be true or false, got {ov!r}")
    return rr, sl, mz, str(tp), str(em), bool(ov)


def _check_costs(
    *, commission_pct: Any, slippage_pct: Any, risk_per_trade_pct: Any, max_wait_bars: Any
) -> tuple[float, float, float, int]:
    commission = _finite(commission_pct, "commission_pct")
    if commission < 0:
        raise ValueError(f"commission_pct must be >= 0, got {commission}")
    slippage = _finite(slippage_pct, "slippage_pct")
    if slippage < 0:
        raise ValueError(f"slippage_pct must be >= 0, got {slippage}")
    risk = _finite(risk_per_trade_pct, "risk_per_trade_pct")
    if risk <= 0:
        raise ValueError(f"risk_per_trade_pct must be > 0, got {risk}")
    if isinstance(max_wait_bars, bool) or not isinstance(max_wait_bars, int | np.integer) or max_wait_bars < 1:
        raise ValueError(f"max_wait_bars must be an integer >= 1, got {max_wait_bars!r}")
    return commission, slippage, risk, int(max_wait_bars)


def _check_candles(candles: Any) -> pd.DataFrame:
    """Return ``candles`` validated (DESIGN section 3) or raise ValueError naming 'candles'."""
    if not isinstance(candles, pd.DataFrame):
        raise ValueError(f"candles must be a pandas DataFrame, got {type(candles).__name__}")
    if len(candles) == 0:
        raise ValueError("candles must not be empty")
    # CandleValidationError is a ValueError; source='candles' puts the argument name first in its message.
    return validate_candles(candles, source="candles")


def _timestamp(value: Any, name: str, *, end: bool) -> pd.Timestamp | None:
    """Return ``value`` as a UTC Timestamp; a date-only end (e.g. '2024-03-31') covers that whole day."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a date/time: {value!r}") from None
    if ts is pd.NaT:
        raise ValueError(f"{name} is not a date/time: {value!r}")
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    date_only = (isinstance(value, str) and len(value.strip()) <= 10) or (
        isinstance(value, date) and not isinstance(value, datetime)
    )
    if end and date_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return ts


def _slice(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    stamps = frame.index
    lo = 0 if start is None else int(stamps.searchsorted(start, side="left"))
    hi = len(stamps) if end is None else int(stamps.searchsorted(end, side="right"))
    return frame.iloc[lo:hi]


# --------------------------------------------------------------------------- the shared pipeline


def _union(found: list[PatternArrays]) -> tuple[PatternArrays, np.ndarray]:
    """Return the sorted, de-duplicated union of pattern sets and one membership mask per set."""
    index = np.concatenate([p.index for p in found]).astype(np.int64)
    direction = np.concatenate([p.direction for p in found]).astype(np.int8)
    zone_low = np.concatenate([p.zone_low for p in found]).astype(np.float64)
    zone_high = np.concatenate([p.zone_high for p in found]).astype(np.float64)
    source = np.repeat(np.arange(len(found)), [len(p) for p in found])
    order = np.lexsort((zone_high, zone_low, direction, index))
    keys = (index[order], direction[order], zone_low[order], zone_high[order])
    new = np.ones(order.shape[0], np.bool_)
    if order.shape[0] > 1:
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    uid = np.empty(order.shape[0], np.int64)
    uid[order] = np.cumsum(new) - 1
    union = PatternArrays(
        index=np.ascontiguousarray(keys[0][new]),
        direction=np.ascontiguousarray(keys[1][new]),
        zone_low=np.ascontiguousarray(keys[2][new]),
        zone_high=np.ascontiguousarray(keys[3][new]),
    )
    masks = np.zeros((len(found), len(union)), np.bool_)
    masks[source, uid] = True
    return union, masks


def _first_seen(keys: Iterable) -> tuple[list, np.ndarray]:
    """Return the distinct keys in first-seen order and each input's position among them."""
    distinct: dict = {}
    ids = [distinct.setdefault(key, len(distinct)) for key in keys]
    return list(distinct), np.asarray(ids, dtype=np.int64)


class _Evaluation:
    """Everything one pipeline run produced (kept for building a single run's trade list)."""

    def __init__(
        self,
        *,
        market: MarketArrays,
        union: PatternArrays,
        masks: np.ndarray,
        levels: list,
        outcomes: OutcomeTable,
        combo_level: np.ndarray,
        combo_filter: np.ndarray,
        metrics: np.ndarray,
    ) -> None:
        self.market = market
        self.union = union
        self.masks = masks
        self.levels = levels
        self.outcomes = outcomes
        self.combo_level = combo_level
        self.combo_filter = combo_filter
        self.metrics = metrics


def _evaluate(
    frame: pd.DataFrame,
    *,
    pattern_type: str,
    combos: list[_Combo],
    commission_pct: float,
    slippage_pct: float,
    risk_per_trade_pct: float,
    max_wait_bars: int,
) -> _Evaluation:
    """Run detection, levels, simulation and metrics for validated combos on a validated frame."""
    detector = get_detector(pattern_type)
    swing_length = int(getattr(detector, "swing_length", DEFAULT_SWING_LENGTH))
    o, h, lo, c = (
        np.ascontiguousarray(frame[col].to_numpy(dtype=np.float64)) for col in ("open", "high", "low", "close")
    )
    market = prepare_market(open_=o, high=h, low=lo, close=c, time_ns=frame.index.as_unit("ns").asi8)

    filter_keys, combo_filter = _first_seen((combo[2], combo[5]) for combo in combos)
    found = [detector.find(o, h, lo, c, min_zone_pct=mz, skip_overlap=not ov) for mz, ov in filter_keys]
    union, masks = _union(found)

    atr = wilder_atr(h, lo, c)
    level_keys, combo_level = _first_seen((combo[4], combo[1], combo[3], combo[0]) for combo in combos)
    levels = []
    outcomes = OutcomeTable.allocate(len(level_keys), len(union))
    fill_cache: dict[tuple[str, float], list] = {}
    for k, (em, sl, tp, rr) in enumerate(level_keys):
        lv = compute_levels(
            patterns=union,
            high=h,
            low=lo,
            close=c,
            atr=atr,
            entry_method=em,
            sl_buffer_pct=sl,
            tp_method=tp,
            rr_target=rr,
            swing_length=swing_length,
        )
        # The fill search needs only entry & stop; reuse it when they match (they do for one entry method and
        # buffer, except where compute_levels blanked a setup, e.g. ATR not yet defined: hence the check).
        fills = None
        for entry, stop, cached in fill_cache.get((em, sl), []):
            if prices_cover(entry, lv.entry) and prices_cover(stop, lv.stop):
                fills = cached
                break
        if fills is None:
            fills = find_fills(
                market,
                index=union.index,
                direction=union.direction,
                entry=lv.entry,
                stop=lv.stop,
                max_wait_bars=max_wait_bars,
            )
            fill_cache.setdefault((em, sl), []).append((lv.entry, lv.stop, fills))
        resolve_exits(
            market,
            fills,
            direction=union.direction,
            entry=lv.entry,
            stop=lv.stop,
            target=lv.target,
            commission_pct=commission_pct,
            slippage_pct=slippage_pct,
            out=outcomes.row(k),
        )
        levels.append(lv)
    metrics = aggregate_metrics(
        market,
        outcomes,
        masks=masks,
        combo_level=combo_level,
        combo_filter=combo_filter,
        risk_per_trade_pct=risk_per_trade_pct,
    )
    return _Evaluation(
        market=market,
        union=union,
        masks=masks,
        levels=levels,
        outcomes=outcomes,
        combo_level=combo_level,
        combo_filter=combo_filter,
        metrics=metrics,
    )


# --------------------------------------------------------------------------- public API


def run_backtest_grid(
    candles: pd.DataFrame,
    *,
    pattern_type: str,
    combinations: list[dict[str, Any]],
    commission_pct: float = DEFAULT_COMMISSION_PCT,
    slippage_pct: float = DEFAULT_SLIPPAGE_PCT,
    risk_per_trade_pct: float = DEFAULT_RISK_PER_TRADE_PCT,
    max_wait_bars: int = DEFAULT_MAX_WAIT_BARS,
) -> pd.DataFrame:
    """Backtest many parameter combinations on one candle slice and return one metrics row each.

    ``combinations``: dicts over ``GRID_PARAMETERS`` (missing keys take
    ``GRID_DEFAULTS``). The result keeps their order: the six parameters as
    columns, then ``METRIC_NAMES`` (counts as int64, the rest float64), each
    row equal to what ``run_backtest_v2`` reports for the same parameters and
    costs on the same candles. Detection runs once per distinct
    (min_zone_pct, use_overlap), fills once per (entry_method, sl_buffer_pct).
    """
    frame = _check_candles(candles)
    costs = _check_costs(
        commission_pct=commission_pct,
        slippage_pct=slippage_pct,
        risk_per_trade_pct=risk_per_trade_pct,
        max_wait_bars=max_wait_bars,
    )
    if isinstance(combinations, dict) or not isinstance(combinations, Iterable):
        raise ValueError("combinations must be a list of parameter dicts")
    combos = []
    for k, params in enumerate(combinations):
        if not isinstance(params, dict):
            raise ValueError(f"combinations[{k}] must be a dict, got {type(params).__name__}")
        combos.append(_check_combo(params))
    columns = {name: [combo[i] for combo in combos] for i, name in enumerate(GRID_PARAMETERS)}
    if not combos:
        result = pd.DataFrame(columns)
    else:
        ev = _evaluate(
            frame,
            pattern_type=pattern_type,
            combos=combos,
            commission_pct=costs[0],
            slippage_pct=costs[1],
            risk_per_trade_pct=costs[2],
            max_wait_bars=costs[3],
        )
        result = pd.DataFrame(columns)
        for j, name in enumerate(METRIC_NAMES):
            result[name] = ev.metrics[:, j].astype(np.int64) if name in INT_METRICS else ev.metrics[:, j]
    for name in METRIC_NAMES:
        if name not in result:
            result[name] = pd.Series(dtype=np.int64 if name in INT_METRICS else np.float64)
    result["rr_target"] = result["rr_target"].astype(np.float64)
    result["sl_buffer_pct"] = result["sl_buffer_pct"].astype(np.float64)
    result["min_zone_pct"] = result["min_zone_pct"].astype(np.float64)
    result["use_overlap"] = result["use_overlap"].astype(bool)
    return result


def run_backtest_v2(
    symbol: str,
    timeframe: str,
    start_date: str | datetime | pd.Timestamp | None = None,
    end_date: str | datetime | pd.Timestamp | None = None,
    *,
    pattern_type: str = "imbalance",
    rr_target: float = 2.0,
    sl_buffer_pct: float = 10.0,
    entry_method: str = "zone_edge",
    tp_method: str = "fixed_rr",
    min_zone_pct: float = 0.15,
    use_overlap_detection: bool = True,
    commission_pct: float = DEFAULT_COMMISSION_PCT,
    slippage_pct: float = DEFAULT_SLIPPAGE_PCT,
    risk_per_trade_pct: float = DEFAULT_RISK_PER_TRADE_PCT,
    max_wait_bars: int = DEFAULT_MAX_WAIT_BARS,
    candles: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Backtest one pattern type with one parameter set and return metrics, trades and equity curve.

    With ``candles`` (a DESIGN-format DataFrame) no database is touched; they
    are still cut to [start_date, end_date] (inclusive; a date-only end_date
    covers its whole day). Without, candles come from
    ``candle_store.load_candles`` (needs a Flask app context). Invalid
    arguments raise ValueError naming the argument. Every value in the result
    is JSON-serializable (ints, finite floats, strings, ISO timestamps).

    Keys: the ``METRIC_NAMES`` metrics; ``parameters`` (everything used);
    ``candles``, ``period_start``, ``period_end``; ``patterns_detected`` and
    ``setups`` (filled / cancelled / expired / skipped counts); ``trades``
    in exit order (entry_time, exit_time, direction 'long'|'short',
    detected_at, zone_low, zone_high, entry, stop, target, exit_price,
    exit_reason 'target'|'stop'|'end_of_data', r_multiple (net of costs),
    return_pct, planned_rr, duration_hours); ``equity_curve``: list of
    {time, equity}, a start point at the first candle with equity 1.0 then
    one point per trade at its exit time.
    """
    combo = _check_combo(
        {
            "rr_target": rr_target,
            "sl_buffer_pct": sl_buffer_pct,
            "min_zone_pct": min_zone_pct,
            "tp_method": tp_method,
            "entry_method": entry_method,
            "use_overlap": use_overlap_detection,
        }
    )
    commission, slippage, risk, wait = _check_costs(
        commission_pct=commission_pct,
        slippage_pct=slippage_pct,
        risk_per_trade_pct=risk_per_trade_pct,
        max_wait_bars=max_wait_bars,
    )
    start = _timestamp(start_date, "start_date", end=False)
    end = _timestamp(end_date, "end_date", end=True)
    if start is not None and end is not None and start > end:
        raise ValueError(f"start_date {start_date!r} is after end_date {end_date!r}")
    get_detector(pattern_type)  # ValueError naming the known types before any loading
    if candles is None:
        from app.services.candle_store import load_candles

        candles = load_candles(symbol, timeframe, start, end)
    frame = _slice(_check_candles(candles), start, end)
    if len(frame) == 0:
        raise ValueError(f"candles: none between start_date {start_date!r} and end_date {end_date!r}")

    ev = _evaluate(
        frame,
        pattern_type=pattern_type,
        combos=[combo],
        commission_pct=commission,
        slippage_pct=slippage,
        risk_per_trade_pct=risk,
        max_wait_bars=wait,
    )
    result: dict[str, Any] = metrics_row_to_dict(ev.metrics[0])
    stamps = frame.index
    result["parameters"] = {
        "symbol": symbol,
        "timeframe": timeframe,
        "start_date": None if start is None else start.isoformat(),
        "end_date": None if end is None else end.isoformat(),
        "pattern_type": pattern_type,
        "rr_target": combo[0],
        "sl_buffer_pct": combo[1],
        "min_zone_pct": combo[2],
        "tp_method": combo[3],
        "entry_method": combo[4],
        "use_overlap_detection": combo[5],
        "commission_pct": commission,
        "slippage_pct": slippage,
        "risk_per_trade_pct": risk,
        "max_wait_bars": wait,
    }
    result["candles"] = len(frame)
    result["period_start"] = stamps[0].isoformat()
    result["period_end"] = stamps[-1].isoformat()
    result.update(_trade_details(ev, risk))
    return result


def _trade_details(ev: _Evaluation, risk_pct: float) -> dict[str, Any]:
    """Build the trade list, equity curve and setup counts of a single-combination evaluation."""
    out = ev.outcomes.row(0)
    lv = ev.levels[0]
    mask = ev.masks[0]
    union = ev.union
    status = out.status[mask]
    setups = {
        "filled": int(np.count_nonzero(status == STATUS_FILLED)),
        "cancelled": int(np.count_nonzero(status == STATUS_CANCELLED)),
        "expired": int(np.count_nonzero(status == STATUS_EXPIRED)),
        "skipped": int(np.count_nonzero(status == STATUS_INVALID)),
    }
    chosen = np.flatnonzero(mask & out.traded)
    chosen = chosen[np.argsort(out.exit_bar[chosen], kind="stable")]  # exit order; ties keep setup order
    r = out.r_multiple[chosen]
    returns = r * risk_pct
    equity = _compound(returns)
    fill_bar, exit_bar = out.fill_bar[chosen], out.exit_bar[chosen]
    time_ns = ev.market.time_ns
    hours = out.hours[chosen]
    trades = [
        {
            "entry_time": et,
            "exit_time": xt,
            "direction": "long" if d > 0 else "short",
            "detected_at": dt,
            "zone_low": zl,
            "zone_high": zh,
            "entry": e,
            "stop": s,
            "target": t,
            "exit_price": xp,
            "exit_reason": EXIT_REASONS[rs],
            "r_multiple": rm,
            "return_pct": rp,
            "planned_rr": pr,
            "duration_hours": hr,
        }
        for et, xt, d, dt, zl, zh, e, s, t, xp, rs, rm, rp, pr, hr in zip(
            _iso(time_ns[fill_bar]),
            _iso(time_ns[exit_bar]),
            union.direction[chosen].tolist(),
            _iso(time_ns[union.index[chosen]]),
            union.zone_low[chosen].tolist(),
            union.zone_high[chosen].tolist(),
            lv.entry[chosen].tolist(),
            lv.stop[chosen].tolist(),
            lv.target[chosen].tolist(),
            out.exit_price[chosen].tolist(),
            out.exit_reason[chosen].tolist(),
            r.tolist(),
            returns.tolist(),
            out.planned_rr[chosen].tolist(),
            hours.tolist(),
            strict=True,
        )
    ]
    curve = [{"time": _iso(time_ns[:1])[0], "equity": 1.0}]
    curve += [{"time": t, "equity": v} for t, v in zip(_iso(time_ns[exit_bar]), equity.tolist(), strict=True)]
    return {"patterns_detected": int(mask.sum()), "setups": setups, "trades": trades, "equity_curve": curve}


def _compound(returns_pct: np.ndarray) -> np.ndarray:
    """Return the equity after each trade, compounding from 1.0 with the engine's floor at 0."""
    factors = 1.0 + returns_pct / 100.0
    equity = np.cumprod(factors)
    ruin = np.flatnonzero(factors <= 0)
    if ruin.size:  # the engine floors equity at 0 and it stays there
        equity[ruin[0] :] = 0.0
    return equity


def _iso(time_ns: np.ndarray) -> list[str]:
    """Return UTC ISO-8601 strings ('2024-01-01T00:00:00+00:00') for epoch-ns times, vectorized."""
    text = np.datetime_as_string(np.asarray(time_ns, dtype=np.int64).view("M8[ns]"), unit="s")
    return [t + "+00:00" for t in text.tolist()]
