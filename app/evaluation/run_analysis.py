"""Analyses of a slice's stored runs and of one run's trades (pure: pandas and numpy in, plain data out).

The optimizer's result services load the columns they need (parameters,
one metric, trade counts) and call these; nothing here touches the database.

- ``fold_matrix``: the (x, y) heatmap of a grid, folding the other parameters;
- ``variance_shares``: how much of a metric's variance each parameter explains;
- ``drawdown_curve`` and ``r_histogram``: what a run's trade page draws.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

FOLDS = ("max", "mean", "median")
R_BIN_WIDTH = 0.5


def value_order(values: Any) -> list[Any]:
    """Return the distinct values sorted: numbers numerically, then text (mixed types never compare)."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct, key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0, str(v)))


def fold_matrix(
    runs: pd.DataFrame, *, x: str, y: str, metric: str, fold: str, min_trades: int, higher_is_better: bool
) -> dict[str, Any]:
    """Fold runs into a y-by-x grid of cells, each the ``fold`` of ``metric`` over its qualifying runs.

    ``runs`` has columns ``run_id``, ``total_trades``, ``params`` (dicts),
    ``metric``. ``fold="max"`` takes the cell's best run: the highest value,
    or the lowest for a metric where lower is better (``max_drawdown``).
    A run qualifies with at least ``min_trades`` trades; a cell
    without one has value None. Each cell also names its best run (``run_id``,
    ``params``, ``trades``) so a click can open or apply it. ``best`` is the
    best cell and the mean of the values of it and its (up to 8) neighbours,
    so a lone spike next to poor cells is visible as such.
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {', '.join(FOLDS)}, not {fold!r}")
    frame = runs.assign(
        _x=[p.get(x) for p in runs["params"]],
        _y=[p.get(y) for p in runs["params"]],
    )
    x_values, y_values = value_order(frame["_x"]), value_order(frame["_y"])
    qualifying = frame[frame["total_trades"] >= min_trades]
    groups = {key: group for key, group in qualifying.groupby(["_y", "_x"], sort=False)}
    cells = [[_cell(groups.get((yv, xv)), fold, higher_is_better) for xv in x_values] for yv in y_values]
    best = _best_cell(cells, x_values, y_values, higher_is_better=higher_is_better)
    return {"x_values": x_values, "y_values": y_values, "cells": cells, "best": best}


def _cell(group: pd.DataFrame | None, fold: str, higher_is_better: bool) -> dict[str, Any]:
    if group is None or group.empty:
        return {"value": None, "runs": 0, "trades": None, "run_id": None, "params": None}
    metric = group["metric"].to_numpy(dtype=np.float64)
    value = {"max": np.max if higher_is_better else np.min, "mean": np.mean, "median": np.median}[fold](metric)
    best = group.iloc[int(np.argmax(metric) if higher_is_better else np.argmin(metric))]
    return {
        "value": _finite(value),
        "runs": len(group),
        "trades": int(best["total_trades"]),
        "run_id": int(best["run_id"]),
        "params": best["params"],
    }


def _best_cell(
    cells: list[list[dict[str, Any]]], x_values: list[Any], y_values: list[Any], *, higher_is_better: bool
) -> dict[str, Any] | None:
    grid = np.array([[np.nan if c["value"] is None else c["value"] for c in row] for row in cells], dtype=np.float64)
    if grid.size == 0 or np.all(np.isnan(grid)):
        return None
    iy, ix = np.unravel_index(np.nanargmax(grid) if higher_is_better else np.nanargmin(grid), grid.shape)
    around = grid[max(iy - 1, 0) : iy + 2, max(ix - 1, 0) : ix + 2]
    return {
        "x": x_values[ix],
        "y": y_values[iy],
        "value": _finite(grid[iy, ix]),
        "neighbourhood_mean": _finite(np.nanmean(around)),
    }


def variance_shares(runs: pd.DataFrame, *, names: list[str]) -> list[dict[str, Any]]:
    """Return, per parameter, the share of the metric's variance its values explain (eta squared), largest first.

    ``runs`` has ``params`` (dicts) and ``metric``. For a parameter, the
    share is the variance of the per-value means (weighted by run counts)
    over the total variance: 1.0 when the metric depends on it alone, about
    0 when it does not matter. Shares of a full grid do not need to sum to 1
    (interactions). A metric constant over the runs gives every share 0.
    """
    metric = runs["metric"].to_numpy(dtype=np.float64)
    total = float(np.sum((metric - metric.mean()) ** 2)) if len(metric) else 0.0
    shares = []
    for name in names:
        values = pd.Series([_hashable(p.get(name)) for p in runs["params"]], index=runs.index)
        grouped = runs["metric"].groupby(values, dropna=False)
        between = float(np.sum(grouped.count() * (grouped.mean() - metric.mean()) ** 2)) if len(metric) else 0.0
        shares.append(
            {
                "parameter": name,
                "share": round(between / total, 6) if total > 0 else 0.0,
                "values": int(values.nunique()),
            }
        )
    return sorted(shares, key=lambda s: -s["share"])


def drawdown_curve(equity_curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the drawdown from the running peak after each equity point, in percent (0 or negative)."""
    equity = np.asarray([p["equity"] for p in equity_curve], dtype=np.float64)
    if equity.size == 0:
        return []
    peak = np.maximum.accumulate(equity)
    drawdown = np.where(peak > 0, (equity / np.where(peak > 0, peak, 1.0) - 1.0) * 100.0, 0.0)
    return [
        {"time": p["time"], "drawdown_pct": round(float(d), 6)} for p, d in zip(equity_curve, drawdown, strict=True)
    ]


def r_histogram(r_multiples: list[float], *, width: float = R_BIN_WIDTH) -> list[dict[str, Any]]:
    """Count trades per R-multiple bin of ``width`` (bins [low, high), from the lowest to the highest trade)."""
    values = np.asarray([r for r in r_multiples if math.isfinite(r)], dtype=np.float64)
    if values.size == 0:
        return []
    first = math.floor(values.min() / width)
    index = np.floor(values / width).astype(np.int64) - first
    counts = np.bincount(index)
    return [
        {"low": round((first + i) * width, 6), "high": round((first + i + 1) * width, 6), "count": int(n)}
        for i, n in enumerate(counts.tolist())
    ]


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
