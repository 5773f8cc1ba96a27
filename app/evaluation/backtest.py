"""Backtest any registered strategy on candles: the public backtest API (pure: no Flask, no SQLAlchemy).

Two entry points share each strategy's one pipeline, so a grid row is exactly
what a single run returns for the same parameters:

- ``run_backtest``: one parameter set, full result (metrics, parameters,
  costs, trades, equity curve) as JSON-safe values (``app.services.backtester_v2``
  wraps it under the first design document's name, loading stored candles);
- ``run_backtest_grid``: many parameter sets on one candle slice, one metrics
  row per set (the optimizer's hot path).

Parameters are validated by the strategy's declared space
(``app.strategies``), costs by ``app.core.costs`` (a preset name and/or
``maker_fee_pct``, ``taker_fee_pct``, ``slippage_pct``,
``risk_per_trade_pct``). Trade rules, costs, sizing and every metric formula
(win definition, Sharpe / Sortino annualisation from the daily equity curve
with 365 days, the finite ``METRIC_CAP`` = 999.0 used for profit_factor with
no losing trade) are written down in ``app.core.engine``'s
docstring. Units: win_rate, total_profit_pct, max_drawdown and return_pct in
percent; avg_trade_duration in hours; r_multiple / expectancy_r / avg_rr in R.

``max_wait_bars`` defaults to the detectors' zone expiry (``DEFAULT_EXPIRY_BARS``):
a limit order rests as long as its zone counts as active. The caller loads
candles (``candle_store.load_candles``); nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from app.core.candles import validate_candles
from app.core.costs import CostModel, resolve_costs
from app.core.engine import INT_METRICS, METRIC_NAMES, MarketArrays, metrics_row_to_dict, prepare_market
from app.core.patterns import DEFAULT_EXPIRY_BARS
from app.strategies import Strategy, get_strategy, setup_counts, trade_records
from app.strategies.base import iso_times

DEFAULT_MAX_WAIT_BARS = DEFAULT_EXPIRY_BARS
CostArgument = str | CostModel | dict[str, Any] | None


# --------------------------------------------------------------------------- validation


def _check_wait(max_wait_bars: Any) -> int:
    if isinstance(max_wait_bars, bool) or not isinstance(max_wait_bars, int | np.integer) or max_wait_bars < 1:
        raise ValueError(f"max_wait_bars must be an integer >= 1, got {max_wait_bars!r}")
    return int(max_wait_bars)


def check_candles(candles: Any) -> pd.DataFrame:
    """Return ``candles`` validated (docs/design-rules.md#candles) or raise ValueError naming 'candles'."""
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


# --------------------------------------------------------------------------- public API


def market_arrays(frame: pd.DataFrame) -> MarketArrays:
    """Return the engine's arrays of a validated candle frame."""
    o, h, lo, c = (
        np.ascontiguousarray(frame[col].to_numpy(dtype=np.float64)) for col in ("open", "high", "low", "close")
    )
    return prepare_market(open_=o, high=h, low=lo, close=c, time_ns=frame.index.as_unit("ns").asi8)


def run_backtest_grid(
    candles: pd.DataFrame,
    *,
    strategy: str,
    combinations: list[dict[str, Any]],
    costs: CostArgument = None,
    maker_fee_pct: float | None = None,
    taker_fee_pct: float | None = None,
    slippage_pct: float | None = None,
    risk_per_trade_pct: float | None = None,
    max_wait_bars: int = DEFAULT_MAX_WAIT_BARS,
) -> pd.DataFrame:
    """Backtest many parameter sets of ``strategy`` on one candle slice and return one metrics row each.

    ``combinations``: parameter dicts (missing names take the strategy's
    defaults). The result keeps their order: the strategy's parameters as
    columns, then ``METRIC_NAMES`` (counts as int64, the rest float64), each
    row equal to what ``run_backtest`` reports for the same parameters and
    costs on the same candles.
    """
    chosen = get_strategy(strategy)
    model = resolve_costs(
        costs,
        maker_fee_pct=maker_fee_pct,
        taker_fee_pct=taker_fee_pct,
        slippage_pct=slippage_pct,
        risk_per_trade_pct=risk_per_trade_pct,
    )
    wait = _check_wait(max_wait_bars)
    frame = check_candles(candles)
    combos = _check_combinations(chosen, combinations)
    metrics = chosen.grid_metrics(market_arrays(frame), combos, costs=model, max_wait_bars=wait) if combos else None
    return grid_frame(chosen, combos=combos, metrics=metrics)


def grid_frame(strategy: Strategy, *, combos: list[dict[str, Any]], metrics: np.ndarray | None) -> pd.DataFrame:
    """Return parameters and metrics as one table (the shape ``run_backtest_grid`` returns)."""
    columns: dict[str, Any] = {name: [combo[name] for combo in combos] for name in strategy.space.names}
    for j, name in enumerate(METRIC_NAMES):
        dtype = np.int64 if name in INT_METRICS else np.float64
        columns[name] = np.empty(0, dtype) if metrics is None else metrics[:, j].astype(dtype)
    return pd.DataFrame(columns)  # built at once: inserting columns one by one costs more than the data


def _check_combinations(strategy: Strategy, combinations: Any) -> list[dict[str, Any]]:
    if isinstance(combinations, dict) or not isinstance(combinations, Iterable):
        raise ValueError("combinations must be a list of parameter dicts")
    combos = []
    for k, params in enumerate(combinations):
        if not isinstance(params, dict):
            raise ValueError(f"combinations[{k}] must be a dict, got {type(params).__name__}")
        combos.append(strategy.space.validate(params))
    return combos


def run_backtest(
    candles: pd.DataFrame,
    *,
    strategy: str,
    params: dict[str, Any] | None = None,
    start_date: str | datetime | pd.Timestamp | None = None,
    end_date: str | datetime | pd.Timestamp | None = None,
    costs: CostArgument = None,
    maker_fee_pct: float | None = None,
    taker_fee_pct: float | None = None,
    slippage_pct: float | None = None,
    risk_per_trade_pct: float | None = None,
    max_wait_bars: int = DEFAULT_MAX_WAIT_BARS,
) -> dict[str, Any]:
    """Backtest one parameter set of ``strategy`` and return metrics, trades and equity curve.

    The candles are cut to [start_date, end_date] (inclusive; a date-only
    end_date covers its whole day). Invalid arguments raise ValueError naming
    the argument. Every value in the result is JSON-serializable.

    Keys: the ``METRIC_NAMES`` metrics; ``strategy``, ``params`` (all of them,
    defaults filled), ``costs`` (the cost model used), ``max_wait_bars``;
    ``candles``, ``period_start``, ``period_end``; ``setups_detected`` and
    ``setups`` (filled / cancelled / expired / skipped counts); ``trades`` in
    exit order (see ``app.strategies.trade_records``); ``equity_curve``: list
    of {time, equity}, a start point at the first candle with equity 1.0 then
    one point per trade at its exit time.
    """
    chosen = get_strategy(strategy)
    checked = chosen.space.validate(params)
    model = resolve_costs(
        costs,
        maker_fee_pct=maker_fee_pct,
        taker_fee_pct=taker_fee_pct,
        slippage_pct=slippage_pct,
        risk_per_trade_pct=risk_per_trade_pct,
    )
    wait = _check_wait(max_wait_bars)
    start = _timestamp(start_date, "start_date", end=False)
    end = _timestamp(end_date, "end_date", end=True)
    if start is not None and end is not None and start > end:
        raise ValueError(f"start_date {start_date!r} is after end_date {end_date!r}")
    frame = _slice(check_candles(candles), start, end)
    if len(frame) == 0:
        raise ValueError(f"candles: none between start_date {start_date!r} and end_date {end_date!r}")
    market = market_arrays(frame)
    run = chosen.single_run(market, checked, costs=model, max_wait_bars=wait)
    trades = trade_records(market, run, risk_pct=model.risk_per_trade_pct)
    result: dict[str, Any] = metrics_row_to_dict(run.metrics)
    result.update(
        strategy=chosen.name,
        params=checked,
        costs=model.as_dict(),
        max_wait_bars=wait,
        start_date=None if start is None else start.isoformat(),
        end_date=None if end is None else end.isoformat(),
        candles=len(frame),
        period_start=frame.index[0].isoformat(),
        period_end=frame.index[-1].isoformat(),
        setups_detected=len(run.setups),
        setups=setup_counts(run.outcomes),
        trades=trades,
        equity_curve=equity_curve(market, trades),
    )
    return result


def equity_curve(market: MarketArrays, trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the compounding equity after each trade (from 1.0, floored at 0 like the engine)."""
    equity = compounded_equity([t["return_pct"] for t in trades])
    curve = [{"time": iso_times(market.time_ns[:1])[0], "equity": 1.0}]
    return curve + [{"time": t["exit_time"], "equity": v} for t, v in zip(trades, equity.tolist(), strict=True)]


def compounded_equity(return_pct: Any) -> np.ndarray:
    """Return the equity after each trade of percent returns in exit order (from 1.0, 0 after ruin, like the engine)."""
    factors = 1.0 + np.asarray(return_pct, dtype=np.float64) / 100.0
    equity = np.cumprod(factors)
    ruin = np.flatnonzero(factors <= 0)
    if ruin.size:  # the engine floors equity at 0 and it stays there
        equity[ruin[0] :] = 0.0
    return equity
