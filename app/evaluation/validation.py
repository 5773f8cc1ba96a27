"""Validate backtest results: walk-forward, Monte Carlo, robust parameters, a lookahead guard (pure).

No Flask and no SQLAlchemy: candle DataFrames, trade dicts and metrics tables
in, JSON-safe values out (ints, finite floats, ISO-8601 strings, None).

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

Stability (``stability_scores``)
    The metric averaged over a combination and its grid neighbours: rows that
    differ in exactly one parameter by one step, as the strategy's declared
    space defines a step. Numeric parameters step to the adjacent value in the
    sorted list of that parameter's distinct values in the table; choices and
    booleans have no order, so every other value is one step away.
    Combinations absent from the table (and NaN metric values) are simply not
    counted.

Lookahead guard (``check_prefix_invariance``)
    A strategy's setups (bar, direction, levels and its extra columns) found
    on ``candles[:k+1]`` must equal the setups of the whole history with
    ``index <= k``, compared as arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from app.core.candles import validate_candles
from app.core.costs import TAKER, CostModel, resolve_costs
from app.core.engine import (
    INT_METRICS,
    METRIC_NAMES,
    STATUS_FILLED,
    OutcomeTable,
    aggregate_metrics,
    metrics_row_to_dict,
    prepare_market,
)
from app.evaluation.backtest import DEFAULT_MAX_WAIT_BARS, market_arrays, run_backtest, run_backtest_grid
from app.evaluation.scoring import RANKING_METRICS, check_metric, composite_score, composite_scores, rank_order
from app.strategies import ParameterSpace, Setups, get_strategy

MIN_TRAIN_CANDLES = 50  # below this a train part holds too few patterns (swing length 5, ATR 14) to rank anything
MIN_TEST_CANDLES = 20
PERCENTILES = (5, 25, 50, 75, 95)
MC_METHODS = ("shuffle", "bootstrap")
MAX_VIOLATIONS_PER_CUT = 3


# --------------------------------------------------------------------------- small helpers


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _integer(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _safe(value: Any) -> Any:
    """Return ``value`` as a plain JSON-safe Python value (numpy scalars unwrapped, non-finite floats -> 0.0)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    return value


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).isoformat()


def _params_dict(table: pd.DataFrame, position: int, space: ParameterSpace) -> dict[str, Any]:
    """Return the parameters of the table's row at ``position`` in the space's canonical form.

    Read column by column: a row Series of an all-numeric table is upcast to
    float, and an int parameter (e.g. a period) would come back as 48.0.
    """
    return space.validate({name: _safe(table[name].iloc[position]) for name in space.names})


# --------------------------------------------------------------------------- walk-forward


def walk_forward_windows(
    n_candles: int, *, train_pct: float = 0.7, test_pct: float = 0.3, n_splits: int = 5, anchored: bool = False
) -> list[tuple[int, int, int, int]]:
    """Return ``(train_start, train_end, test_start, test_end)`` positions (end exclusive) of each window.

    See the module docstring for the scheme. Raises ValueError naming the
    argument for a percentage outside (0, 1), ``n_splits < 1`` or too few
    candles per part (``MIN_TRAIN_CANDLES``, ``MIN_TEST_CANDLES``).
    """
    train = _number(train_pct, "train_pct")
    test = _number(test_pct, "test_pct")
    if not 0 < train < 1:
        raise ValueError(f"train_pct must be between 0 and 1 (exclusive), got {train_pct!r}")
    if not 0 < test < 1:
        raise ValueError(f"test_pct must be between 0 and 1 (exclusive), got {test_pct!r}")
    splits = _integer(n_splits, "n_splits", minimum=1)
    n = _integer(n_candles, "n_candles", minimum=0)
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
    min_trades = _integer(min_trades, "min_trades", minimum=0)
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
        params = _params_dict(grid, best, space)
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
                "train_start": _iso(frame.index[a]),
                "train_end": _iso(frame.index[b - 1]),
                "test_start": _iso(frame.index[c]),
                "test_end": _iso(frame.index[d - 1]),
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


# --------------------------------------------------------------------------- Monte Carlo


