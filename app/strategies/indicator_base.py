"""What every indicator strategy shares: market entries, stops, one position at a time (pure: no Flask, no SQLAlchemy).

An indicator strategy (``ema_cross``, ``macd``) turns indicators into
signals; this module turns signals into trades, the same way for all of them.

Signal and entry
    A signal is known at the CLOSE of its candle ``t`` (every indicator value
    it uses is at or before ``t``). The order is a MARKET order placed at that
    close and filled at the OPEN of candle ``t + 1`` (``entry_order = taker``:
    the taker fee plus slippage, ``app.core.costs``). ``max_wait_bars``
    does not apply: a market order never waits.

Stop and target (``stop_method``, ``stop_value``, ``rr_target``), long side
(short mirrors), ``entry = open[t + 1]``, ATR = Wilder ATR(14) at the signal
candle ``t``:

    ========  ===============================================  =================================
    method    stop                                             stop_value means
    ========  ===============================================  =================================
    atr       entry - stop_value x ATR                         ATR multiple (> 0)
    percent   entry x (1 - stop_value / 100)                   percent of the entry (> 0)
    swing     last swing low confirmed at t - stop_value x ATR  buffer beyond the swing, in ATR
    ========  ===============================================  =================================

    ``risk = entry - stop``; ``target = entry + rr_target x risk``. A setup
    whose risk is not positive (a swing stop at or above the entry, no swing
    confirmed yet) gets NaN stop and target and is skipped, without blocking
    the position. Swings are those of docs/design-rules.md#patterns (length 5), used only from
    their confirmation candle (``indicators.last_swing_levels``).

Exits
    Exactly ``app.core.engine``'s exit kernel for a market entry
    (docs/design-rules.md#trade-levels-and-the-backtest): the order fills at
    the open of ``t + 1``, so that whole candle trades after the fill. From
    the fill candle on, the first candle reaching the stop (at the stop, or at
    the open on a later gap) or the target (maker fill at the target) closes
    the trade; both in one candle = the stop; still open at the end: closed at
    the last close (``end_of_data``).

One position at a time (per strategy, parameter set and slice)
    Signals are walked in time order. A signal on candle ``t`` opens a trade
    only when no trade is open at the close of ``t``: the previous trade's
    exit candle ``x`` satisfies ``x <= t`` (a trade that exits during candle
    ``t`` leaves the trader flat at its close, when the new order is sent).
    Equivalently: a signal whose next-open entry candle ``t + 1`` falls at or
    before the open trade's exit candle is skipped; a real trader holding a
    position would not place a second order. Skipped signals are reported
    with status ``invalid`` (counted as ``skipped`` by ``setup_counts``);
    an opposite signal does not close or reverse the open trade.

The last candle
    A signal on the last candle of the data has no next open yet: ``setups``
    reports it with its index and direction and NaN entry, stop and target
    (the order is pending; its levels are fixed when it fills), and the
    backtest counts it as ``expired`` (no trade). Every earlier signal's row
    is final, so ``setups`` on candles ``0..k`` equals the full history's
    rows with ``index <= k - 1``, plus the pending row at ``k``
    (``pending_levels`` gives a scanner indicative levels for it at a price).

Smart-money confirmation (``smart_money``, ``smart_money_lookback``)
    Every indicator strategy declares them (``smart_money_parameters()``): a
    signal its own filters keep counts only when ``app.strategies.smart_money``
    confirms it (a retest of an active zone of its side found by the production
    detectors); ``off`` keeps every signal.

Grid evaluation (``grid_metrics``; a grid row equals ``single_run`` bit for bit)
    1. indicators once per distinct period (EMAs, RSI, ATR and swings are
       cached per call), causal; the raw crosses of every distinct period key
       in one ``crosses_of`` call (``macd``: one pass per MACD line advances
       all its signal lines together);
    2. signals once per distinct signal parameter set (the crosses of its
       period key, its ``keep`` mask, then smart-money confirmation: zones once
       per detector, shared by every confirmation setting); the union of all
       (index, direction) pairs is the one setup list (a counting pass over the
       candles, no sort), each signal set the list of its members in it;
    3. levels per distinct (stop_method, stop_value, rr_target) over the
       union; next-open fills and first stop touches per (stop_method,
       stop_value); exits per level set (``resolve_exits``, taker entry);
    4. the one-position walk per combination (a numba kernel over that
       combination's signals only: it reads the shared outcomes, since a taken
       trade's exit does not depend on which trades came before it);
    5. ``engine.aggregate_sequences`` over each combination's taken trades:
       the engine's metric kernel, one combination at a time. The walk lists
       them in exit order already (a trade is taken only at or after the
       previous exit candle and exits after its own signal), so nothing is
       sorted or copied.
"""

