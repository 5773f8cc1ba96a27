"""Evaluate one optimization slice in a worker process (pure: no Flask, no SQLAlchemy).

A slice is one (symbol, timeframe, strategy) with its candles and the
strategy's grid. The worker runs the grid in one call of the strategy's grid
kernel, scores every run (composite and stability scores), keys every
parameter set, takes the best set's single run from the grid (``Strategy.grid``;
what ``run_backtest`` gives, bit for bit) to keep its trades, and adds the job's overfitting
checks: the robust best (by stability), Monte Carlo on the best run's trades,
and walk-forward validation when the job asks for it; and the per-regime
results of the top runs (``regime_evaluation``: the best run's trades are
stored with the regime known at their signal). It never raises: a failure
comes back as ``error`` so the job can record it and go on. A task may also
ask for its strategy's lookahead check first (``lookahead_verdict``): the
runner's guard runs in the workers, beside the other slices.

Speed: everything but the kernel is per-slice overhead, so the worker prepares
the candles' arrays once for the grid and the best run, keeps the best run's
trades as columns (a dict per trade only for what a reader asks for), and
serializes each run's parameters itself, so the runner's process (the only
database writer) just binds ready values. ``kernel_seconds`` and
``cpu_seconds`` let the benchmark show the split.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from app.core.costs import CostModel
from app.enums import ValidationMode
from app.evaluation.backtest import (
    DEFAULT_MAX_WAIT_BARS,
    compounded_equity,
    grid_frame,
    market_arrays,
)
from app.evaluation.regime_evaluation import evaluate_regimes, regime_candidates
from app.evaluation.scoring import RANKING_METRICS, composite_scores, rank_order
from app.evaluation.selection.slice_report import selection_report
from app.evaluation.validation import (
    check_prefix_invariance,
    monte_carlo_returns,
    robust_best,
    stability_scores,
    walk_forward_validation,
)
from app.strategies import ParameterSpace, get_strategy
from app.strategies.base import TIME_FIELDS, iso_times, records_from_columns, trade_columns

# The best run's stored result keeps at most this many trades (newest last), so results_json stays small.
MAX_STORED_TRADES = 2_000

SliceKey = tuple[str, str, str]
# The lookahead check runs on at most this many of a slice's newest candles: any stretch of a series tests
# causality alike, while its ~30 prefix runs cost in proportion to the length (0.9 s on 87,600 30m bars, 0.1 s here).
LOOKAHEAD_CANDLES = 10_000
LOOKAHEAD_CUTS = 10  # random cuts of the check (``check_prefix_invariance``'s n_cuts)
# The guard's own code besides the strategy's (``Strategy.code_version``): a change here may change a verdict.
GUARD_MODULES = (
    "app.evaluation.validation.lookahead",
    "app.evaluation.slice_eval",
    "app.evaluation.backtest",
    "app.strategies.base",
    "app.core.candles",
)


@dataclass(frozen=True)
class GridRows:
    """What every slice of one grid stores alike: each combination's canonical key and its parameters as JSON."""

    param_keys: tuple[str, ...]
    params_json: tuple[str, ...]


def grid_rows(space: ParameterSpace, combinations: list[dict[str, Any]]) -> GridRows:
    """Return the keys (``space.key``) and compact JSON of ``combinations``, in their order."""
    return GridRows(
        param_keys=tuple(space.key(params) for params in combinations),
        params_json=tuple(json.dumps(params, separators=(",", ":")) for params in combinations),
    )


