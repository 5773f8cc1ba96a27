"""The names of every backtest metric, declared once (pure: no numpy, no database).

The engine computes them in this order (``app.core.engine``'s
docstring defines each); the runs table stores each as a column.
"""

METRIC_NAMES: tuple[str, ...] = (
    "total_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "avg_rr",
    "total_profit_pct",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
    "profit_factor",
    "avg_trade_duration",
    "max_consecutive_losses",
    "win_loss_ratio",
    "expectancy_r",
)
INT_METRICS = frozenset({"total_trades", "winning_trades", "losing_trades", "max_consecutive_losses"})