from __future__ import annotations

import sys
from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from app.core import engine as engine_module
from app.core import indicators as indicators_module
from app.core import levels as levels_module
from app.core.costs import TAKER, CostModel
from app.core.engine import (
    STATUS_FILLED,
    STATUS_INVALID,
    MarketArrays,
    Outcomes,
    OutcomeTable,
    aggregate_sequences,
    fill_at_next_open,
    resolve_exits,
)
from app.core.indicators import last_swing_levels, wilder_atr
from app.core.jit import njit
from app.core.patterns import PatternArrays
from app.core.patterns import base as pattern_base_module
from app.core.patterns.registry import DETECTOR_CLASSES
from app.strategies import smart_money
from app.strategies.base import INDICATOR, Grid, Setups, SingleRun, Strategy
from app.strategies.parameters import Constraint, Parameter

STOP_METHODS = ("atr", "percent", "swing")
LEVEL_PARAMS = ("stop_method", "stop_value", "rr_target")
DEFAULT_STOP_METHOD = "atr"
DEFAULT_STOP_VALUE = 1.5
DEFAULT_RR_TARGET = 2.0


def level_parameters() -> tuple[Parameter, ...]:
    """Return the stop/target parameters every indicator strategy declares."""
    return (
        Parameter(
            "stop_method",
            "choice",
            DEFAULT_STOP_METHOD,
            "Where the stop goes: atr (entry -/+ stop_value x ATR), percent (stop_value % from the entry) "
            "or swing (last confirmed swing low/high -/+ stop_value x ATR).",
            choices=STOP_METHODS,
        ),
        Parameter(
            "stop_value",
            "float",
            DEFAULT_STOP_VALUE,
            "ATR multiple (atr), percent of the entry (percent) or buffer beyond the swing in ATR (swing).",
            low=0.0,
            high=50.0,
        ),
        Parameter(
            "rr_target",
            "float",
            DEFAULT_RR_TARGET,
            "Target distance as a multiple of the risk (entry to stop).",
            low=0.0,
            high=20.0,
            low_inclusive=False,
        ),
    )


STOP_VALUE_POSITIVE = Constraint(
    "stop_value > 0 unless stop_method is swing (an atr or percent stop at the entry has no risk)",
    lambda p: p["stop_method"] == "swing" or p["stop_value"] > 0,
)


# --------------------------------------------------------------------------- signals and context


@dataclass(frozen=True)
class Signals:
    """Signals of one parameter set (or raw crosses of one period set), sorted by index then direction."""

    index: np.ndarray
    direction: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def take(self, selection: np.ndarray) -> Signals:
        return Signals(
            index=self.index[selection],
            direction=self.direction[selection],
            extra={name: values[selection] for name, values in self.extra.items()},
        )


