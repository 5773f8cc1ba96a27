"""The plain-Python reference engine: the rules of ``app.core.engine``'s docstring, candle by candle.

A slow oracle, independent of the compiled kernels, that the tests check the
engine against trade for trade and metric for metric. Not for production use.
"""

from __future__ import annotations

import math

import numpy as np

from app.core.costs import MAKER, TAKER, CostModel, net_prices
from app.core.engine import DAYS_PER_YEAR, METRIC_CAP, NS_PER_DAY, NS_PER_HOUR
from app.core.metrics import INT_METRICS, METRIC_NAMES


def reference_backtest(
    *,
    open_: list[float] | np.ndarray,
    high: list[float] | np.ndarray,
    low: list[float] | np.ndarray,
    close: list[float] | np.ndarray,
    time_ns: list[int] | np.ndarray,
    setups: list[dict],
    max_wait_bars: int,
    costs: CostModel,
    entry_order: str = MAKER,
) -> dict:
    """Backtest setups candle by candle in plain Python (a slow oracle for the compiled path).

    ``setups``: dicts with index, direction (+1/-1), entry, stop, target.
    ``entry_order`` ``maker``: a resting limit order at ``entry``; ``taker``: a
    market order at the next candle's open (``entry`` must be that open).
    Returns ``{"trades": [...], "metrics": {...}, "statuses": [...]}``; trades
    are dicts with setup, fill_bar, exit_bar, exit_reason, exit_price,
    r_multiple, planned_rr, in exit order.
    """
    o, h, lo, c = (list(map(float, a)) for a in (open_, high, low, close))
    times = [int(t) for t in time_ns]
    n = len(c)
    trades = []
    statuses = []
    for k, su in enumerate(setups):
        t0, d = int(su["index"]), int(su["direction"])
        e, s, t = float(su["entry"]), float(su["stop"]), float(su["target"])
        ok = all(math.isfinite(v) for v in (e, s, t)) and 0 <= t0 < n
        ok = ok and ((d > 0 and t > e > s) or (d < 0 and t < e < s))
        if not ok:
            statuses.append("invalid")
            continue
        fill = None
        status = "cancelled" if t0 + max_wait_bars <= n - 1 else "expired"
        if entry_order == TAKER:
            status, fill = ("filled", t0 + 1) if t0 + 1 < n else ("expired", None)
        else:
            for j in range(t0 + 1, min(n - 1, t0 + max_wait_bars) + 1):
                if (d > 0 and lo[j] <= e) or (d < 0 and h[j] >= e):
                    status, fill = "filled", j
                    break
        statuses.append(status)
        if fill is None:
            continue
        # A limit fill's candle can stop the trade but not take profit (its high may precede the fill);
        # a market fill at the open trades the whole candle, so the walk starts on the fill candle itself.
        if entry_order == MAKER and ((d > 0 and lo[fill] <= s) or (d < 0 and h[fill] >= s)):
            exit_bar, reason, price = fill, "stop", s
        else:
            exit_bar, reason, price = n - 1, "end_of_data", c[n - 1]
            for j in range(fill if entry_order == TAKER else fill + 1, n):
                hit_stop = lo[j] <= s if d > 0 else h[j] >= s
                hit_target = h[j] >= t if d > 0 else lo[j] <= t
                if hit_stop:
                    exit_bar, reason = j, "stop"
                    price = min(o[j], s) if d > 0 else max(o[j], s)
                    break
                if hit_target:
                    exit_bar, reason, price = j, "target", t
                    break
        exit_order = MAKER if reason == "target" else TAKER
        adj_entry, adj_exit = net_prices(
            e, price, direction=d, costs=costs, entry_order=entry_order, exit_order=exit_order
        )
        r = d * (adj_exit - adj_entry) / abs(e - s)
        trades.append(
            {
                "setup": k,
                "fill_bar": fill,
                "exit_bar": exit_bar,
                "exit_reason": reason,
                "exit_price": price,
                "r_multiple": r,
                "planned_rr": abs(t - e) / abs(e - s),
            }
        )
    trades.sort(key=lambda tr: (tr["exit_bar"], tr["setup"]))
    metrics = reference_metrics(
        r_multiples=[tr["r_multiple"] for tr in trades],
        planned_rr=[tr["planned_rr"] for tr in trades],
        entry_time_ns=[times[tr["fill_bar"]] for tr in trades],
        exit_time_ns=[times[tr["exit_bar"]] for tr in trades],
        first_time_ns=times[0],
        last_time_ns=times[-1],
        risk_per_trade_pct=costs.risk_per_trade_pct,
    )
    return {"trades": trades, "metrics": metrics, "statuses": statuses}


