"""Fill numba's on-disk cache: run tiny inputs through the real code paths of every kernel (pure).

Every ``@njit`` kernel is declared ``cache=True``: a process loads a kernel
compiled before from numba's cache (the ``__pycache__`` folder beside its
module, or ``NUMBA_CACHE_DIR``) instead of compiling it, but only for the
argument types some earlier process called it with. ``warm_kernels`` calls
each kernel as production does (every registered strategy's grid, single run,
lookahead check, Monte Carlo in both methods, walk-forward and regimes, the
scanner's zone statuses) on a few hundred synthetic candles, so the first job
of a fresh process only loads. ``./dev.sh`` runs it (``flask warm``) after
installing and whenever the cache is missing; the worker service runs it when
it starts (then it only loads, well under a second), so its first job is as
fast as a warm one.

Where numba cannot write its cache (a read-only folder) it compiles in memory
and goes on: the warm-up still succeeds, the process is simply warm, and it
reports ``cache_misses`` (kernels compiled) so one can tell.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.core.candles import validate_candles
from app.core.costs import resolve_costs
from app.core.patterns import get_detector, zone_statuses
from app.core.regimes import candle_regimes, current_regime
from app.enums import ValidationMode
from app.evaluation.backtest import run_backtest
from app.evaluation.slice_eval import SliceTask, evaluate_slice
from app.evaluation.validation import monte_carlo_returns
from app.evaluation.validation.monte_carlo import MC_METHODS
from app.strategies import ParameterSpace, get_strategy, strategy_names
from app.strategies.parameters import ParameterError

WARM_BARS = 800


@dataclass
class WarmReport:
    """What ``warm_kernels`` ran: the strategies, the kernels' cache hits and misses, the seconds."""

    strategies: list[str] = field(default_factory=list)
    kernels: int = 0  # numba dispatchers of the app
    signatures: int = 0  # compiled specializations now in memory
    cache_hits: int = 0  # loaded from the on-disk cache
    cache_misses: int = 0  # compiled (and written to the cache where it is writable)
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        return (
            f"warmed {self.kernels} numba kernels ({self.signatures} signatures: {self.cache_hits} loaded from the "
            f"cache, {self.cache_misses} compiled) through {len(self.strategies)} strategies in {self.seconds:.1f}s"
        )


def warm_candles(*, bars: int = WARM_BARS, seed: int = 0) -> pd.DataFrame:
    """Return ``bars`` hourly synthetic candles (a seeded random walk): enough for every pattern, cross and trade."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, bars)))
    open_ = np.concatenate([[100.0], close[:-1]]) * (1.0 + rng.normal(0.0, 0.002, bars))
    wick = np.abs(rng.normal(0.0, 0.006, (2, bars))) * close
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.uniform(1.0, 10.0, bars),
        },
        index=pd.date_range("2024-01-01", periods=bars, freq="1h", tz="UTC", name="timestamp"),
    )
    return validate_candles(frame, source="warm-up candles")


def warm_combinations(space: ParameterSpace) -> list[dict[str, Any]]:
    """The ``quick`` preset plus, per choice or bool parameter, each of its values on the defaults (where the
    space's constraints allow): every method a parameter selects (e.g. swing stops) reaches its kernel."""
    combos = space.expand(space.preset("quick"))
    for name in space.names:
        parameter = space.parameter(name)
        values = parameter.choices if parameter.kind == "choice" else (True, False) if parameter.kind == "bool" else ()
        for value in values:
            try:
                combos.append(space.validate({**space.defaults, name: value}))
            except ParameterError:
                continue
    unique = {space.key(params): params for params in combos}
    return list(unique.values())


def warm_kernels(*, strategies: list[str] | None = None) -> WarmReport:
    """Run every kernel's production path once on ``warm_candles``; return what was loaded and compiled.

    A strategy whose slice fails raises RuntimeError: the warm-up exercises the real code, so a failure
    here is a bug the next job would hit too.
    """
    started = time.perf_counter()
    before = _cache_counts()
    candles = warm_candles()
    costs = resolve_costs()
    report = WarmReport(strategies=list(strategies or strategy_names()))
    for name in report.strategies:
        space = get_strategy(name).space
        task = SliceTask(
            symbol="WARM/UP",
            timeframe="1h",
            strategy=name,
            candles=candles,
            combinations=warm_combinations(space),
            costs=costs,
            ranking_metric="composite_score",
            min_trades=1,
            validation=ValidationMode.WALK_FORWARD,
            monte_carlo=True,
            lookahead_seed=0,
        )
        result = evaluate_slice(task)
        if result.error:
            raise RuntimeError(f"warm-up of {name} failed: {result.error}")
        run_backtest(candles, strategy=name)
    _warm_scanner_and_checks(candles)
    after = _cache_counts()
    report.kernels, report.signatures = after[0], after[1]
    report.cache_hits, report.cache_misses = after[2] - before[2], after[3] - before[3]
    report.seconds = time.perf_counter() - started
    return report


def _warm_scanner_and_checks(candles: pd.DataFrame) -> None:
    """The kernels outside a slice's path: zone statuses (the scanner), both Monte Carlo methods, regimes."""
    arrays = {name: candles[name].to_numpy() for name in ("open", "high", "low", "close")}
    for pattern in ("imbalance", "order_block", "liquidity_sweep"):
        found = get_detector(pattern).find(arrays["open"], arrays["high"], arrays["low"], arrays["close"])
        zone_statuses(
            direction=found.direction,
            zone_low=found.zone_low,
            zone_high=found.zone_high,
            detected_index=found.index,
            high=arrays["high"],
            low=arrays["low"],
            close=arrays["close"],
            expiry_bars=50,
        )
    r = np.linspace(-1.0, 2.0, 40)
    for method in MC_METHODS:
        monte_carlo_returns(r, r * 0.5, n_simulations=50, method=method, seed=0)
    candle_regimes(candles)
    current_regime(candles)


def _cache_counts() -> tuple[int, int, int, int]:
    """(dispatchers, signatures, cache hits, cache misses) summed over the app's numba kernels."""
    from numba.core.registry import CPUDispatcher

    kernels = {
        id(value): value
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("app.") and module is not None
        for value in vars(module).values()
        if isinstance(value, CPUDispatcher)
    }.values()
    return (
        len(kernels),
        sum(len(k.signatures) for k in kernels),
        sum(sum(k._cache_hits.values()) for k in kernels),
        sum(sum(k._cache_misses.values()) for k in kernels),
    )