@dataclass(frozen=True)
class SliceTask:
    """Everything a worker needs to evaluate one slice; picklable."""

    symbol: str
    timeframe: str
    strategy: str
    candles: pd.DataFrame  # validated (docs/design-rules.md#candles): the loader's job, not repeated per slice
    # Canonical parameter sets (``space.expand`` of a validated grid): the kernel takes them as they are.
    combinations: list[dict[str, Any]]
    costs: CostModel
    ranking_metric: str
    min_trades: int
    validation: str = ValidationMode.NONE
    monte_carlo: bool = False
    seed: int = 0
    # ``grid_rows(space, combinations)`` when the caller has it (one grid serves many slices); else computed here.
    rows: GridRows | None = None
    # ``candles_fingerprint(candles)`` when the caller has it (one candle set serves every strategy); else computed.
    fingerprint: str | None = None
    # Set: first check the strategy for lookahead on these candles (``lookahead_verdict``, cut points from this seed).
    lookahead_seed: int | None = None
    # The trial ledger: parameter sets earlier jobs evaluated for this (symbol, timeframe, strategy).
    prior_trials: int = 0

    @property
    def key(self) -> SliceKey:
        return (self.symbol, self.timeframe, self.strategy)


@dataclass
class SliceResult:
    """What a worker found for one slice: one metrics row per combination (with its key), or an error."""

    key: SliceKey
    fingerprint: str
    metrics: pd.DataFrame | None = None
    param_keys: list[str] = field(default_factory=list)
    best_position: int | None = None
    robust_position: int | None = None
    # Per rankable metric, the best run among those with >= min_trades trades (None: no run qualifies).
    best_by_metric: dict[str, int | None] = field(default_factory=dict)
    best_result: dict[str, Any] = field(default_factory=dict)  # ``compact_details`` of the best run
    best_json: str | None = None  # the same as stored in the best run's results_json (JSON text)
    params_json: list[str] = field(default_factory=list)  # each run's parameters as stored (compact JSON)
    checks: dict[str, Any] = field(default_factory=dict)
    lookahead: dict[str, Any] | None = None  # ``lookahead_verdict`` when the task asked for it
    error: str | None = None
    seconds: float = 0.0  # wall time in the worker
    cpu_seconds: float = 0.0  # CPU time in the worker (comparable on a busy machine)
    kernel_seconds: float = 0.0  # CPU time in the strategy's grid kernel
    lookahead_seconds: float = 0.0  # CPU time of the lookahead check (the job's, not the slice's: not overhead)
    selection_seconds: float = 0.0  # CPU time of the selection statistics (``selection_report``)