def reference_metrics(
    *,
    r_multiples: list[float],
    planned_rr: list[float],
    entry_time_ns: list[int],
    exit_time_ns: list[int],
    first_time_ns: int,
    last_time_ns: int,
    risk_per_trade_pct: float,
) -> dict[str, float | int]:
    """Compute the module-docstring metrics in plain Python from trades already in exit order."""
    names = METRIC_NAMES
    result: dict[str, float | int] = {name: (0 if name in INT_METRICS else 0.0) for name in names}
    n = len(r_multiples)
    if n == 0:
        return result
    wins = [r for r in r_multiples if r > 0]
    losses = [r for r in r_multiples if r <= 0]
    equity = [1.0]
    for r in r_multiples:
        equity.append(max(0.0, equity[-1] * (1 + r * risk_per_trade_pct / 100)))
    peak, mdd = equity[0], 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            mdd = max(mdd, (peak - value) / peak)
    streak = best = 0
    for r in r_multiples:
        streak = streak + 1 if r <= 0 else 0
        best = max(best, streak)
    first_day = first_time_ns // NS_PER_DAY
    n_days = last_time_ns // NS_PER_DAY - first_day + 1
    day_equity = []
    k = 0
    for d in range(n_days):
        while k < n and exit_time_ns[k] // NS_PER_DAY - first_day <= d:
            k += 1
        day_equity.append(equity[k])
    prev = 1.0
    daily = []
    for value in day_equity:
        daily.append(value / prev - 1 if prev > 0 else 0.0)
        prev = value
    mean = sum(daily) / n_days
    sharpe = 0.0
    if n_days >= 2:
        std = math.sqrt(sum((x - mean) ** 2 for x in daily) / (n_days - 1))
        if std > 0:
            sharpe = max(-METRIC_CAP, min(METRIC_CAP, mean / std * math.sqrt(DAYS_PER_YEAR)))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in daily) / n_days)
    if downside > 0:
        sortino = max(-METRIC_CAP, min(METRIC_CAP, mean / downside * math.sqrt(DAYS_PER_YEAR)))
    else:
        sortino = METRIC_CAP if mean > 0 else 0.0
    gross_win = sum(wins)
    gross_loss = -sum(r for r in r_multiples if r < 0)
    profit_factor = METRIC_CAP if gross_win > 0 else 0.0
    if gross_loss > 0:
        profit_factor = min(gross_win / gross_loss, METRIC_CAP)
    win_loss = 0.0
    if wins:
        avg_loss = -sum(losses) / len(losses) if losses else 0.0
        win_loss = min((gross_win / len(wins)) / avg_loss, METRIC_CAP) if avg_loss > 0 else METRIC_CAP
    durations = [(x - e) / NS_PER_HOUR for e, x in zip(entry_time_ns, exit_time_ns, strict=True)]
    result.update(
        total_trades=n,
        winning_trades=len(wins),
        losing_trades=len(losses),
        win_rate=100.0 * len(wins) / n,
        avg_rr=sum(planned_rr) / n,
        total_profit_pct=100.0 * (equity[-1] - 1.0),
        max_drawdown=100.0 * mdd,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        profit_factor=profit_factor,
        avg_trade_duration=sum(durations) / n,
        max_consecutive_losses=best,
        win_loss_ratio=win_loss,
        expectancy_r=sum(r_multiples) / n,
    )
    return result