class Context:
    """The candles of one call plus indicators computed lazily once each (keyed by name and periods)."""

    def __init__(self, market: MarketArrays) -> None:
        self.market = market
        self._cache: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the cached value of ``key``, computing it on first use."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def has(self, key: Hashable) -> bool:
        """Return whether ``key`` is cached."""
        return key in self._cache

    @property
    def atr(self) -> np.ndarray:
        m = self.market
        return self.get(("atr",), lambda: wilder_atr(m.high, m.low, m.close))

    @property
    def swings(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.market
        return self.get(("swings",), lambda: last_swing_levels(m.high, m.low))

    def zones(self, pattern_type: str) -> tuple[PatternArrays, np.ndarray]:
        """Return the production detector's zones and their active-until bars (``smart_money``), once per call."""
        return self.get(("zones", pattern_type), lambda: smart_money.production_zones(self.market, pattern_type))


# --------------------------------------------------------------------------- levels


def next_open(market: MarketArrays, index: np.ndarray) -> np.ndarray:
    """Return the open of the candle after each index (NaN for the last candle: not known yet)."""
    n = len(market)
    nxt = np.asarray(index, dtype=np.int64) + 1
    return np.where(nxt < n, market.open[np.minimum(nxt, n - 1)], np.nan)


def stop_prices(
    ctx: Context, *, index: np.ndarray, direction: np.ndarray, entry: np.ndarray, stop_method: str, stop_value: float
) -> np.ndarray:
    """Return the stop of each setup (NaN where the risk would not be positive or a level is undefined)."""
    sign = np.asarray(direction, dtype=np.float64)
    atr = ctx.atr[index]
    if stop_method == "atr":
        stop = entry - sign * (stop_value * atr)
    elif stop_method == "percent":
        stop = entry * (1.0 - sign * (stop_value / 100.0))
    elif stop_method == "swing":
        swing_low, swing_high = ctx.swings
        swing = np.where(sign > 0, swing_low[index], swing_high[index])
        stop = swing - sign * (stop_value * atr)
    else:
        raise ValueError(f"stop_method must be one of {', '.join(STOP_METHODS)}, got {stop_method!r}")
    with np.errstate(invalid="ignore"):
        ok = sign * (entry - stop) > 0
    return np.where(ok, stop, np.nan)


def target_prices(*, direction: np.ndarray, entry: np.ndarray, stop: np.ndarray, rr_target: float) -> np.ndarray:
    """Return ``entry + rr_target x risk`` (short: minus); NaN where the stop is NaN."""
    return entry + np.asarray(direction, dtype=np.float64) * (rr_target * np.abs(entry - stop))


def pending_levels(
    market: MarketArrays, *, index: int, direction: int, entry: float, params: dict[str, Any]
) -> dict[str, float]:
    """Return indicative entry, stop and target of a signal at ``index`` if it filled at ``entry``.

    For a scanner publishing a signal on the last candle, whose next open is
    not known yet (the backtest never uses this).
    """
    ctx = Context(market)
    idx = np.asarray([index], dtype=np.int64)
    d = np.asarray([direction], dtype=np.int8)
    e = np.asarray([entry], dtype=np.float64)
    stop = stop_prices(
        ctx, index=idx, direction=d, entry=e, stop_method=params["stop_method"], stop_value=params["stop_value"]
    )
    target = target_prices(direction=d, entry=e, stop=stop, rr_target=params["rr_target"])
    return {"entry": float(entry), "stop": float(stop[0]), "target": float(target[0])}


# --------------------------------------------------------------------------- the one-position walk


@njit(cache=True)
def _walk_kernel(index, traded, exit_bar, member_ptr, member_ids, combo_level, combo_filter):  # pragma: no cover
    """Return the taken setups of every combination as (offsets, ids): signals in order, one open trade at a time.

    Combination ``c`` took ``ids[offsets[c]:offsets[c + 1]]`` (setup positions in the union, in time order).
    """
    n_combos = combo_level.shape[0]
    offsets = np.zeros(n_combos + 1, np.int64)
    capacity = 0
    for c in range(n_combos):
        capacity += member_ptr[combo_filter[c] + 1] - member_ptr[combo_filter[c]]
    ids = np.empty(capacity, np.int64)
    k = 0
    for c in range(n_combos):
        lv = combo_level[c]
        ft = combo_filter[c]
        busy_until = -1  # exit candle of the open trade: a signal at t is taken when t >= busy_until
        for q in range(member_ptr[ft], member_ptr[ft + 1]):
            i = member_ids[q]
            if traded[lv, i] and index[i] >= busy_until:
                busy_until = exit_bar[lv, i]
                ids[k] = i
                k += 1
        offsets[c + 1] = k
    return offsets, ids[:k]


# What a signal skipped by the one-position rule reports (no trade).
_SKIPPED = {
    "status": STATUS_INVALID,
    "fill_bar": -1,
    "traded": False,
    "exit_bar": -1,
    "exit_reason": 0,
    "exit_price": np.nan,
    "r_multiple": 0.0,
    "planned_rr": 0.0,
    "hours": 0.0,
    "exit_day": -1,
}


def one_position_walk(index: np.ndarray, outcomes: Outcomes) -> np.ndarray:
    """Return the positions of the setups one position at a time takes (signals in time order, module docstring).

    The same kernel the grid walks with, for one signal list: the outcome tracker follows live signals with it.
    """
    m = int(np.asarray(index).shape[0])
    _, ids = _walk_kernel(
        np.ascontiguousarray(index, dtype=np.int64),
        outcomes.traded.reshape(1, m),
        outcomes.exit_bar.reshape(1, m),
        np.array([0, m], np.int64),
        np.arange(m, dtype=np.int64),
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
    )
    return ids


def mark_skipped(outcomes: Outcomes, taken: np.ndarray) -> None:
    """Turn every filled setup not in ``taken`` into a skipped one (no trade, status ``invalid``), in place."""
    chosen = np.zeros(outcomes.status.shape[0], np.bool_)
    chosen[taken] = True
    skipped = (outcomes.status == STATUS_FILLED) & ~chosen
    for name, fill in _SKIPPED.items():
        getattr(outcomes, name)[skipped] = fill


# --------------------------------------------------------------------------- the strategy


class IndicatorStrategy(Strategy):
    """A strategy whose signals come from indicators and whose entries are market orders at the next open.

    Subclasses declare ``space`` (including ``level_parameters()``) and
    implement ``period_key`` (what decides the indicators), ``crosses`` (the
    raw signals of one period key, with per-signal features in ``extra``) and
    ``keep`` (the filters of one parameter set as a mask over the crosses).
    ``crosses_of`` (many keys at once) may be overridden to share work
    between keys; it must return exactly what ``crosses`` does for each.
    """

    kind = INDICATOR
    entry_order = TAKER
    guard_params = ({}, {"smart_money": "any", "smart_money_lookback": 50})  # confirmation reads the detectors

    # ------------------------------------------------------------------ what subclasses provide

    @abstractmethod
    def period_key(self, params: dict[str, Any]) -> tuple:
        """Return the periods that decide this parameter set's indicators (crosses are shared by key)."""

    @abstractmethod
    def crosses(self, ctx: Context, key: tuple) -> Signals:
        """Return every raw signal of ``key`` after warm-up, sorted by index (features in ``extra``)."""

    @abstractmethod
    def keep(self, crosses: Signals, params: dict[str, Any]) -> np.ndarray:
        """Return the boolean mask of ``crosses`` that this parameter set's filters keep."""

    def crosses_of(self, ctx: Context, keys: list[tuple]) -> list[Signals]:
        """Return ``crosses`` of each key (a strategy may override it to compute many keys in one pass)."""
        return [self.crosses(ctx, key) for key in keys]

    def code_modules(self) -> tuple[ModuleType, ...]:
        detectors = (sys.modules[cls.__module__] for cls in DETECTOR_CLASSES.values())
        return (
            sys.modules[__name__],
            indicators_module,
            levels_module,
            engine_module,
            smart_money,
            pattern_base_module,
            *dict.fromkeys(detectors),
        )

    # ------------------------------------------------------------------ the Strategy interface

    def setups(self, market: MarketArrays, params: dict[str, Any]) -> Setups:
        ctx = Context(market)
        signals = self._signals(ctx, params)
        entry, stop, target = self._levels(ctx, signals.index, signals.direction, _level_key(params))
        return Setups(
            index=signals.index,
            direction=signals.direction,
            entry=entry,
            stop=stop,
            target=target,
            extra=signals.extra,
        )

    def grid_metrics(
        self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> np.ndarray:
        return self.grid(market, combos, costs=costs, max_wait_bars=max_wait_bars).metrics

    def grid(self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int) -> Grid:
        """``grid_metrics`` plus the single runs of chosen rows and every row's R by block from the same walk."""
        ev = self._evaluate(Context(market), combos, costs=costs)
        metrics = aggregate_sequences(
            market,
            ev.table,
            combo_level=ev.combo_level,
            offsets=ev.offsets,
            ids=ev.ids,
            risk_per_trade_pct=costs.risk_per_trade_pct,
        )

        def runs(positions: Sequence[int]) -> list[SingleRun]:
            options = {"costs": costs, "max_wait_bars": max_wait_bars}
            return self.single_runs(market, [combos[p] for p in positions], **options)

        def sum_r_by_block(bar_block: np.ndarray, n_blocks: int) -> np.ndarray:
            row = np.repeat(np.arange(len(combos)), np.diff(ev.offsets))
            level = ev.combo_level[row]
            out = np.zeros((len(combos), n_blocks))
            np.add.at(out, (row, bar_block[ev.table.exit_bar[level, ev.ids]]), ev.table.r_multiple[level, ev.ids])
            return out

        return Grid(metrics=metrics, runs=runs, sum_r_by_block=sum_r_by_block)

    def single_run(
        self, market: MarketArrays, params: dict[str, Any], *, costs: CostModel, max_wait_bars: int
    ) -> SingleRun:
        ctx = Context(market)
        ev = self._evaluate(ctx, [params], costs=costs)
        metrics = aggregate_sequences(
            market,
            ev.table,
            combo_level=ev.combo_level,
            offsets=ev.offsets,
            ids=ev.ids,
            risk_per_trade_pct=costs.risk_per_trade_pct,
        )[0]
        signals = self._signals(ctx, params)
        entry, stop, target = self._levels(ctx, signals.index, signals.direction, _level_key(params))
        setups = Setups(signals.index, signals.direction, entry, stop, target, extra=signals.extra)
        # The union of one parameter set is its own signal list: outcomes line up with the setups.
        outcomes = Outcomes(**{name: values.copy() for name, values in vars(ev.table.row(0)).items()})
        mark_skipped(outcomes, ev.ids)
        if not np.array_equal(setups.index, ev.union.index):  # pragma: no cover - an internal invariant
            raise AssertionError("single run setups differ from the evaluated signals")
        return SingleRun(metrics=metrics, setups=setups, outcomes=outcomes)

    # ------------------------------------------------------------------ the shared pipeline

    def _signals(self, ctx: Context, params: dict[str, Any]) -> Signals:
        crosses = self._crosses(ctx, self.period_key(params))
        keep = self.keep(crosses, params) & smart_money.confirmed(
            ctx.market,
            index=crosses.index,
            direction=crosses.direction,
            kind=params["smart_money"],
            lookback=params["smart_money_lookback"],
            zones_of=ctx.zones,
        )
        return crosses.take(keep)

    def _crosses(self, ctx: Context, key: tuple) -> Signals:
        return ctx.get(("crosses", key), lambda: self.crosses(ctx, key))

    def _prepare_crosses(self, ctx: Context, keys: list[tuple]) -> None:
        """Compute the crosses of every period key not cached yet, all in one ``crosses_of`` call."""
        missing = [key for key in dict.fromkeys(keys) if not ctx.has(("crosses", key))]
        for key, found in zip(missing, self.crosses_of(ctx, missing) if missing else [], strict=True):
            ctx.get(("crosses", key), lambda found=found: found)

    def _levels(
        self, ctx: Context, index: np.ndarray, direction: np.ndarray, level_key: tuple
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stop_method, stop_value, rr_target = level_key
        entry = next_open(ctx.market, index)
        stop = stop_prices(
            ctx, index=index, direction=direction, entry=entry, stop_method=stop_method, stop_value=stop_value
        )
        target = target_prices(direction=direction, entry=entry, stop=stop, rr_target=rr_target)
        return entry, stop, target

    def _evaluate(self, ctx: Context, combos: list[dict[str, Any]], *, costs: CostModel):
        """Return the outcomes over the union of the combinations' signals and each combination's taken setups."""
        signal_keys, combo_signal = _first_seen(_signal_key(c) for c in combos)
        first_combo = {k: c for c, k in reversed(list(enumerate(combo_signal.tolist())))}
        self._prepare_crosses(ctx, [self.period_key(combos[first_combo[k]]) for k in range(len(signal_keys))])
        by_key = [self._signals(ctx, combos[first_combo[k]]) for k in range(len(signal_keys))]
        union, member_ptr, member_ids = _union(by_key)
        level_keys, combo_level = _first_seen(_level_key(c) for c in combos)
        table = OutcomeTable.allocate(len(level_keys), len(union))
        fills_by_stop: dict[tuple, Any] = {}
        for k, key in enumerate(level_keys):
            entry, stop, target = self._levels(ctx, union.index, union.direction, key)
            fills = fills_by_stop.get(key[:2])
            if fills is None:
                fills = fill_at_next_open(ctx.market, index=union.index, direction=union.direction, stop=stop)
                fills_by_stop[key[:2]] = fills
            resolve_exits(
                ctx.market,
                fills,
                direction=union.direction,
                entry=entry,
                stop=stop,
                target=target,
                costs=costs,
                entry_order=TAKER,
                out=table.row(k),
            )
        offsets, ids = _walk_kernel(
            union.index, table.traded, table.exit_bar, member_ptr, member_ids, combo_level, combo_signal
        )
        return _Evaluation(table=table, union=union, combo_level=combo_level, offsets=offsets, ids=ids)


@dataclass(frozen=True)
class _Evaluation:
    """Outcomes over the union of a grid's signals and the setups each combination took (walk order)."""

    table: OutcomeTable
    union: Signals
    combo_level: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray


def _signal_key(params: dict[str, Any]) -> tuple:
    return tuple((name, value) for name, value in params.items() if name not in LEVEL_PARAMS)


def _level_key(params: dict[str, Any]) -> tuple:
    return tuple(params[name] for name in LEVEL_PARAMS)


def _first_seen(keys: Iterable) -> tuple[list, np.ndarray]:
    """Return the distinct keys in first-seen order and each input's position among them."""
    distinct: dict = {}
    ids = [distinct.setdefault(key, len(distinct)) for key in keys]
    return list(distinct), np.asarray(ids, dtype=np.int64)


def _union(found: list[Signals]) -> tuple[Signals, np.ndarray, np.ndarray]:
    """Return the sorted union of (index, direction) pairs and each signal set's members in it.

    Signal set ``k`` is ``union[member_ids[member_ptr[k]:member_ptr[k + 1]]]``, in time order (each set is
    sorted by index then direction, one signal per pair, as ``Signals`` are).
    """
    index = np.concatenate([s.index for s in found]).astype(np.int64)
    direction = np.concatenate([s.direction for s in found]).astype(np.int8)
    member_ptr = np.zeros(len(found) + 1, np.int64)
    member_ptr[1:] = np.cumsum([len(s) for s in found])
    # Encode (index, direction) as one sortable key: index * 2 + (direction > 0).
    code = index * 2 + (direction > 0)
    unique, member_ids, ordered = _union_kernel(code, member_ptr, int(code.max()) + 1 if code.size else 0)
    if not ordered:  # pragma: no cover - an internal invariant of every strategy's crosses
        raise AssertionError("a signal set is not sorted by (index, direction) without repeats")
    union = Signals(index=np.ascontiguousarray(unique // 2), direction=np.where(unique % 2 == 1, 1, -1).astype(np.int8))
    return union, member_ptr, member_ids


@njit(cache=True)
def _union_kernel(code, member_ptr, n_codes):  # pragma: no cover - numba
    """Return the distinct codes (ascending), each input's position among them and whether every set is ordered.

    A counting pass over the code range (at most twice the candles), not a sort of all the sets' signals.
    """
    position = np.zeros(n_codes, np.int64)  # 1 + position in the union of each code present, else 0
    for q in range(code.shape[0]):
        position[code[q]] = 1
    u = 0
    for c in range(n_codes):
        if position[c]:
            u += 1
            position[c] = u
    unique = np.empty(u, np.int64)
    for c in range(n_codes):
        if position[c]:
            unique[position[c] - 1] = c
    member_ids = np.empty(code.shape[0], np.int64)
    ordered = True
    for k in range(member_ptr.shape[0] - 1):
        for q in range(member_ptr[k], member_ptr[k + 1]):
            member_ids[q] = position[code[q]] - 1
            if q > member_ptr[k] and code[q] <= code[q - 1]:
                ordered = False
    return unique, member_ids, ordered
