"""The Strategy interface: what every tradable strategy declares and computes (pure: no Flask, no SQLAlchemy).

A strategy has a unique ``name``, a ``kind`` (``pattern`` or ``indicator``),
the kind of entry order it places (``entry_order``: a resting limit order,
maker, or a market order at the next open, taker), a declared
``ParameterSpace`` and three computations on one candle slice
(``MarketArrays``):

- ``grid_metrics``: the metrics of many parameter sets at once, sharing
  whatever work the sets share (the optimizer's hot path); ``grid`` adds the
  single runs of chosen rows (the optimizer's best runs);
- ``single_run``: one parameter set with its setups and per-setup outcomes,
  from which ``trade_records`` builds the trade list (a grid row equals the
  single run of the same parameters, bit for bit);
- ``setups``: the causal trade setups of one parameter set (what production
  publishes and what the lookahead guard checks: the setups found on a prefix
  of the candles equal those of the whole history up to that point).

Adding a strategy is a module with a subclass plus ``register_strategy``;
jobs, runs, reports, validation and the CLI work on it unchanged.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from app.core.costs import CostModel
from app.core.engine import (
    EXIT_REASONS,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_INVALID,
    MarketArrays,
    Outcomes,
)
from app.strategies.parameters import ParameterSpace

PATTERN, INDICATOR = "pattern", "indicator"


@dataclass(frozen=True)
class Setups:
    """Trade setups of one parameter set, one row each, known at the close of bar ``index``.

    ``direction`` is +1 (long, bullish) or -1 (short, bearish); ``entry``,
    ``stop`` and ``target`` are prices (NaN where a level is undefined);
    ``extra`` holds strategy-specific columns shown with each trade (e.g. the
    pattern zone).
    """

    index: np.ndarray
    direction: np.ndarray
    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def take(self, selection: np.ndarray) -> Setups:
        """Return the rows picked by a boolean mask or an index array."""
        return Setups(
            index=self.index[selection],
            direction=self.direction[selection],
            entry=self.entry[selection],
            stop=self.stop[selection],
            target=self.target[selection],
            extra={name: values[selection] for name, values in self.extra.items()},
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Return every column by name (for comparisons and tables)."""
        return {
            "index": self.index,
            "direction": self.direction,
            "entry": self.entry,
            "stop": self.stop,
            "target": self.target,
            **self.extra,
        }


@dataclass(frozen=True)
class SingleRun:
    """One parameter set on one slice: its metrics row, setups and per-setup outcomes."""

    metrics: np.ndarray
    setups: Setups
    outcomes: Outcomes


@dataclass(frozen=True)
class Grid:
    """A grid's metrics (``grid_metrics``) and ``runs(positions)``: the single runs of some of its rows, equal to
    ``single_runs`` of their parameter sets (a strategy that can, builds them from the grid's own work)."""

    metrics: np.ndarray
    runs: Callable[[Sequence[int]], list[SingleRun]]
    # A strategy whose grid work already holds every row's trades sums them itself (``r_by_block``).
    sum_r_by_block: Callable[[np.ndarray, int], np.ndarray] | None = None

    def r_by_block(self, bar_block: np.ndarray, n_blocks: int) -> np.ndarray:
        """Return a (rows x n_blocks) array: each row's net R summed by the block of each trade's exit bar.

        ``bar_block[bar]`` is the block of each candle (0 .. n_blocks - 1). What
        selection statistics need of every trial (PBO, effective trials) without
        keeping its trade list.
        """
        if self.sum_r_by_block is not None:
            return self.sum_r_by_block(bar_block, n_blocks)
        return runs_r_by_block(self.runs(range(len(self.metrics))), bar_block=bar_block, n_blocks=n_blocks)


def runs_r_by_block(runs: Sequence[SingleRun], *, bar_block: np.ndarray, n_blocks: int) -> np.ndarray:
    """Return ``Grid.r_by_block`` of single runs (one row per run)."""
    out = np.zeros((len(runs), n_blocks))
    for row, run in enumerate(runs):
        traded = run.outcomes.traded
        np.add.at(out[row], bar_block[run.outcomes.exit_bar[traded]], run.outcomes.r_multiple[traded])
    return out


