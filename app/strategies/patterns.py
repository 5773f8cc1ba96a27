"""The three smart-money pattern strategies: detector -> trade levels -> limit fills -> exits (pure).

``imbalance``, ``order_block`` and ``liquidity_sweep`` share one pipeline and
one declared parameter space; only the detector differs (looked up by name in
``app.core.patterns``, so a detector a test registers is the one used).
Entries are resting limit orders (maker; docs/design-rules.md#trade-levels-and-the-backtest).

Grid evaluation shares work across parameter sets, so a grid row is exactly
what a single run returns for the same parameters:

1. detection once per distinct ``(min_zone_pct, use_overlap)``; the union of
   every pattern found (exact duplicates collapsed, sorted by index,
   direction, zone) is what gets simulated, and each filter set is a boolean
   mask over that union (a setup's outcome does not depend on which filter
   kept it);
2. levels (``trade_levels.compute_levels``) once per distinct
   ``(entry_method, sl_buffer_pct, tp_method, rr_target)``;
3. fills (``backtest_engine.find_fills``) once per distinct entry and stop,
   i.e. per ``(entry_method, sl_buffer_pct)``, shared by every rr_target and
   tp_method;
4. exits (``backtest_engine.resolve_exits``) per level set;
5. metrics (``backtest_engine.aggregate_metrics``) for every combination in
   one compiled call (level-set outcomes x filter-set mask).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from app.core import engine as engine_module
from app.core import indicators as indicators_module
from app.core import levels as levels_module
from app.core.costs import MAKER, CostModel
from app.core.engine import (
    MarketArrays,
    OutcomeTable,
    aggregate_metrics,
    find_fills,
    prices_cover,
    resolve_exits,
)
from app.core.jit import njit
from app.core.levels import (
    DEFAULT_ENTRY_METHOD,
    DEFAULT_RR_TARGET,
    DEFAULT_SL_BUFFER_PCT,
    DEFAULT_TP_METHOD,
    ENTRY_METHODS,
    TP_METHODS,
    compute_levels,
    swing_masks,
    wilder_atr,
)
from app.core.patterns import DEFAULT_SWING_LENGTH, MIN_ZONE_PERCENT, PatternArrays, get_detector
from app.core.patterns import base as pattern_base_module
from app.core.patterns.registry import DETECTOR_CLASSES
from app.strategies.base import PATTERN, Grid, Setups, SingleRun, Strategy
from app.strategies.parameters import Parameter, ParameterSpace

PATTERN_SPACE = ParameterSpace(
    parameters=(
        Parameter(
            "rr_target",
            "float",
            DEFAULT_RR_TARGET,
            "Reward-to-risk multiple of the target (fixed_rr), or ATR multiple (atr_multiple).",
            low=0.0,
            high=20.0,
            low_inclusive=False,
        ),
        Parameter(
            "sl_buffer_pct",
            "float",
            DEFAULT_SL_BUFFER_PCT,
            "Stop beyond the zone's far edge, in percent of the zone height.",
            low=0.0,
            high=200.0,
        ),
        Parameter(
            "min_zone_pct",
            "float",
            MIN_ZONE_PERCENT,
            "Smallest zone traded: zone height in percent of the detection close.",
            low=0.0,
            high=10.0,
        ),
        Parameter(
            "tp_method",
            "choice",
            DEFAULT_TP_METHOD,
            "How the target is placed: fixed_rr, swing_target (nearest untraded swing >= 1R) or atr_multiple.",
            choices=TP_METHODS,
        ),
        Parameter(
            "entry_method",
            "choice",
            DEFAULT_ENTRY_METHOD,
            "Where the limit entry rests: zone_edge, zone_mid or atr_buffer (edge + 0.1 ATR).",
            choices=ENTRY_METHODS,
        ),
        Parameter(
            "use_overlap",
            "bool",
            True,
            "Drop a zone that overlaps a still-active zone of the same type and direction by >= 70%.",
        ),
    ),
    presets={
        # 5 x 4 x 4 x 3 x 2 x 2 = 960 combinations per slice (the seed design's grid).
        "default": {
            "rr_target": [1.5, 2.0, 2.5, 3.0, 3.5],
            "sl_buffer_pct": [5.0, 10.0, 15.0, 20.0],
            "min_zone_pct": [0.1, 0.15, 0.2, 0.25],
            "tp_method": ["fixed_rr", "swing_target", "atr_multiple"],
            "entry_method": ["zone_edge", "zone_mid"],
            "use_overlap": [True, False],
        },
        # 3 x 2 = 6 combinations: a fast smoke test of a whole scope.
        "quick": {"rr_target": [2.0, 2.5, 3.0], "sl_buffer_pct": [10.0, 15.0]},
    },
)


@dataclass(frozen=True)
class _Filters:
    """The pattern union of a grid and one membership mask per distinct (min_zone_pct, use_overlap)."""

    union: PatternArrays
    masks: np.ndarray
    combo_filter: np.ndarray


class PatternStrategy(Strategy):
    """One smart-money pattern type traded with limit entries at its zone."""

    kind = PATTERN
    entry_order = MAKER
    space = PATTERN_SPACE

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description

    def detector(self):
        """Return the registered detector of this pattern type (looked up on every use: tests swap it)."""
        return get_detector(self.name)

    def code_modules(self) -> tuple[ModuleType, ...]:
        return (
            sys.modules[type(self.detector()).__module__],
            pattern_base_module,
            indicators_module,
            levels_module,
            engine_module,
        )

    # ------------------------------------------------------------------ the Strategy interface

    def grid_metrics(
        self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> np.ndarray:
        return self.grid(market, combos, costs=costs, max_wait_bars=max_wait_bars).metrics

    def single_run(
        self, market: MarketArrays, params: dict[str, Any], *, costs: CostModel, max_wait_bars: int
    ) -> SingleRun:
        return self.single_runs(market, [params], costs=costs, max_wait_bars=max_wait_bars)[0]

    def single_runs(
        self, market: MarketArrays, params_list: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> list[SingleRun]:
        """Like the grid: detection once per (min_zone_pct, use_overlap), fills and exits once per level set."""
        return self.grid(market, params_list, costs=costs, max_wait_bars=max_wait_bars).runs(range(len(params_list)))

    def grid(self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int) -> Grid:
        """Detection once per (min_zone_pct, use_overlap), fills and exits once per level set; a row's single run
        is its filter's patterns of its level set's outcomes (kept, so the best runs cost no rerun)."""
        filters = self._filters(market, combos)
        level_keys, combo_level = _first_seen(
            (c["entry_method"], c["sl_buffer_pct"], c["tp_method"], c["rr_target"]) for c in combos
        )
        table, levels = self._outcomes(market, filters.union, level_keys, costs=costs, max_wait_bars=max_wait_bars)
        metrics = aggregate_metrics(
            market,
            table,
            masks=filters.masks,
            combo_level=combo_level,
            combo_filter=filters.combo_filter,
            risk_per_trade_pct=costs.risk_per_trade_pct,
        )

        def runs(positions: Sequence[int]) -> list[SingleRun]:
            chosen = []
            for position in positions:
                level, found = int(combo_level[position]), int(filters.combo_filter[position])
                mask = filters.masks[found]
                row = table.row(level)
                outcomes = type(row)(**{name: values[mask] for name, values in vars(row).items()})
                setups = _setups(filters.union, levels[level]).take(mask)
                chosen.append(SingleRun(metrics=metrics[position], setups=setups, outcomes=outcomes))
            return chosen

        def sum_r_by_block(bar_block: np.ndarray, n_blocks: int) -> np.ndarray:
            # Setups are independent trades: every filter's R by (level set, block) in one pass over the table.
            masks = np.ascontiguousarray(np.stack(filters.masks, axis=1))  # (setups, filters)
            sums = _r_by_filter_block(table.traded, table.exit_bar, table.r_multiple, masks, bar_block, n_blocks)
            return sums[filters.combo_filter, combo_level]

        return Grid(metrics=metrics, runs=runs, sum_r_by_block=sum_r_by_block)

    def setups(self, market: MarketArrays, params: dict[str, Any]) -> Setups:
        found = self._find(market, params["min_zone_pct"], params["use_overlap"])
        levels = self._levels(
            market,
            found,
            (params["entry_method"], params["sl_buffer_pct"], params["tp_method"], params["rr_target"]),
            wilder_atr(market.high, market.low, market.close),
        )
        return _setups(found, levels)

    # ------------------------------------------------------------------ the shared pipeline

    def _find(self, market: MarketArrays, min_zone_pct: float, use_overlap: bool) -> PatternArrays:
        return self.detector().find(
            market.open, market.high, market.low, market.close, min_zone_pct=min_zone_pct, use_overlap=use_overlap
        )

    def _filters(self, market: MarketArrays, combos: list[dict[str, Any]]) -> _Filters:
        filter_keys, combo_filter = _first_seen((c["min_zone_pct"], c["use_overlap"]) for c in combos)
        union, masks = _union([self._find(market, mz, ov) for mz, ov in filter_keys])
        return _Filters(union=union, masks=masks, combo_filter=combo_filter)

    def _swing_length(self) -> int:
        return int(getattr(self.detector(), "swing_length", DEFAULT_SWING_LENGTH))

    def _levels(
        self, market: MarketArrays, patterns: PatternArrays, key: tuple, atr: np.ndarray, swings=None, swing_cache=None
    ):
        entry_method, sl_buffer_pct, tp_method, rr_target = key
        return compute_levels(
            patterns=patterns,
            high=market.high,
            low=market.low,
            close=market.close,
            atr=atr,
            entry_method=entry_method,
            sl_buffer_pct=sl_buffer_pct,
            tp_method=tp_method,
            rr_target=rr_target,
            swing_length=self._swing_length(),
            swings=swings,
            swing_cache=swing_cache,
        )

    def _outcomes(
        self, market: MarketArrays, union: PatternArrays, level_keys: list, *, costs: CostModel, max_wait_bars: int
    ) -> tuple[OutcomeTable, list]:
        atr = wilder_atr(market.high, market.low, market.close)
        swings = swing_masks(market.high, market.low, self._swing_length())  # once for every swing_target key
        outcomes = OutcomeTable.allocate(len(level_keys), len(union))
        levels = []
        fill_cache: dict[tuple[str, float], list] = {}
        swing_cache: dict[bytes, np.ndarray] = {}  # the swing targets of one threshold serve every rr_target
        for k, key in enumerate(level_keys):
            lv = self._levels(market, union, key, atr, swings, swing_cache)
            # The fill search needs only entry & stop; reuse it when they match (they do for one entry method and
            # buffer, except where compute_levels blanked a setup, e.g. ATR not yet defined: hence the check).
            cached = fill_cache.setdefault(key[:2], [])
            fills = next((f for e, s, f in cached if prices_cover(e, lv.entry) and prices_cover(s, lv.stop)), None)
            if fills is None:
                fills = find_fills(
                    market,
                    index=union.index,
                    direction=union.direction,
                    entry=lv.entry,
                    stop=lv.stop,
                    max_wait_bars=max_wait_bars,
                )
                cached.append((lv.entry, lv.stop, fills))
            resolve_exits(
                market,
                fills,
                direction=union.direction,
                entry=lv.entry,
                stop=lv.stop,
                target=lv.target,
                costs=costs,
                entry_order=MAKER,
                out=outcomes.row(k),
            )
            levels.append(lv)
        return outcomes, levels


def _setups(patterns: PatternArrays, levels) -> Setups:
    return Setups(
        index=patterns.index,
        direction=patterns.direction,
        entry=levels.entry,
        stop=levels.stop,
        target=levels.target,
        extra={"zone_low": patterns.zone_low, "zone_high": patterns.zone_high},
    )


def _union(found: list[PatternArrays]) -> tuple[PatternArrays, np.ndarray]:
    """Return the sorted, de-duplicated union of pattern sets and one membership mask per set."""
    index = np.concatenate([p.index for p in found]).astype(np.int64)
    direction = np.concatenate([p.direction for p in found]).astype(np.int8)
    zone_low = np.concatenate([p.zone_low for p in found]).astype(np.float64)
    zone_high = np.concatenate([p.zone_high for p in found]).astype(np.float64)
    source = np.repeat(np.arange(len(found)), [len(p) for p in found])
    order = np.lexsort((zone_high, zone_low, direction, index))
    keys = (index[order], direction[order], zone_low[order], zone_high[order])
    new = np.ones(order.shape[0], np.bool_)
    if order.shape[0] > 1:
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    uid = np.empty(order.shape[0], np.int64)
    uid[order] = np.cumsum(new) - 1
    union = PatternArrays(*(np.ascontiguousarray(k[new]) for k in keys))
    masks = np.zeros((len(found), len(union)), np.bool_)
    masks[source, uid] = True
    return union, masks


@njit(cache=True)
def _r_by_filter_block(traded, exit_bar, r_multiple, masks, bar_block, n_blocks):  # pragma: no cover - numba
    """Return the (filters, level sets, blocks) sums of the traded setups' R by the block of their exit bar.

    ``traded``, ``exit_bar`` and ``r_multiple`` are the (level sets, setups)
    outcome table's, ``masks[setup, filter]`` whether a filter keeps a setup,
    ``bar_block`` the block of each bar. Each sum adds its trades in table
    order (level set, then setup), the order of the per-filter ``bincount``
    this pass replaced (eight passes over the table and their masked copies),
    so the sums are bitwise the same.
    """
    levels, setups = traded.shape
    n_filters = masks.shape[1]
    out = np.zeros((n_filters, levels, n_blocks))
    for level in range(levels):
        for setup in range(setups):
            if traded[level, setup]:
                block = bar_block[max(exit_bar[level, setup], 0)]
                r = r_multiple[level, setup]
                for found in range(n_filters):
                    if masks[setup, found]:
                        out[found, level, block] += r
    return out


def _first_seen(keys: Iterable) -> tuple[list, np.ndarray]:
    """Return the distinct keys in first-seen order and each input's position among them."""
    distinct: dict = {}
    ids = [distinct.setdefault(key, len(distinct)) for key in keys]
    return list(distinct), np.asarray(ids, dtype=np.int64)


PATTERN_DESCRIPTIONS = {
    "imbalance": "Fair value gap: a three-candle gap traded back into with a limit order at the gap.",
    "order_block": "Order block: the last opposite candle before a break of structure, retested with a limit order.",
    "liquidity_sweep": "Liquidity sweep: a wick through a swing that closes back, retested with a limit order.",
}


def pattern_strategies() -> list[PatternStrategy]:
    """Return one strategy per registered detector type."""
    return [PatternStrategy(name, PATTERN_DESCRIPTIONS.get(name, name)) for name in DETECTOR_CLASSES]
