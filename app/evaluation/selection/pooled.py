"""Parameter sets pooled across markets: one set that holds on every symbol is far less likely luck (pure).

A sweep runs the same grid on several symbols of one timeframe and strategy.
Each slice's own best is the luckiest of its grid on that market; a set that
is good on all of them at once had to be lucky on each independently.

The rule (``rank_pooled``):

- a set qualifies when every slice ran it, with at least ``min_trades``
  trades and a positive expectancy after costs (net R per trade) on each;
- qualifying sets rank by their WORST slice's Sharpe ratio (the sceptical
  reading: a pooled set is only as good as the market it does worst on),
  ties by the median slice's, then by grid order (the first key seen);
- fewer than two slices pool nothing.

The gate then judges the pooled set on each slice like any candidate: its
own trades, walk-forward and Deflated Sharpe Ratio over the slice's trials
(docs/selection.md#in-the-optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MIN_POOLED_SLICES = 2


@dataclass(frozen=True)
class PooledSet:
    """One parameter set's standing across the pooled slices."""

    param_key: str
    slices: int
    worst_sharpe: float
    median_sharpe: float
    worst_expectancy_r: float

    def describe(self) -> str:
        return (
            f"pooled across {self.slices} symbols: worst Sharpe {self.worst_sharpe:.2f}, "
            f"median {self.median_sharpe:.2f}, worst {self.worst_expectancy_r:+.3f} R per trade"
        )


def rank_pooled(runs: pd.DataFrame, *, min_trades: int) -> list[PooledSet]:
    """Rank the sets of ``runs`` pooled across its slices, best first (module docstring).

    ``runs``: one row per (slice, set) with columns ``slice``, ``param_key``,
    ``total_trades``, ``expectancy_r`` and ``sharpe_ratio``, in grid order.
    """
    n_slices = runs["slice"].nunique()
    if n_slices < MIN_POOLED_SLICES:
        return []
    order = {key: i for i, key in enumerate(pd.unique(runs["param_key"]))}
    passing = runs[(runs["total_trades"] >= min_trades) & (runs["expectancy_r"] > 0)]
    per_set = passing.groupby("param_key", sort=False).agg(
        slices=("slice", "nunique"),
        worst_sharpe=("sharpe_ratio", "min"),
        median_sharpe=("sharpe_ratio", "median"),
        worst_r=("expectancy_r", "min"),
    )
    everywhere = per_set[per_set["slices"] == n_slices].copy()
    everywhere["order"] = [order[key] for key in everywhere.index]
    ranked = everywhere.sort_values(["worst_sharpe", "median_sharpe", "order"], ascending=[False, False, True])
    return [
        PooledSet(str(key), n_slices, float(row.worst_sharpe), float(row.median_sharpe), float(row.worst_r))
        for key, row in ranked.iterrows()
    ]