class Strategy(ABC):
    """A registered, optimizable trading strategy (see the module docstring)."""

    name: ClassVar[str]
    kind: ClassVar[str]
    entry_order: ClassVar[str]
    description: ClassVar[str]
    space: ClassVar[ParameterSpace]
    # The parameter sets the optimizer's lookahead guard checks (overrides of the defaults): the defaults, plus
    # one set for each code path a parameter switches on that the defaults leave off.
    guard_params: ClassVar[tuple[dict[str, Any], ...]] = ({},)

    @abstractmethod
    def grid_metrics(
        self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> np.ndarray:
        """Return a (len(combos) x METRIC_NAMES) array; ``combos`` are validated parameter sets."""

    @abstractmethod
    def single_run(
        self, market: MarketArrays, params: dict[str, Any], *, costs: CostModel, max_wait_bars: int
    ) -> SingleRun:
        """Return one validated parameter set's metrics, setups and outcomes."""

    def single_runs(
        self, market: MarketArrays, params_list: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> list[SingleRun]:
        """Return ``single_run`` of each parameter set; a strategy overrides it to share work between them."""
        return [self.single_run(market, p, costs=costs, max_wait_bars=max_wait_bars) for p in params_list]

    def grid(self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int) -> Grid:
        """Return the ``Grid`` of ``combos`` (the optimizer reruns its best rows); a strategy overrides it when
        the grid's work already holds those runs."""
        options = {"costs": costs, "max_wait_bars": max_wait_bars}
        return Grid(
            metrics=self.grid_metrics(market, combos, **options),
            runs=lambda positions: self.single_runs(market, [combos[p] for p in positions], **options),
        )

    @abstractmethod
    def setups(self, market: MarketArrays, params: dict[str, Any]) -> Setups:
        """Return the causal setups of one validated parameter set, with their levels."""

    def code_version(self) -> str:
        """Return a hash of the source of this strategy's module and the modules ``code_modules`` returns."""
        digest = hashlib.sha256()
        for module in (sys.modules[type(self).__module__], *self.code_modules()):
            digest.update(inspect.getsource(module).encode())
        return digest.hexdigest()[:16]

    def code_modules(self) -> tuple[ModuleType, ...]:
        """Modules besides the strategy's own whose code decides its setups (for ``code_version``).

        Module objects, not names: a renamed module then fails at import instead of silently
        dropping out of the lookahead guard's cache key.
        """
        return ()

    def describe(self) -> dict[str, Any]:
        """Return the strategy's name, kind, description and declared space as JSON-safe data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "entry_order": self.entry_order,
            "description": self.description,
            **self.space.describe(),
        }


# --------------------------------------------------------------------------- trade lists


def setup_counts(outcomes: Outcomes) -> dict[str, int]:
    """Count setups by what became of them: filled, cancelled (untouched), expired (data ended), skipped."""
    status = outcomes.status
    return {
        "filled": int(np.count_nonzero(status == STATUS_FILLED)),
        "cancelled": int(np.count_nonzero(status == STATUS_CANCELLED)),
        "expired": int(np.count_nonzero(status == STATUS_EXPIRED)),
        "skipped": int(np.count_nonzero(status == STATUS_INVALID)),
    }


def trade_records(market: MarketArrays, run: SingleRun, *, risk_pct: float) -> list[dict[str, Any]]:
    """Return the trades of a single run in exit order (ties keep setup order), as JSON-safe dicts.

    Each: entry_time, exit_time, direction ('long'|'short'), detected_at,
    the strategy's extra columns, entry, stop, target, exit_price,
    exit_reason, r_multiple (net of costs), return_pct, planned_rr,
    duration_hours.
    """
    return records_from_columns(trade_columns(market, run, risk_pct=risk_pct))


TIME_FIELDS = ("entry_time", "exit_time", "detected_at")


def traded_in_exit_order(run: SingleRun) -> np.ndarray:
    """Return the positions of the run's traded setups in exit order (ties keep setup order): the trade order."""
    chosen = np.flatnonzero(run.outcomes.traded)
    return chosen[np.argsort(run.outcomes.exit_bar[chosen], kind="stable")]


def trade_columns(market: MarketArrays, run: SingleRun, *, risk_pct: float, iso: bool = True) -> dict[str, list]:
    """Return the trades of ``trade_records`` as one list per field (columnar: no dict per trade).

    ``iso=False``: the ``TIME_FIELDS`` as epoch seconds (ints) instead of ISO
    strings (compact storage; ``iso_times(seconds * 10**9)`` gives the strings).
    """
    out, setups = run.outcomes, run.setups
    chosen = traded_in_exit_order(run)
    time_ns = market.time_ns
    r = out.r_multiple[chosen]

    def times(bars: np.ndarray) -> list:
        return iso_times(time_ns[bars]) if iso else (time_ns[bars] // 10**9).tolist()

    return {
        "entry_time": times(out.fill_bar[chosen]),
        "exit_time": times(out.exit_bar[chosen]),
        "direction": ["long" if d > 0 else "short" for d in setups.direction[chosen].tolist()],
        "detected_at": times(setups.index[chosen]),
        **{name: values[chosen].tolist() for name, values in setups.extra.items()},
        "entry": setups.entry[chosen].tolist(),
        "stop": setups.stop[chosen].tolist(),
        "target": setups.target[chosen].tolist(),
        "exit_price": out.exit_price[chosen].tolist(),
        "exit_reason": [EXIT_REASONS[k] for k in out.exit_reason[chosen].tolist()],
        "r_multiple": r.tolist(),
        "return_pct": (r * risk_pct).tolist(),
        "planned_rr": out.planned_rr[chosen].tolist(),
        "duration_hours": out.hours[chosen].tolist(),
    }


def records_from_columns(columns: dict[str, list]) -> list[dict[str, Any]]:
    """Return one dict per row of equally long column lists (the inverse of a columnar trade list)."""
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def iso_times(time_ns: np.ndarray) -> list[str]:
    """Return UTC ISO-8601 strings ('2024-01-01T00:00:00+00:00') for epoch-ns times, vectorized."""
    text = np.datetime_as_string(np.asarray(time_ns, dtype=np.int64).view("M8[ns]"), unit="s")
    return [t + "+00:00" for t in text.tolist()]
