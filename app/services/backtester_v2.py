"""The first design document's backtest entry point: ``run_backtest_v2(symbol, timeframe, start, end, ...)``.

A thin service over the pure ``app.evaluation.backtest.run_backtest``: it
loads the stored candles of (symbol, timeframe) unless the caller passes
``candles``, and takes the strategy parameters as keywords, as the seed
writes them (``pattern_type`` is the seed's name for ``strategy``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from app.evaluation.backtest import CostArgument, run_backtest
from app.services.candles import candle_store

RUN_OPTIONS = ("maker_fee_pct", "taker_fee_pct", "slippage_pct", "risk_per_trade_pct", "max_wait_bars")


def run_backtest_v2(
    symbol: str,
    timeframe: str,
    start_date: str | datetime | pd.Timestamp | None = None,
    end_date: str | datetime | pd.Timestamp | None = None,
    *,
    candles: pd.DataFrame | None = None,
    strategy: str | None = None,
    pattern_type: str | None = None,
    costs: CostArgument = None,
    **params: Any,
) -> dict[str, Any]:
    """Backtest ``strategy`` on (symbol, timeframe) and return ``run_backtest``'s result keyed by both.

    Cost keywords (``maker_fee_pct``, ``taker_fee_pct``, ``slippage_pct``,
    ``risk_per_trade_pct``) and ``max_wait_bars`` pass through; every other
    keyword is a strategy parameter. Without ``candles`` the stored candles
    are loaded (an unknown symbol raises NotFoundError). ``strategy`` and
    ``pattern_type`` name the same thing; give at most one (default 'imbalance').
    """
    if strategy is not None and pattern_type is not None and strategy != pattern_type:
        raise ValueError("strategy: give either strategy or pattern_type (the seed's name for it), not both")
    name = strategy or pattern_type or "imbalance"
    if candles is None:
        candles = candle_store.load_candles(symbol, timeframe, start=start_date, end=end_date)
    options = {k: params.pop(k) for k in list(params) if k in RUN_OPTIONS}
    result = run_backtest(
        candles, strategy=name, params=params, start_date=start_date, end_date=end_date, costs=costs, **options
    )
    return {"symbol": symbol, "timeframe": timeframe, **result}