def _distribution(samples: np.ndarray, confidence_level: float) -> dict[str, float]:
    """Return percentiles, mean and the central confidence interval of one simulated statistic."""
    tail = (1.0 - confidence_level) / 2.0 * 100.0
    qs = np.percentile(samples, [*PERCENTILES, tail, 100.0 - tail])
    out = {f"p{p}": float(q) for p, q in zip(PERCENTILES, qs[: len(PERCENTILES)], strict=True)}
    out["mean"] = float(np.mean(samples))
    out["ci_low"] = float(qs[-2])
    out["ci_high"] = float(qs[-1])
    return {key: _safe(value) for key, value in out.items()}


@njit(cache=True, inline="always")
def _walk(factor, loss, equity, peak, trough, worst, run, longest):  # pragma: no cover - numba
    """Apply one trade to a path's state; return it.

    State: equity, its running peak (from 1.0), the lowest equity since that
    peak, the worst drawdown fraction of the segments already closed, the
    current and the longest losing run (``loss`` is 1 or 0: no branch on a
    coin flip). A segment's drawdown ``(peak - trough) / peak`` is its largest
    (the value the per-step formula reaches), computed once when a new peak
    closes the segment (``_closed``).
    """
    equity *= factor
    if equity >= peak:
        worst = _closed(peak, trough, worst)
        peak = equity
        trough = equity
    trough = min(trough, equity)
    run = (run + 1) * loss
    return equity, peak, trough, worst, run, max(longest, run)


@njit(cache=True, inline="always")
def _closed(peak, trough, worst):  # pragma: no cover - numba
    return max(worst, (peak - trough) / peak)