def candles_fingerprint(candles: pd.DataFrame) -> str:
    """Return the SHA-256 of the candles' timestamps and OHLCV values (identifies the exact data)."""
    digest = hashlib.sha256(candles.index.as_unit("ms").asi8.tobytes())
    digest.update(candles[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64").tobytes())
    return digest.hexdigest()


def evaluate_slice(task: SliceTask) -> SliceResult:
    """Run the task's grid, add composite and stability scores, and keep the best run's trades."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = SliceResult(key=task.key, fingerprint=task.fingerprint or candles_fingerprint(task.candles))
    if task.lookahead_seed is not None:
        result.lookahead = lookahead_verdict(task, seed=task.lookahead_seed)
        result.lookahead_seconds = time.process_time() - cpu_started
    try:
        if not result.lookahead or result.lookahead["status"] != "violated":  # a leaky strategy's grid is moot
            _evaluate(task, result)
    except Exception as exc:  # noqa: BLE001 - a slice failure is data for the job, not a crash
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


def lookahead_seed(fingerprint: str) -> int:
    """The seed of the lookahead check's random cuts on candles with this ``candles_fingerprint``: the same
    candles always get the same cuts, so the check is a pure function of code, settings and candles."""
    return int(fingerprint[:8], 16)


def lookahead_check_key(strategy: str, fingerprint: str) -> str:
    """Return the SHA-256 (hex) of everything a lookahead verdict on these candles depends on.

    The strategy's name and code (``code_version``: its module and its
    ``code_modules``), the guard's code (``GUARD_MODULES``), its settings
    (window, cuts, seed, the parameter sets it checks: ``guard_params``) and the
    fingerprint of the slice's candles (the window is cut from them). Equal
    keys mean an identical check: its verdict may be reused; any change gives
    a new key, so the check runs again.
    """
    chosen = get_strategy(strategy)
    digest = hashlib.sha256()
    for name in GUARD_MODULES:
        digest.update(inspect.getsource(sys.modules[name]).encode())
    settings = {
        "strategy": strategy,
        "code_version": chosen.code_version(),
        "params": [chosen.space.validate(p) for p in chosen.guard_params],
        "candles": LOOKAHEAD_CANDLES,
        "cuts": LOOKAHEAD_CUTS,
        "seed": lookahead_seed(fingerprint),
        "fingerprint": fingerprint,
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def lookahead_verdict(task: SliceTask, *, seed: int) -> dict[str, Any]:
    """Check the task's strategy for prefix invariance on its newest ``LOOKAHEAD_CANDLES`` candles
    (``check_prefix_invariance`` of each of its ``guard_params``, ``LOOKAHEAD_CUTS`` random cuts from ``seed``).

    Returns ``{"status": "ok" | "violated", "checked_on", "code_version",
    "violations"}``, or ``"not checked"`` with the error when the check
    itself crashed (the slice then records it too).
    """
    strategy = get_strategy(task.strategy)
    candles = task.candles.iloc[-LOOKAHEAD_CANDLES:]
    try:
        violations = []
        for params in strategy.guard_params:  # the defaults first, then each path they leave off
            found = check_prefix_invariance(
                candles, strategy=task.strategy, params=params, n_cuts=LOOKAHEAD_CUTS, seed=seed
            )
            violations += [f"with {params}: {v}" if params else v for v in found]
    except Exception as exc:  # noqa: BLE001 - the slice fails on its own and records it
        return {"status": "not checked", "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": "violated" if violations else "ok",
        "checked_on": f"{'|'.join(task.key)} (newest {len(candles):,} candles)",
        "code_version": strategy.code_version(),
        "violations": violations[:20],
    }


def _evaluate(task: SliceTask, result: SliceResult) -> None:
    strategy = get_strategy(task.strategy)
    space = strategy.space
    market = market_arrays(task.candles)  # validated by whoever loaded them (load_candles, read_candles_csv)
    kernel_started = time.process_time()
    grid = strategy.grid(market, task.combinations, costs=task.costs, max_wait_bars=DEFAULT_MAX_WAIT_BARS)
    result.kernel_seconds = time.process_time() - kernel_started
    metrics = grid_frame(strategy, combos=task.combinations, metrics=grid.metrics)
    metrics["composite_score"] = composite_scores(metrics, min_trades=task.min_trades)
    stability = stability_scores(metrics, space=space, metric=task.ranking_metric)
    metrics["stability_score"] = stability
    best = int(rank_order(metrics, metric=task.ranking_metric, min_trades=task.min_trades)[0])
    robust = robust_best(
        metrics, space=space, metric=task.ranking_metric, min_trades=task.min_trades, stability=stability
    )
    result.metrics = metrics
    rows = task.rows or grid_rows(space, task.combinations)
    result.param_keys, result.params_json = list(rows.param_keys), list(rows.params_json)
    result.best_position = best
    result.robust_position = robust["robust"]["position"] if robust["robust"] else None
    result.best_by_metric = best_by_metric(metrics, min_trades=task.min_trades)
    # The best run and the regime candidates from the grid's own work (a pattern strategy reruns nothing).
    positions = regime_candidates(metrics, ranking_metric=task.ranking_metric, min_trades=task.min_trades, best=best)
    runs = grid.runs(positions)
    trades = trade_columns(market, runs[0], risk_pct=task.costs.risk_per_trade_pct, iso=False)
    trades["regime"], regimes = evaluate_regimes(
        market,
        fingerprint=result.fingerprint,
        positions=positions,
        runs=runs,
        combinations=task.combinations,
        min_trades=task.min_trades,
    )
    selection_started = time.process_time()
    selection = _selection(task, grid, market, metrics=metrics, positions=positions, runs=runs, robust=robust)
    result.selection_seconds = time.process_time() - selection_started
    result.best_result = compact_details(trades, start_time=iso_times(market.time_ns[:1])[0])
    result.best_json = orjson.dumps(result.best_result).decode()  # 20x json.dumps on ~2,000 trades of columns
    result.checks = {**_overfitting_checks(task, trades), "regimes": regimes, "selection": selection}


def _selection(task, grid, market, *, metrics, positions, runs, robust) -> dict[str, Any]:
    """The slice's selection statistics (``selection_report``) for its best and robust-best runs."""
    chosen = {"best": runs[0]}
    robust_position = robust["robust"]["position"] if robust["robust"] else None
    if robust_position is not None:
        known = dict(zip(positions, runs, strict=True))
        chosen["robust"] = known.get(robust_position) or grid.runs([robust_position])[0]
    return selection_report(
        grid,
        market,
        sharpe_ratios=metrics["sharpe_ratio"].to_numpy(dtype=float),
        chosen=chosen,
        prior_trials=task.prior_trials,
        risk_per_trade_pct=task.costs.risk_per_trade_pct,
    )


def best_by_metric(metrics: pd.DataFrame, *, min_trades: int) -> dict[str, int | None]:
    """Return, per rankable metric, the position of the best run with >= min_trades trades (first in grid order
    on ties, like ``results.best_params``); None where no run has enough trades."""
    trusted = metrics["total_trades"].to_numpy() >= min_trades
    if not trusted.any():
        return dict.fromkeys(RANKING_METRICS)
    return {metric: int(rank_order(metrics, metric=metric, min_trades=min_trades)[0]) for metric in RANKING_METRICS}


def _overfitting_checks(task: SliceTask, trades: dict[str, list]) -> dict[str, Any]:
    """The job's checks of the slice; ``trades``: the best run's trades as columns (``trade_columns``)."""
    checks: dict[str, Any] = {}
    if task.monte_carlo:
        checks["monte_carlo"] = monte_carlo_returns(trades["r_multiple"], trades["return_pct"], seed=task.seed)
    if task.validation == ValidationMode.WALK_FORWARD:
        checks["walk_forward"] = walk_forward_validation(
            task.candles,
            strategy=task.strategy,
            parameter_grid=task.combinations,
            metric=task.ranking_metric,
            min_trades=task.min_trades,
            costs=task.costs,
        )
    return checks


def stored_details(full: dict[str, Any]) -> dict[str, Any]:
    """Return the details a run shows of a full ``run_backtest`` result: the newest trades and equity points."""
    trades = full["trades"]
    return {
        "trades": trades[-MAX_STORED_TRADES:],
        "trades_total": len(trades),
        "equity_curve": full.get("equity_curve", [])[-MAX_STORED_TRADES:],
    }


def compact_details(trades: dict[str, list], *, start_time: str) -> dict[str, Any]:
    """Return what ``results_json`` keeps of the best run: ``stored_details`` without its redundancy.

    ``trades``: ``trade_columns(..., iso=False)``. Columns instead of a dict
    per trade (the field names once, not once per trade), times as epoch
    seconds, and the equity curve as bare values: its times are the trades'
    exit times plus the first candle's (``start_time``). ``expand_details``
    gives back exactly what ``stored_details`` returns for the same run.
    """
    equity = compounded_equity(trades["return_pct"])[-MAX_STORED_TRADES:].tolist()
    return {
        "format": "columns",
        "trades_total": len(trades["exit_time"]),
        "start_time": start_time,
        "columns": {name: values[-MAX_STORED_TRADES:] for name, values in trades.items()},
        "equity": equity,
    }


def expand_details(stored: dict[str, Any]) -> dict[str, Any]:
    """Return a stored ``results_json`` in the shape of ``stored_details`` (either storage format)."""
    if stored.get("format") != "columns":
        return stored  # stored before the columnar format: already trades and equity_curve
    columns = dict(stored["columns"])
    for name in TIME_FIELDS:
        columns[name] = iso_times(np.asarray(columns[name], dtype=np.int64) * 10**9)
    trades = records_from_columns(columns)
    curve = [{"time": stored["start_time"], "equity": 1.0}]
    curve += [{"time": t["exit_time"], "equity": v} for t, v in zip(trades, stored["equity"], strict=True)]
    return {"trades": trades, "trades_total": stored["trades_total"], "equity_curve": curve[-MAX_STORED_TRADES:]}
