"""Walk-forward validation: choose parameters on each train part, measure them on the next test part (pure).

Walk-forward windows (``walk_forward_windows``)
    Only the ratio ``train_pct : test_pct`` matters. With ``n`` candles and
    ``n_splits`` windows, every test part has ``S = floor(n * test_pct /
    (train_pct + n_splits * test_pct))`` candles and the test parts tile the
    END of the data: test ``k`` is ``[T + k S, T + (k + 1) S)`` with ``T = n -
    n_splits * S``, so consecutive test parts are adjacent, never overlap and
    the last one ends at the last candle. Rolling: train ``k`` is the ``T``
    candles right before test ``k`` (the first train starts at candle 0 and
    absorbs the rounding remainder, so ``T >= S * train_pct / test_pct``; a
    window is ``W = T + S = n / (1 + (n_splits - 1) * test_pct / (train_pct +
    test_pct))`` up to rounding). Anchored: train ``k`` is ``[0, T + k S)``.
    The first window is the same in both modes; no test part ever contains a
    candle of its own train part.

Warm-up of the test part (no lookahead, no lost history)
    Parameters are chosen on the train candles alone (``run_backtest_grid``;
    a rolling train window starts cold, like any backtest of that slice). The
    chosen parameters are then backtested with ``run_backtest`` on train +
    test candles, so swings, ATR(14) and the overlap filter of test-period
    patterns see the history a live system would have, and the run ends at the
    last test candle (nothing later is visible). Only trades whose setup was
    DETECTED inside the test part count out of sample (a setup detected in
    the train part that fills or exits during the test part is left out); the
    metrics of those trades are recomputed with the engine's own
    ``aggregate_metrics`` over the test candles (Sharpe/Sortino from the daily
    curve of the test period). The stitched summary does the same for all
    test trades together over the whole tested span, compounded in exit order.

Walk-forward efficiency
    ``mean out-of-sample expectancy_r / mean in-sample expectancy_r`` over the
    splits (expectancy in R per trade is comparable between a long train and a
    short test part; a test part without trades counts as 0 R). It is None
    (JSON null) when the mean in-sample expectancy is <= 0: the ratio has no
    meaning when the chosen parameters did not even make money in sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.core.candles import validate_candles
from app.core.costs import CostModel, resolve_costs
from app.core.engine import (
    INT_METRICS,
    METRIC_NAMES,
    STATUS_FILLED,
    OutcomeTable,
    aggregate_metrics,
    metrics_row_to_dict,
    prepare_market,
)
from app.evaluation.backtest import DEFAULT_MAX_WAIT_BARS, run_backtest, run_backtest_grid
from app.evaluation.scoring import check_metric, composite_score, composite_scores, rank_order
from app.evaluation.validation.values import integer, iso, number, params_dict
from app.strategies import ParameterSpace, get_strategy

MIN_TRAIN_CANDLES = 50  # below this a train part holds too few patterns (swing length 5, ATR 14) to rank anything
MIN_TEST_CANDLES = 20


def walk_forward_windows(
    n_candles: int, *, train_pct: float = 0.7, test_pct: float = 0.3, n_splits: int = 5, anchored: bool = False
) -> list[tuple[int, int, int, int]]:
    """Return ``(train_start, train_end, test_start, test_end)`` positions (end exclusive) of each window.

    See the module docstring for the scheme. Raises ValueError naming the
    argument for a percentage outside (0, 1), ``n_splits < 1`` or too few
    candles per part (``MIN_TRAIN_CANDLES``, ``MIN_TEST_CANDLES``).
    """
    train = number(train_pct, "train_pct")
    test = number(test_pct, "test_pct")
    if not 0 < train < 1:
        raise ValueError(f"train_pct must be between 0 and 1 (exclusive), got {train_pct!r}")
    if not 0 < test < 1:
        raise ValueError(f"test_pct must be between 0 and 1 (exclusive), got {test_pct!r}")
    splits = integer(n_splits, "n_splits", minimum=1)
    n = integer(n_candles, "n_candles", minimum=0)
    size = int(math.floor(n * test / (train + splits * test)))
    train_size = n - splits * size
    if size < MIN_TEST_CANDLES or train_size < MIN_TRAIN_CANDLES:
        raise ValueError(
            f"candles: {n} candles with n_splits={splits} give {train_size} train and {size} test candles per "
            f"window; need at least {MIN_TRAIN_CANDLES} and {MIN_TEST_CANDLES} (use fewer n_splits or more candles)"
        )
    windows = []
    for k in range(splits):
        test_start = train_size + k * size
        windows.append((0 if anchored else test_start - train_size, test_start, test_start, test_start + size))
    return windows


def _combinations(space: ParameterSpace, parameter_grid: dict[str, Any] | Sequence[dict[str, Any]]) -> list[dict]:
    """Return the validated combinations of a grid dict (or of an explicit list of parameter dicts)."""
    if isinstance(parameter_grid, dict):
        try:
            return space.expand(space.validate_grid(parameter_grid))
        except ValueError as exc:
            raise ValueError(f"parameter_grid: {exc}") from None
    if isinstance(parameter_grid, str) or not isinstance(parameter_grid, Sequence) or not parameter_grid:
        raise ValueError("parameter_grid must be a grid dict or a non-empty list of parameter dicts")
    combos = []
    for k, params in enumerate(parameter_grid):
        try:
            combos.append(space.validate(params))
        except ValueError as exc:
            raise ValueError(f"parameter_grid[{k}]: {exc}") from None
    return combos


def _trade_times(trades: list[dict[str, Any]], key: str) -> np.ndarray:
    if not trades:
        return np.empty(0, np.int64)
    return pd.DatetimeIndex(pd.to_datetime([t[key] for t in trades], utc=True)).as_unit("ns").asi8


def metrics_from_trades(
    trades: list[dict[str, Any]], candles: pd.DataFrame, *, risk_per_trade_pct: float
) -> dict[str, float | int]:
    """Return the engine's metrics of a trade list (in exit order) over the period ``candles`` cover.

    Trades are ``run_backtest`` trade dicts whose entry and exit candles
    lie in ``candles``; the metrics come from ``backtest_engine.aggregate_metrics``
    (same formulas, equity compounding and daily Sharpe/Sortino as a backtest
    of that period), so a subset of a backtest's trades is scored exactly as
    the engine would score it.
    """
    market = prepare_market(
        open_=candles["open"].to_numpy(),
        high=candles["high"].to_numpy(),
        low=candles["low"].to_numpy(),
        close=candles["close"].to_numpy(),
        time_ns=candles.index.as_unit("ns").asi8,
    )
    m = len(trades)
    table = OutcomeTable.allocate(1, m)
    row = table.row(0)
    entry_ns, exit_ns = _trade_times(trades, "entry_time"), _trade_times(trades, "exit_time")
    fill_bar = np.searchsorted(market.time_ns, entry_ns)
    exit_bar = np.searchsorted(market.time_ns, exit_ns)
    if m and (
        fill_bar.max() >= len(market)
        or exit_bar.max() >= len(market)
        or np.any(market.time_ns[fill_bar] != entry_ns)
        or np.any(market.time_ns[exit_bar] != exit_ns)
    ):
        raise ValueError("trades: every entry_time and exit_time must be a candle of the period")
    row.status[:] = STATUS_FILLED
    row.traded[:] = True
    row.fill_bar[:] = fill_bar
    row.exit_bar[:] = exit_bar
    row.exit_reason[:] = 0  # not read by the metrics
    row.exit_price[:] = [float(t["exit_price"]) for t in trades]
    row.r_multiple[:] = [float(t["r_multiple"]) for t in trades]
    row.planned_rr[:] = [float(t["planned_rr"]) for t in trades]
    row.hours[:] = [float(t["duration_hours"]) for t in trades]
    row.exit_day[:] = market.day[exit_bar] if m else 0
    metrics = aggregate_metrics(
        market,
        table,
        masks=np.ones((1, m), np.bool_),
        combo_level=np.zeros(1, np.int64),
        combo_filter=np.zeros(1, np.int64),
        risk_per_trade_pct=float(risk_per_trade_pct),
    )
    return metrics_row_to_dict(metrics[0])


def _row_metrics(row: pd.Series) -> dict[str, Any]:
    metrics = {name: int(row[name]) if name in INT_METRICS else float(row[name]) for name in METRIC_NAMES}
    metrics["composite_score"] = composite_score(metrics)
    return metrics


def walk_forward_validation(
    candles: pd.DataFrame,
    *,
    strategy: str,
    parameter_grid: dict[str, Any] | Sequence[dict[str, Any]],
    train_pct: float = 0.7,
    test_pct: float = 0.3,
    n_splits: int = 5,
    metric: str = "composite_score",
    anchored: bool = False,
    min_trades: int = 10,
    costs: str | CostModel | None = None,
) -> dict[str, Any]:
    """Choose parameters on each train part, trade them on the following test part, and report the drop.

    Windows, warm-up and efficiency follow the module docstring. In each
    window the grid runs on the train candles; rows get a ``composite_score``
    (with the thin-run penalty below ``min_trades``) and ``scoring.rank_order``
    by ``metric`` picks the best, so a thin run is chosen only when no train
    run has ``min_trades`` trades (the split is then marked ``trusted: false``).

    Returns ``{"settings", "splits", "summary"}``. Each split: ``train_start,
    train_end, test_start, test_end`` (ISO open times of the first and last
    candle of each part, inclusive), ``train_candles, test_candles``,
    ``params``, ``trusted``, ``in_sample`` and ``out_of_sample`` (the engine's
    metrics plus ``composite_score`` without the thin-run penalty). Summary:
    ``out_of_sample`` (all test trades stitched and compounded over the tested
    span), ``mean_in_sample_expectancy_r``, ``mean_out_of_sample_expectancy_r``,
    ``walk_forward_efficiency`` (None when undefined), ``efficiency_basis``,
    ``param_changes`` (consecutive windows whose chosen parameters differ) and
    ``param_change_fraction`` (of ``n_splits - 1`` transitions; 0.0 for one
    split), ``untrusted_splits``.
    """
    if not isinstance(candles, pd.DataFrame) or len(candles) == 0:
        raise ValueError("candles must be a non-empty pandas DataFrame")
    frame = validate_candles(candles, source="candles")
    check_metric(metric)
    min_trades = integer(min_trades, "min_trades", minimum=0)
    model = resolve_costs(costs)
    space = get_strategy(strategy).space  # ValueError naming the known strategies before any work
    combos = _combinations(space, parameter_grid)
    windows = walk_forward_windows(
        len(frame), train_pct=train_pct, test_pct=test_pct, n_splits=n_splits, anchored=bool(anchored)
    )
    risk = model.risk_per_trade_pct

    splits: list[dict[str, Any]] = []
    stitched: list[dict[str, Any]] = []
    for k, (a, b, c, d) in enumerate(windows):
        train, test_with_warmup = frame.iloc[a:b], frame.iloc[a:d]
        grid = run_backtest_grid(train, strategy=strategy, combinations=combos, costs=model)
        grid["composite_score"] = composite_scores(grid, min_trades=min_trades)
        best = int(rank_order(grid, metric=metric, min_trades=min_trades)[0])
        chosen = grid.iloc[best]
        params = params_dict(grid, best, space=space)
        run = run_backtest(
            test_with_warmup, strategy=strategy, params=params, costs=model, max_wait_bars=DEFAULT_MAX_WAIT_BARS
        )
        test_start_ns = frame.index[c].value
        detected = _trade_times(run["trades"], "detected_at")
        oos_trades = [t for t, ns in zip(run["trades"], detected.tolist(), strict=True) if ns >= test_start_ns]
        stitched.extend(oos_trades)
        oos = metrics_from_trades(oos_trades, frame.iloc[c:d], risk_per_trade_pct=risk)
        oos["composite_score"] = composite_score(oos)
        splits.append(
            {
                "split": k,
                "train_start": iso(frame.index[a]),
                "train_end": iso(frame.index[b - 1]),
                "test_start": iso(frame.index[c]),
                "test_end": iso(frame.index[d - 1]),
                "train_candles": b - a,
                "test_candles": d - c,
                "params": params,
                "trusted": bool(int(chosen["total_trades"]) >= min_trades),
                "in_sample": _row_metrics(chosen),
                "out_of_sample": oos,
            }
        )

    first_test = windows[0][2]
    overall = metrics_from_trades(stitched, frame.iloc[first_test:], risk_per_trade_pct=risk)
    overall["composite_score"] = composite_score(overall)
    mean_is = float(np.mean([s["in_sample"]["expectancy_r"] for s in splits]))
    mean_oos = float(np.mean([s["out_of_sample"]["expectancy_r"] for s in splits]))
    changes = sum(1 for prev, cur in zip(splits, splits[1:], strict=False) if prev["params"] != cur["params"])
    summary = {
        "out_of_sample": overall,
        "mean_in_sample_expectancy_r": mean_is,
        "mean_out_of_sample_expectancy_r": mean_oos,
        "walk_forward_efficiency": mean_oos / mean_is if mean_is > 0 else None,
        "efficiency_basis": "mean out-of-sample expectancy_r / mean in-sample expectancy_r",
        "param_changes": changes,
        "param_change_fraction": changes / (len(splits) - 1) if len(splits) > 1 else 0.0,
        "untrusted_splits": sum(1 for s in splits if not s["trusted"]),
    }
    settings = {
        "strategy": strategy,
        "train_pct": float(train_pct),
        "test_pct": float(test_pct),
        "n_splits": len(windows),
        "anchored": bool(anchored),
        "metric": metric,
        "min_trades": min_trades,
        "costs": model.as_dict(),
        "combinations": len(combos),
        "candles": len(frame),
        "test_window_candles": windows[0][3] - windows[0][2],
        "warmup": "train candles precede each test part; only setups detected in the test part count",
    }
    return {"settings": settings, "splits": splits, "summary": summary}
