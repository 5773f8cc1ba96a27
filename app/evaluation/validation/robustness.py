"""Robust parameters: a combination scored with its grid neighbours, and the best such (pure).

Stability (``stability_scores``)
    The metric averaged over a combination and its grid neighbours: rows that
    differ in exactly one parameter by one step, as the strategy's declared
    space defines a step. Numeric parameters step to the adjacent value in the
    sorted list of that parameter's distinct values in the table; choices and
    booleans have no order, so every other value is one step away.
    Combinations absent from the table (and NaN metric values) are simply not
    counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.evaluation.scoring import RANKING_METRICS, check_metric, composite_scores
from app.evaluation.validation.values import integer, json_safe, params_dict
from app.strategies import ParameterSpace


def _metric_values(metrics: pd.DataFrame, metric: str) -> np.ndarray:
    if metric in metrics.columns:
        return metrics[metric].to_numpy(dtype=np.float64)
    if metric == "composite_score":
        return composite_scores(metrics, min_trades=0)
    raise ValueError(f"metrics has no column {metric!r}")


def stability_scores(metrics: pd.DataFrame, *, space: ParameterSpace, metric: str = "composite_score") -> np.ndarray:
    """Return, for every row, ``metric`` averaged over the row and its grid neighbours (module docstring).

    ``metrics``: one row per combination with a column per parameter of
    ``space`` and the metric column (a missing ``composite_score`` is computed
    without the thin-run penalty). Rows whose own and neighbours' values are
    all NaN get NaN. Duplicate combinations raise ValueError.
    """
    if not isinstance(metrics, pd.DataFrame):
        raise ValueError("metrics must be a pandas DataFrame")
    check_metric(metric)
    names = list(space.names)
    missing = [name for name in names if name not in metrics.columns]
    if missing:
        raise ValueError(f"metrics is missing parameter column(s) {', '.join(missing)}")
    if len(metrics) == 0:
        return np.empty(0, np.float64)
    values = _metric_values(metrics, metric)
    codes = []
    for name in names:
        column = metrics[name].tolist()
        distinct = sorted(set(column), key=lambda v: (str(type(v)), v))
        lookup = {value: i for i, value in enumerate(distinct)}
        codes.append(np.array([lookup[v] for v in column], np.int64))
    shape = tuple(int(c.max()) + 1 for c in codes)
    where = tuple(codes)
    if np.unique(np.ravel_multi_index(where, shape)).size != len(metrics):
        raise ValueError("metrics lists a parameter combination twice")
    # Dense grid: sum and count of the finite values; absent combinations hold 0 and count 0.
    grid = np.zeros(shape, np.float64)
    present = np.zeros(shape, np.float64)
    finite = np.isfinite(values)
    grid[where] = np.where(finite, values, 0.0)
    present[where] = finite
    total, count = grid.copy(), present.copy()
    for axis, (_, ordered) in enumerate(space.neighbours_axes()):
        if shape[axis] < 2:
            continue
        if ordered:
            for src, dst in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
                take = [slice(None)] * len(shape)
                put = [slice(None)] * len(shape)
                take[axis], put[axis] = src, dst
                total[tuple(put)] += grid[tuple(take)]
                count[tuple(put)] += present[tuple(take)]
        else:  # every other category is one step away
            total += grid.sum(axis=axis, keepdims=True) - grid
            count += present.sum(axis=axis, keepdims=True) - present
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[where] > 0, total[where] / np.where(count[where] > 0, count[where], 1.0), np.nan)


def robust_best(
    metrics: pd.DataFrame,
    *,
    space: ParameterSpace,
    metric: str = "composite_score",
    min_trades: int = 10,
    stability: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return the raw best combination and the robust best (best stability score) of a metrics table.

    Only rows with ``total_trades >= min_trades`` and a finite value can be
    best; "best" follows the metric's direction (``scoring.RANKING_METRICS``:
    the lowest max_drawdown). Ties keep table order. Each of ``best`` and
    ``robust`` is ``{"position" (0-based row), "params", "value", "stability",
    "total_trades"}`` or None when no row qualifies; ``same`` says whether they
    are the same row. ``stability``: ``stability_scores`` of the same table
    and metric when the caller has them already.
    """
    check_metric(metric)
    min_trades = integer(min_trades, "min_trades", minimum=0)
    if not isinstance(metrics, pd.DataFrame) or "total_trades" not in metrics.columns:
        raise ValueError("metrics must be a DataFrame with a total_trades column")
    if stability is None:
        stability = stability_scores(metrics, space=space, metric=metric)
    values = _metric_values(metrics, metric) if len(metrics) else np.empty(0, np.float64)
    trades = metrics["total_trades"].to_numpy() if len(metrics) else np.empty(0, np.int64)
    sign = 1.0 if RANKING_METRICS[metric] else -1.0
    trusted = (trades >= min_trades) & np.isfinite(values)

    def pick(key: np.ndarray, eligible: np.ndarray) -> dict[str, Any] | None:
        rows = np.flatnonzero(eligible)
        if rows.size == 0:
            return None
        # Highest key first; ties: higher raw metric, then earlier row.
        pos = int(rows[np.lexsort((rows, -sign * values[rows], -sign * key[rows]))[0]])
        return {
            "position": pos,
            "params": params_dict(metrics, pos, space=space),
            "value": json_safe(float(values[pos])),
            "stability": None if not np.isfinite(stability[pos]) else float(stability[pos]),
            "total_trades": int(trades[pos]),
        }

    best = pick(values, trusted)
    robust = pick(stability, trusted & np.isfinite(stability))
    return {
        "metric": metric,
        "min_trades": min_trades,
        "best": best,
        "robust": robust,
        "same": best is not None and robust is not None and best["position"] == robust["position"],
    }