@njit(cache=True, inline="always")
def _uniform(state):  # pragma: no cover - numba
    """The next uniform in [0, 1) of xoshiro256+ (``state``: 4 uint64, updated): its top 53 bits / 2**53."""
    result = state[0] + state[3]
    shifted = state[1] << np.uint64(17)
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= shifted
    state[3] = (state[3] << np.uint64(45)) | (state[3] >> np.uint64(19))
    return (result >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _shuffled_paths(factors, losses, state, sims):  # pragma: no cover - numba
    """Return (final equity, max drawdown %, longest losing streak) of ``sims`` shuffled trade orders.

    A forward Fisher-Yates shuffle, fused with the path walk: at step ``i``
    the trade at position ``j = i + floor(u * (n - i))`` is swapped in and is
    final, so it is applied to the path at once (one pass, no order matrix).
    ``u`` comes from xoshiro256+ (``_uniform``), inlined here: a call into
    numpy's generator per draw cost 7 of the 11 ns of a step. The buffer
    carries over between rows: a uniform permutation of any order is still uniform.
    """
    n = factors.shape[0]
    final, drawdown, streak = np.empty(sims), np.empty(sims), np.empty(sims)
    perm = np.arange(n)
    for s in range(sims):
        equity, peak, trough, worst, run, longest = 1.0, 1.0, 1.0, 0.0, 0, 0
        for i in range(n):
            j = min(i + int(_uniform(state) * (n - i)), n - 1)
            t = perm[j]
            perm[j] = perm[i]
            perm[i] = t
            equity, peak, trough, worst, run, longest = _walk(
                factors[t], losses[t], equity, peak, trough, worst, run, longest
            )
        final[s], drawdown[s], streak[s] = equity, _closed(peak, trough, worst) * 100.0, longest
    return final, drawdown, streak


@njit(cache=True)
def _drawn_paths(factors, losses, order):  # pragma: no cover - numba
    """Return (final equity, max drawdown %, longest losing streak) of every row of trade positions ``order``."""
    sims, n = order.shape
    final, drawdown, streak = np.empty(sims), np.empty(sims), np.empty(sims)
    for s in range(sims):
        equity, peak, trough, worst, run, longest = 1.0, 1.0, 1.0, 0.0, 0, 0
        for k in range(n):
            t = order[s, k]
            equity, peak, trough, worst, run, longest = _walk(
                factors[t], losses[t], equity, peak, trough, worst, run, longest
            )
        final[s], drawdown[s], streak[s] = equity, _closed(peak, trough, worst) * 100.0, longest
    return final, drawdown, streak


def monte_carlo_simulation(
    trades: Sequence[dict[str, Any]],
    n_simulations: int = 1000,
    confidence_level: float = 0.95,
    *,
    method: str = "shuffle",
    seed: int | None = None,
    drawdown_threshold: float = 20.0,
    risk_per_trade_pct: float | None = None,
) -> dict[str, Any]:
    """Resample a trade sequence many times and report the spread of return, drawdown and losing streaks.

    ``trades``: dicts with ``return_pct`` (percent equity change) and
    ``r_multiple``; with ``risk_per_trade_pct`` every return is recomputed as
    ``r_multiple x risk_per_trade_pct`` (re-sizing a backtest). ``method``:
    'shuffle' permutes the trades (the final equity is then the same in every
    simulation, only the path changes) or 'bootstrap' draws them with
    replacement. Equity compounds like the engine: from 1.0, ``equity *= 1 +
    return_pct / 100``, floored at 0. Statistics per simulation: total return
    %, max drawdown % (peak includes the start), max consecutive losses (a
    loss is ``r_multiple <= 0``) and final equity; each reported as p5, p25,
    p50, p75, p95 (numpy's linear percentiles), mean and ``ci_low``/``ci_high``
    (the central ``confidence_level`` interval). ``prob_drawdown_exceeds`` is
    the share of simulations whose max drawdown is strictly above
    ``drawdown_threshold``. Same ``seed`` -> same answer. No trades: every
    statistic is 0 except the final equity (1.0, the untouched start).

    Draws (part of the reproducibility contract): ``rng =
    np.random.default_rng(seed)``; shuffle: the uniforms ``u`` (row by row,
    ``n`` per simulation) are xoshiro256+ from the state ``rng.integers(0,
    2**64, size=4, dtype=uint64)`` (first word made odd), each its top 53
    bits / 2**53; per
    simulation a forward Fisher-Yates shuffle of one buffer (``arange(n)`` at
    first, carried over from the previous simulation): step ``i`` swaps
    positions ``i`` and ``min(i + floor(u[s, i] * (n - i)), n - 1)`` and trade
    ``buffer[i]`` is the path's ``i``-th; bootstrap orders ``rng.integers(0,
    n, size=(n_simulations, n))``. (Until 2026-12 shuffle used
    ``rng.permuted``, 5x slower, then ``rng.random``, 2x slower, for the same
    distribution.) The paths are
    walked in compiled code (``_walk``), which keeps Monte Carlo a small share
    of an optimizer slice.
    """
    sims, level, threshold = _mc_options(n_simulations, confidence_level, method, seed, drawdown_threshold)
    risk = None if risk_per_trade_pct is None else _number(risk_per_trade_pct, "risk_per_trade_pct")
    if risk is not None and risk <= 0:
        raise ValueError(f"risk_per_trade_pct must be > 0, got {risk_per_trade_pct!r}")
    if isinstance(trades, dict | str) or not isinstance(trades, Sequence):
        raise ValueError("trades must be a list of trade dicts")
    r_mult = np.empty(len(trades), np.float64)
    returns = np.empty(len(trades), np.float64)
    for k, trade in enumerate(trades):
        if not isinstance(trade, dict) or "r_multiple" not in trade or (risk is None and "return_pct" not in trade):
            raise ValueError(f"trades[{k}] must be a dict with r_multiple and return_pct")
        r_mult[k] = _number(trade["r_multiple"], f"trades[{k}].r_multiple")
        returns[k] = r_mult[k] * risk if risk is not None else _number(trade["return_pct"], f"trades[{k}].return_pct")
    return _simulate(r_mult, returns, sims=sims, level=level, method=method, seed=seed, threshold=threshold)


def monte_carlo_returns(
    r_multiple: np.ndarray,
    return_pct: np.ndarray,
    n_simulations: int = 1000,
    confidence_level: float = 0.95,
    *,
    method: str = "shuffle",
    seed: int | None = None,
    drawdown_threshold: float = 20.0,
) -> dict[str, Any]:
    """``monte_carlo_simulation`` of a trade sequence given as two finite arrays (no dict per trade).

    The optimizer's slices hold the best run's trades as columns; this is the
    same simulation, same draws and same result without building thousands of
    dicts first.
    """
    sims, level, threshold = _mc_options(n_simulations, confidence_level, method, seed, drawdown_threshold)
    r_mult = np.asarray(r_multiple, dtype=np.float64)
    returns = np.asarray(return_pct, dtype=np.float64)
    if (
        r_mult.shape != returns.shape
        or r_mult.ndim != 1
        or not (np.isfinite(r_mult).all() and np.isfinite(returns).all())
    ):
        raise ValueError("r_multiple and return_pct must be finite 1-D arrays of the same length")
    return _simulate(r_mult, returns, sims=sims, level=level, method=method, seed=seed, threshold=threshold)


def _mc_options(
    n_simulations: Any, confidence_level: Any, method: Any, seed: Any, drawdown_threshold: Any
) -> tuple[int, float, float]:
    """Check the Monte Carlo options shared by both entry points; return (simulations, level, threshold)."""
    sims = _integer(n_simulations, "n_simulations", minimum=1)
    level = _number(confidence_level, "confidence_level")
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1 (exclusive), got {confidence_level!r}")
    if method not in MC_METHODS:
        raise ValueError(f"method must be one of {', '.join(MC_METHODS)}; got {method!r}")
    threshold = _number(drawdown_threshold, "drawdown_threshold")
    if threshold < 0:
        raise ValueError(f"drawdown_threshold must be >= 0, got {drawdown_threshold!r}")
    if seed is not None:
        _integer(seed, "seed", minimum=0)
    return sims, level, threshold


def _simulate(
    r_mult: np.ndarray, returns: np.ndarray, *, sims: int, level: float, method: str, seed: int | None, threshold: float
) -> dict[str, Any]:
    """Run the checked simulation (see ``monte_carlo_simulation``) on the trades' R multiples and returns."""
    n = len(r_mult)
    result: dict[str, Any] = {
        "method": method,
        "n_simulations": sims,
        "n_trades": n,
        "seed": None if seed is None else int(seed),
        "confidence_level": level,
        "drawdown_threshold": threshold,
    }
    if n == 0:
        zero = {**{f"p{p}": 0.0 for p in PERCENTILES}, "mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        one = {key: 1.0 for key in zero}
        result.update(
            total_return_pct=dict(zero),
            max_drawdown_pct=dict(zero),
            max_consecutive_losses=dict(zero),
            final_equity=one,
            prob_drawdown_exceeds=0.0,
        )
        return result

    rng = np.random.default_rng(seed)
    # The engine's floor: max(0, equity * factor) stays 0 after ruin, which a factor floored at 0 reproduces.
    factors = np.maximum(1.0 + returns / 100.0, 0.0)
    losses = (r_mult <= 0.0).astype(np.int64)
    if method == "shuffle":
        state = rng.integers(0, 2**64, size=4, dtype=np.uint64)
        state[0] |= np.uint64(1)  # xoshiro's one forbidden state is all zeros
        final, drawdown, streak = _shuffled_paths(factors, losses, state, sims)
    else:
        final, drawdown, streak = _drawn_paths(factors, losses, rng.integers(0, n, size=(sims, n)))
    result.update(
        total_return_pct=_distribution((final - 1.0) * 100.0, level),
        max_drawdown_pct=_distribution(drawdown, level),
        max_consecutive_losses=_distribution(streak, level),
        final_equity=_distribution(final, level),
        prob_drawdown_exceeds=float(np.mean(drawdown > threshold)),
    )
    return result


# --------------------------------------------------------------------------- robust parameters


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
    min_trades = _integer(min_trades, "min_trades", minimum=0)
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
            "params": _params_dict(metrics, pos, space),
            "value": _safe(float(values[pos])),
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


# --------------------------------------------------------------------------- lookahead guard


def _cut_points(n: int, setup_bars: np.ndarray, *, n_cuts: int, seed: int) -> list[int]:
    """Return sorted cut bars: the edges, random bars of the second half and bars where setups appear."""
    rng = np.random.default_rng(seed)
    cuts = {0, 1, 2, n // 2, n - 2, n - 1}
    half = np.arange(n // 2, n)
    cuts.update(rng.choice(half, size=min(n_cuts, half.size), replace=False).tolist())
    # A setup that peeks at later candles shows exactly at (or just after) the bar it is reported at.
    indices = np.unique(setup_bars).astype(np.int64)
    if indices.size:
        picked = rng.choice(indices, size=min(n_cuts, indices.size), replace=False)
        cuts.update(picked.tolist())
        cuts.update((picked + 1).tolist())
    return sorted(k for k in cuts if 0 <= k < n)


def _compare_setups(k: int, prefix: Setups, expected: Setups, when: str) -> list[str]:
    """Return what differs between two setup tables, matched on (bar, direction); NaN equals NaN."""
    problems = []
    mine = {key: i for i, key in enumerate(zip(prefix.index.tolist(), prefix.direction.tolist(), strict=True))}
    full = {key: i for i, key in enumerate(zip(expected.index.tolist(), expected.direction.tolist(), strict=True))}
    missing, extra = sorted(set(full) - set(mine)), sorted(set(mine) - set(full))
    if missing:
        problems.append(
            f"cut at bar {k} ({when}): setups {missing[:5]} of the full run are missing from the prefix run"
        )
    if extra:
        problems.append(f"cut at bar {k} ({when}): the prefix run has extra setups {extra[:5]}")
    shared = sorted(set(mine) & set(full))
    rows_mine = np.asarray([mine[key] for key in shared], dtype=np.int64)
    rows_full = np.asarray([full[key] for key in shared], dtype=np.int64)
    full_columns = expected.columns()
    for name, values in prefix.columns().items():
        if name not in full_columns:
            problems.append(f"cut at bar {k} ({when}): column {name} only in the prefix run")
            continue
        a, b = values[rows_mine], full_columns[name][rows_full]
        same = (a == b) | (pd.isna(a) & pd.isna(b))
        for pos in np.flatnonzero(~same)[:MAX_VIOLATIONS_PER_CUT].tolist():
            problems.append(
                f"cut at bar {k} ({when}): setup at bar {shared[pos][0]} differs: "
                f"{name}: prefix {a[pos]!r} vs full {b[pos]!r}"
            )
    return problems[: MAX_VIOLATIONS_PER_CUT + 2]


def _without_pending_levels(setups: Setups, k: int) -> Setups:
    """Blank the levels of setups signalled at bar ``k``: a market order placed at its close fills at the next open."""
    pending = setups.index == k
    if not pending.any():
        return setups
    blank = {name: np.where(pending, np.nan, getattr(setups, name)) for name in ("entry", "stop", "target")}
    return Setups(index=setups.index, direction=setups.direction, extra=setups.extra, **blank)


def check_prefix_invariance(
    candles: pd.DataFrame,
    *,
    strategy: str,
    params: dict[str, Any] | None = None,
    n_cuts: int = 20,
    seed: int = 0,
) -> list[str]:
    """Return lookahead violations of a strategy (empty when its setups are causal on these candles).

    The setups of ``candles.iloc[:k+1]`` must equal the full run's setups
    with ``index <= k``, every column (bar, direction, levels, extras),
    compared as arrays. The full frame is evaluated once; cuts are the edges
    (bars 0, 1, 2, the middle, the last two), ``n_cuts`` random bars of the
    second half and up to ``n_cuts`` bars where the full run reports a setup
    (plus the bar after each), since a peek at later candles shows right
    there. A market-entry strategy's levels of a signal on the cut bar itself
    are not compared (they come from the next open, which the prefix cannot
    know); its bar and direction are. ``params`` default to the strategy's defaults. Pattern strategies
    look their detector up by name, so one registered by a test is what gets
    checked. A prefix run that raises is a violation too.
    """
    if not isinstance(candles, pd.DataFrame) or len(candles) == 0:
        raise ValueError("candles must be a non-empty pandas DataFrame")
    n_cuts = _integer(n_cuts, "n_cuts", minimum=0)
    seed = _integer(seed, "seed", minimum=0)
    chosen = get_strategy(strategy)
    checked = chosen.space.validate(params)
    frame = validate_candles(candles, source="candles")
    full = chosen.setups(market_arrays(frame), checked)
    violations: list[str] = []
    for k in _cut_points(len(frame), full.index, n_cuts=n_cuts, seed=seed):
        when = _iso(frame.index[k])
        try:
            prefix = chosen.setups(market_arrays(frame.iloc[: k + 1]), checked)
        except Exception as exc:  # a crash on a prefix is as much a causality bug as a wrong answer
            violations.append(f"cut at bar {k} ({when}): the strategy raised {exc!r} on the prefix")
            continue
        expected = full.take(full.index <= k)
        if chosen.entry_order == TAKER:  # a market entry's levels come from the next open: unknown at bar k
            prefix, expected = _without_pending_levels(prefix, k), _without_pending_levels(expected, k)
        violations.extend(_compare_setups(k, prefix, expected, when))
    return violations
