"""Simulate trade setups over candles and compute backtest metrics (pure: numpy + numba).

No Flask, no SQLAlchemy, no detection and no level computation here: callers
hand in setups (detection bar, direction, entry, stop, target) already built by
the detectors and ``trade_levels.compute_levels``. This module implements
docs/design-rules.md#trade-levels-and-the-backtest (bullish described; bearish mirrors every comparison).

Fill (``find_fills``)
    A limit order rests from the candle after detection (``index + 1``) to
    ``index + max_wait_bars`` inclusive and fills at ``entry`` on the first
    candle whose ``low <= entry``, whatever that candle does afterwards: a
    candle that trades through the entry and closes beyond the stop is a fill
    and then a loss (a real resting order would have been filled), never a
    cancel. Untouched for ``max_wait_bars`` candles: ``cancelled``, no trade.
    Data ending while the order still rests: ``expired``, no trade. Setups
    whose levels are NaN (e.g. ATR not yet defined), whose risk
    ``|entry - stop|`` is not positive or whose target is not beyond the
    entry are skipped (status ``invalid``). Market entries (indicator
    strategies) do not search: they fill at the open of the candle after the
    signal (``fill_at_next_open``).

Exit (``resolve_exits``)
    The fill candle itself can stop the trade out (its low reaches the stop:
    a loss at the stop price). A limit fill's candle never takes profit,
    because we cannot know whether its high came after the fill; a market
    fill at the candle's open (``entry_order = taker``) trades the whole
    candle, so that candle can take profit too. From then on, the first
    candle whose ``low <= stop`` or ``high >= target`` closes the trade; both in
    one candle counts as the stop (conservative). A stop exit happens at the
    stop, or at the candle's open when it gapped through (``open < stop``:
    exit at the open). A target exit happens at the target (also on a gap, the
    conservative side). Still open after the last candle: closed at the last
    close with reason ``end_of_data``.

Costs (``app.core.costs``)
    The entry pays the maker fee (limit entry) or the taker fee plus slippage
    (market entry); a target exit pays the maker fee; a stop or end-of-data
    exit pays the taker fee plus slippage. Each is folded into its price
    against the trader: buying at ``p`` costs ``p (1 + slip)(1 + fee)``,
    selling yields ``p (1 - slip)(1 - fee)``.

Per trade
    ``r_multiple`` (net R) ``= direction x (exit' - entry') / |entry - stop|``
    (the planned risk uses the raw limit prices). ``return_pct = r_multiple x
    risk_per_trade_pct`` (the equity change the trade causes, in percent).
    A trade is a WIN when its net ``r_multiple > 0``; every other trade
    (``r_multiple <= 0``, including a break-even) is a LOSS, so
    ``winning_trades + losing_trades == total_trades``. ``planned_rr =
    |target - entry| / |entry - stop|``. Entry time is the fill candle's open
    time and exit time the exit candle's open time (candle timestamps are open
    times); the duration is their difference in hours (0 for a trade that
    filled and stopped in the same candle).

Equity
    Trades are independent (setups may overlap in time) and compound in exit
    order: ties on the exit candle keep detection order. Equity starts at 1.0
    and after each trade becomes ``max(0, equity x (1 + return_pct / 100))``
    (a floor at ruin keeps the curve meaningful for absurd costs/gaps).

Metrics (``aggregate_metrics``; all finite, JSON-safe; no trades: all 0)
    - ``total_trades, winning_trades, losing_trades``; ``win_rate`` = 100 x
      wins / trades (percent).
    - ``avg_rr``: mean ``planned_rr`` of the trades taken (= rr_target for
      ``fixed_rr``); ``expectancy_r``: mean net ``r_multiple``.
    - ``total_profit_pct`` = 100 x (final equity - 1).
    - ``max_drawdown``: largest peak-to-trough fall of the per-trade equity
      curve (peak includes the starting 1.0), in percent, >= 0.
    - ``profit_factor`` = sum of positive R / |sum of negative R|; with no
      negative R it is ``METRIC_CAP`` (999.0) if there is any profit, else 0.0;
      always capped at ``METRIC_CAP``.
    - ``win_loss_ratio`` = mean R of wins / |mean R of losses|; same cap rules
      (no loss or all losses at exactly 0R: ``METRIC_CAP`` if any win).
    - ``max_consecutive_losses``: longest run of losses in exit order.
    - ``avg_trade_duration``: mean duration in hours.
    - ``sharpe_ratio`` / ``sortino_ratio`` from the DAILY equity curve: one
      point per UTC calendar day from the first to the last candle's day (days
      without candles or trades included), the equity after every trade whose
      exit candle opened on or before that day. Daily returns ``r_d = E_d /
      E_{d-1} - 1`` with ``E_{-1} = 1``. Sharpe = mean(r) / std(r, ddof=1) x
      sqrt(365); 0.0 with fewer than 2 days or zero deviation. Sortino =
      mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(365) (downside deviation over
      all days, target 0); zero downside: ``METRIC_CAP`` if mean > 0 else 0.0.
      Both clipped to [-METRIC_CAP, METRIC_CAP].

``tests/reference_engine.py`` implements the same rules in plain Python,
candle by candle (using ``costs.net_prices``); the tests check the compiled
path against it trade for trade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

from app.core.costs import MAKER, TAKER, CostModel
from app.core.jit import njit
from app.core.metrics import INT_METRICS, METRIC_NAMES

STATUS_INVALID, STATUS_EXPIRED, STATUS_CANCELLED, STATUS_FILLED = 0, 1, 2, 3
STATUS_NAMES = ("invalid", "expired", "cancelled", "filled")
EXIT_NONE, EXIT_TARGET, EXIT_STOP, EXIT_END_OF_DATA = 0, 1, 2, 3
EXIT_REASONS = ("none", "target", "stop", "end_of_data")

METRIC_CAP = 999.0
DAYS_PER_YEAR = 365
NS_PER_DAY = 86_400_000_000_000
NS_PER_HOUR = 3_600_000_000_000


# --------------------------------------------------------------------------- market arrays


@njit(cache=True)
def _sparse_table(values, levels, take_min):  # pragma: no cover - numba
    n = values.shape[0]
    table = np.empty((levels, n), np.float64)
    table[0, :] = values
    for k in range(1, levels):
        half = 1 << (k - 1)
        for j in range(n):
            a = table[k - 1, j]
            if j + half < n:
                b = table[k - 1, j + half]
                a = min(a, b) if take_min else max(a, b)
            table[k, j] = a
    return table


@dataclass(frozen=True)
class MarketArrays:
    """Hold the candle arrays of one backtest slice plus search tables built once.

    ``low_min`` / ``high_max`` are sparse tables (level k = min/max over
    ``2**k`` bars from each position) that answer "first bar at/after j whose
    low <= price" in O(log n), so long-running trades cost no per-candle scan.
    They are built on first use: detection alone (the lookahead guard's many
    prefixes) never needs them. ``day`` is each candle's UTC day counted from
    the first candle's day.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    time_ns: np.ndarray
    day: np.ndarray
    n_days: int

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @cached_property
    def low_min(self) -> np.ndarray:
        return _sparse_table(self.low, _levels(len(self)), True)

    @cached_property
    def high_max(self) -> np.ndarray:
        return _sparse_table(self.high, _levels(len(self)), False)


def _levels(n: int) -> int:
    return max(1, int(n).bit_length())


def prepare_market(
    *, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, time_ns: np.ndarray
) -> MarketArrays:
    """Return the MarketArrays of one candle slice (``time_ns``: candle open times, epoch ns UTC)."""
    arrays = [np.ascontiguousarray(np.asarray(a, dtype=np.float64)) for a in (open_, high, low, close)]
    time_ns = np.ascontiguousarray(np.asarray(time_ns, dtype=np.int64))
    n = arrays[3].shape[0]
    if any(a.shape != (n,) for a in arrays) or time_ns.shape != (n,):
        raise ValueError("open_, high, low, close and time_ns must be 1-d arrays of the same length")
    if n == 0:
        raise ValueError("candles must not be empty")
    days = np.floor_divide(time_ns, NS_PER_DAY)
    day = days - days[0]
    return MarketArrays(
        open=arrays[0],
        high=arrays[1],
        low=arrays[2],
        close=arrays[3],
        time_ns=time_ns,
        day=np.ascontiguousarray(day),
        n_days=int(day[-1]) + 1,
    )


# --------------------------------------------------------------------------- compiled kernels


@njit(cache=True, inline="always")
def _first_at_or_below(table, start, end, level):  # pragma: no cover - numba
    """Return the first j in [start, end] with values[j] <= level, else end + 1."""
    j = start
    for k in range(table.shape[0] - 1, -1, -1):
        step = 1 << k
        if j + step - 1 <= end and table[k, j] > level:
            j += step
    return j


@njit(cache=True, inline="always")
def _first_at_or_above(table, start, end, level):  # pragma: no cover - numba
    """Return the first j in [start, end] with values[j] >= level, else end + 1."""
    j = start
    for k in range(table.shape[0] - 1, -1, -1):
        step = 1 << k
        if j + step - 1 <= end and table[k, j] < level:
            j += step
    return j


LINEAR_SCAN_BARS = 16  # most trades resolve within a few candles: scan those directly, then jump


@njit(cache=True, inline="always")
def _scan_at_or_below(values, table, start, end, level):  # pragma: no cover - numba
    """Return the first j in [start, end] with values[j] <= level, else end + 1 (scan, then sparse table)."""
    stop = min(end, start + LINEAR_SCAN_BARS - 1)
    for j in range(start, stop + 1):
        if values[j] <= level:
            return j
    if stop >= end:
        return end + 1
    return _first_at_or_below(table, stop + 1, end, level)


@njit(cache=True, inline="always")
def _scan_at_or_above(values, table, start, end, level):  # pragma: no cover - numba
    """Return the first j in [start, end] with values[j] >= level, else end + 1 (scan, then sparse table)."""
    stop = min(end, start + LINEAR_SCAN_BARS - 1)
    for j in range(start, stop + 1):
        if values[j] >= level:
            return j
    if stop >= end:
        return end + 1
    return _first_at_or_above(table, stop + 1, end, level)


@njit(cache=True)
def _fill_kernel(high, low, low_min, high_max, index, direction, entry, stop, max_wait):  # pragma: no cover - numba
    n = low.shape[0]
    m = index.shape[0]
    status = np.zeros(m, np.int8)
    fill_bar = np.full(m, -1, np.int64)
    stop_bar = np.full(m, -1, np.int64)
    for i in range(m):
        e = entry[i]
        s = stop[i]
        d = direction[i]
        t0 = index[i]
        if not (np.isfinite(e) and np.isfinite(s)) or t0 < 0 or t0 >= n:
            continue
        if (d > 0 and not e > s) or (d < 0 and not e < s):
            continue
        # Untouched through the whole window: cancelled; data ends first: expired (still resting).
        st = STATUS_CANCELLED if t0 + max_wait <= n - 1 else STATUS_EXPIRED
        f = -1
        last = min(n - 1, t0 + max_wait)
        if last >= t0 + 1:
            f = (
                _scan_at_or_below(low, low_min, t0 + 1, last, e)
                if d > 0
                else _scan_at_or_above(high, high_max, t0 + 1, last, e)
            )
            if f <= last:
                st = STATUS_FILLED
            else:
                f = -1
        status[i] = st
        if st != STATUS_FILLED:
            continue
        fill_bar[i] = f
        # First candle at/after the fill that reaches the stop (n = never): independent of the target,
        # so it is shared by every rr_target / tp_method with the same entry and stop.
        if d > 0:
            stop_bar[i] = f if low[f] <= s else _scan_at_or_below(low, low_min, f + 1, n - 1, s)
        else:
            stop_bar[i] = f if high[f] >= s else _scan_at_or_above(high, high_max, f + 1, n - 1, s)
    return status, fill_bar, stop_bar


@njit(cache=True)
def _exit_kernel(
    open_,
    high,
    low,
    close,
    low_min,
    high_max,
    time_ns,
    day,
    ns_per_hour,
    fill_status,
    fill_bar,
    stop_bar,
    target_from,
    direction,
    entry,
    stop,
    target,
    entry_buy,
    entry_sell,
    maker_buy,
    maker_sell,
    taker_buy,
    taker_sell,
    status,
    traded,
    exit_bar,
    reason,
    exit_price,
    r_mult,
    planned,
    hours,
    exit_day,
):  # pragma: no cover - numba
    # Writes into the caller's (row) arrays so that a grid fills one 2-D table without copies.
    n = close.shape[0]
    m = fill_status.shape[0]
    for i in range(m):
        status[i] = fill_status[i]
        traded[i] = False
        exit_bar[i] = -1
        reason[i] = EXIT_NONE
        exit_price[i] = np.nan
        r_mult[i] = 0.0
        planned[i] = 0.0
        hours[i] = 0.0
        exit_day[i] = -1
        if fill_status[i] != STATUS_FILLED:
            continue
        e = entry[i]
        s = stop[i]
        t = target[i]
        d = direction[i]
        # The entry must lie between stop and target: a market entry at a next open that gapped beyond the stop
        # (or the target) has no positive risk (or reward) and is skipped, as the reference does.
        if (
            not (np.isfinite(e) and np.isfinite(s) and np.isfinite(t))
            or (d > 0 and not (t > e and e > s))
            or (d < 0 and not (t < e and e < s))
        ):
            status[i] = STATUS_INVALID
            continue
        f = fill_bar[i]
        sb = stop_bar[i]
        if sb == f:
            xb = f
            rs = EXIT_STOP
            xp = s
        else:
            # The target is searched from ``f + target_from`` (1: a limit fill's candle cannot take profit;
            # 0: a market fill at the open trades the whole candle) up to the candle before the stop touch.
            last = sb - 1 if sb < n else n - 1
            if d > 0:
                tb = _scan_at_or_above(high, high_max, f + target_from, last, t)
            else:
                tb = _scan_at_or_below(low, low_min, f + target_from, last, t)
            if tb <= last:
                xb = tb
                rs = EXIT_TARGET
                xp = t
            elif sb < n:
                xb = sb
                rs = EXIT_STOP
                xp = min(open_[sb], s) if d > 0 else max(open_[sb], s)
            else:
                xb = n - 1
                rs = EXIT_END_OF_DATA
                xp = close[n - 1]
        risk = abs(e - s)
        # Target exits are limit orders (maker); stops and end-of-data exits are taker fills with slippage.
        if d > 0:
            r = (xp * (maker_sell if rs == EXIT_TARGET else taker_sell) - e * entry_buy) / risk
        else:
            r = (e * entry_sell - xp * (maker_buy if rs == EXIT_TARGET else taker_buy)) / risk
        traded[i] = True
        exit_bar[i] = xb
        reason[i] = rs
        exit_price[i] = xp
        r_mult[i] = r
        planned[i] = abs(t - e) / risk
        hours[i] = (time_ns[xb] - time_ns[f]) / ns_per_hour
        exit_day[i] = day[xb]


@njit(cache=True)
def _clip(x, cap):  # pragma: no cover - numba
    if not np.isfinite(x):
        return 0.0
    return min(max(x, -cap), cap)


@njit(cache=True)
def _aggregate_kernel(
    pos,
    counts,
    r_mult,
    planned,
    hours,
    exit_day,
    mask_t,
    combo_level,
    combo_filter,
    n_days,
    risk_pct,
    cap,
    days_per_year,
):  # pragma: no cover - numba
    """Metrics of every combination; combinations sharing a level set walk its trades together.

    Per level set, each trade (in exit order) is loaded once and applied to every combination whose filter
    mask holds it; their states are independent, so the per-combination arithmetic is exactly that of a
    single-combination call (a grid row equals a single run bit for bit).
    """
    n_combos = combo_level.shape[0]
    out = np.zeros((n_combos, 14))
    ann = math.sqrt(days_per_year)
    by_level = np.argsort(combo_level, kind="mergesort")
    start = 0
    while start < n_combos:
        lv = combo_level[by_level[start]]
        end = start
        while end < n_combos and combo_level[by_level[end]] == lv:
            end += 1
        k = end - start
        members = by_level[start:end]
        filt = np.empty(k, np.int64)
        for j in range(k):
            filt[j] = combo_filter[members[j]]
        eq = np.ones(k)
        peak = np.ones(k)
        mdd = np.zeros(k)
        trades = np.zeros(k, np.int64)
        wins = np.zeros(k, np.int64)
        sum_r = np.zeros(k)
        gross_win = np.zeros(k)
        gross_loss = np.zeros(k)
        streak = np.zeros(k, np.int64)
        max_streak = np.zeros(k, np.int64)
        sum_rr = np.zeros(k)
        sum_hours = np.zeros(k)
        # Daily returns are non-zero only on days with an exit, so only those days are visited; the other
        # days of the calendar enter the statistics as zeros through n_days.
        prev_eq = np.ones(k)
        sum_d = np.zeros(k)
        sum_d2 = np.zeros(k)
        sum_down2 = np.zeros(k)
        cur_day = -1
        for q in range(counts[lv]):
            i = pos[lv, q]
            dday = exit_day[lv, i]
            if dday != cur_day:
                if cur_day >= 0:
                    for j in range(k):
                        ret = eq[j] / prev_eq[j] - 1.0 if prev_eq[j] > 0.0 else 0.0
                        sum_d[j] += ret
                        sum_d2[j] += ret * ret
                        if ret < 0.0:
                            sum_down2[j] += ret * ret
                        prev_eq[j] = eq[j]
                cur_day = dday
            r = r_mult[lv, i]
            rr = planned[lv, i]
            hr = hours[lv, i]
            factor = 1.0 + r * risk_pct / 100.0
            member = mask_t[i]
            if r > 0.0:  # a win: equity rises, the streak resets, no new drawdown
                for j in range(k):
                    if member[filt[j]]:
                        trades[j] += 1
                        wins[j] += 1
                        sum_r[j] += r
                        gross_win[j] += r
                        streak[j] = 0
                        sum_rr[j] += rr
                        sum_hours[j] += hr
                        e = eq[j] * factor
                        eq[j] = e
                        if e > peak[j]:
                            peak[j] = e
            else:  # a loss (r <= 0): equity cannot make a new peak
                for j in range(k):
                    if member[filt[j]]:
                        trades[j] += 1
                        sum_r[j] += r
                        gross_loss[j] -= r
                        st = streak[j] + 1
                        streak[j] = st
                        if st > max_streak[j]:
                            max_streak[j] = st
                        sum_rr[j] += rr
                        sum_hours[j] += hr
                        e = max(0.0, eq[j] * factor)
                        eq[j] = e
                        if e < peak[j] * (1.0 - mdd[j]):
                            mdd[j] = max(mdd[j], (peak[j] - e) / peak[j])
        for j in range(k):
            n_tr = trades[j]
            if n_tr == 0:
                continue
            ret = eq[j] / prev_eq[j] - 1.0 if prev_eq[j] > 0.0 else 0.0
            sd = sum_d[j] + ret
            sd2 = sum_d2[j] + ret * ret
            sdown2 = sum_down2[j] + (ret * ret if ret < 0.0 else 0.0)
            row = out[members[j]]
            n_win = wins[j]
            losses = n_tr - n_win
            row[0] = n_tr
            row[1] = n_win
            row[2] = losses
            row[3] = 100.0 * n_win / n_tr
            row[4] = sum_rr[j] / n_tr
            row[5] = 100.0 * (eq[j] - 1.0)
            row[6] = 100.0 * mdd[j]
            mean = sd / n_days
            if n_days >= 2:
                std = math.sqrt(max(0.0, (sd2 - sd * mean) / (n_days - 1)))
                if std > 0.0:
                    row[7] = _clip(mean / std * ann, cap)
            down = math.sqrt(sdown2 / n_days)
            if down > 0.0:
                row[8] = _clip(mean / down * ann, cap)
            elif mean > 0.0:
                row[8] = cap
            gw = gross_win[j]
            gl = gross_loss[j]
            if gl > 0.0:
                row[9] = min(gw / gl, cap)
            elif gw > 0.0:
                row[9] = cap
            row[10] = sum_hours[j] / n_tr
            row[11] = max_streak[j]
            if n_win > 0:
                avg_loss = gl / losses if losses > 0 else 0.0
                row[12] = min((gw / n_win) / avg_loss, cap) if avg_loss > 0.0 else cap
            row[13] = sum_r[j] / n_tr
        start = end
    return out


# --------------------------------------------------------------------------- public wrappers


@dataclass(frozen=True)
class Fills:
    """Fill-search result per setup: status code, fill bar and first stop-touch bar (-1 / n = none)."""

    status: np.ndarray
    fill_bar: np.ndarray
    stop_bar: np.ndarray


def _column(dtype: type[np.generic]) -> Any:
    return field(metadata={"dtype": dtype})


@dataclass(frozen=True)
class _OutcomeRecord:
    """The outcome record, declared once: one array per field, its dtype beside it.

    ``status`` (STATUS_*), ``fill_bar``, ``traded``, ``exit_bar``,
    ``exit_reason`` (EXIT_*), ``exit_price``, ``r_multiple`` (net R),
    ``planned_rr``, ``hours`` (duration) and ``exit_day`` (day of the exit
    candle, counted from the slice's first day); -1 / NaN / 0 when not traded.
    """

    status: np.ndarray = _column(np.int8)
    fill_bar: np.ndarray = _column(np.int64)
    traded: np.ndarray = _column(np.bool_)
    exit_bar: np.ndarray = _column(np.int64)
    exit_reason: np.ndarray = _column(np.int8)
    exit_price: np.ndarray = _column(np.float64)
    r_multiple: np.ndarray = _column(np.float64)
    planned_rr: np.ndarray = _column(np.float64)
    hours: np.ndarray = _column(np.float64)
    exit_day: np.ndarray = _column(np.int64)


_OUTCOME_DTYPES = {f.name: f.metadata["dtype"] for f in fields(_OutcomeRecord)}


@dataclass(frozen=True)
class Outcomes(_OutcomeRecord):
    """Per-setup outcome of one level set (a row of an ``OutcomeTable``; fields as in the record)."""


@dataclass(frozen=True)
class OutcomeTable(_OutcomeRecord):
    """Outcomes of many level sets over one setup list, as 2-D arrays (one row per level set)."""

    @classmethod
    def allocate(cls, rows: int, setups: int) -> OutcomeTable:
        """Return an uninitialised table for ``rows`` level sets of ``setups`` setups."""
        return cls(**{name: np.empty((rows, setups), dtype) for name, dtype in _OUTCOME_DTYPES.items()})

    @classmethod
    def stack(cls, outcomes: list[Outcomes]) -> OutcomeTable:
        """Return a table holding copies of ``outcomes`` (all over the same setup list)."""
        return cls(**{name: np.stack([getattr(o, name) for o in outcomes]) for name in _OUTCOME_DTYPES})

    def __len__(self) -> int:
        return int(self.status.shape[0])

    def row(self, k: int) -> Outcomes:
        """Return level set ``k`` as Outcomes (views, no copy)."""
        return Outcomes(**{name: getattr(self, name)[k] for name in _OUTCOME_DTYPES})


def _f64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def find_fills(
    market: MarketArrays,
    *,
    index: np.ndarray,
    direction: np.ndarray,
    entry: np.ndarray,
    stop: np.ndarray,
    max_wait_bars: int,
) -> Fills:
    """Search the limit fill (or cancel/expiry) of every setup and its first stop touch.

    Depends only on entry and stop, so the grid shares it across rr_target and tp_method.
    """
    if int(max_wait_bars) < 1:
        raise ValueError(f"max_wait_bars must be >= 1, got {max_wait_bars}")
    status, fill_bar, stop_bar = _fill_kernel(
        market.high,
        market.low,
        market.low_min,
        market.high_max,
        np.ascontiguousarray(np.asarray(index, dtype=np.int64)),
        np.ascontiguousarray(np.asarray(direction, dtype=np.int8)),
        _f64(entry),
        _f64(stop),
        int(max_wait_bars),
    )
    return Fills(status=status, fill_bar=fill_bar, stop_bar=stop_bar)


# The first candle that can take profit, counted from the fill candle
# (docs/design-rules.md#trade-levels-and-the-backtest): a resting limit order fills somewhere inside its
# candle, whose high may have come before the fill; a market order fills at the candle's open, so the whole
# candle trades after it. Stop first when both, either way.
_TARGET_FROM_FILL_OFFSET = {MAKER: 1, TAKER: 0}


def resolve_exits(
    market: MarketArrays,
    fills: Fills,
    *,
    direction: np.ndarray,
    entry: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    costs: CostModel,
    entry_order: str = MAKER,
    out: Outcomes | None = None,
) -> Outcomes:
    """Return the exit and net R multiple of every filled setup (costs per order kind, module docstring).

    ``entry_order`` is ``maker`` for limit entries (patterns) and ``taker``
    for market entries (indicator strategies). ``out`` (e.g.
    ``OutcomeTable.row(k)``) receives the result in place; a filled setup
    whose entry, stop or target is NaN, or whose entry does not lie strictly
    between its stop and its target (e.g. a market entry whose next open
    gapped through the stop), becomes ``invalid``. ``fills`` may come from entry/stop arrays that
    ``prices_cover`` these (shared across level sets).
    """
    entry_buy, entry_sell = costs.factors(entry_order)
    maker_buy, maker_sell = costs.factors(MAKER)
    taker_buy, taker_sell = costs.factors(TAKER)
    m = fills.status.shape[0]
    if out is None:
        out = OutcomeTable.allocate(1, m).row(0)
    _exit_kernel(
        market.open,
        market.high,
        market.low,
        market.close,
        market.low_min,
        market.high_max,
        market.time_ns,
        market.day,
        float(NS_PER_HOUR),
        fills.status,
        fills.fill_bar,
        fills.stop_bar,
        _TARGET_FROM_FILL_OFFSET[entry_order],
        np.ascontiguousarray(np.asarray(direction, dtype=np.int8)),
        _f64(entry),
        _f64(stop),
        _f64(target),
        entry_buy,
        entry_sell,
        maker_buy,
        maker_sell,
        taker_buy,
        taker_sell,
        out.status,
        out.traded,
        out.exit_bar,
        out.exit_reason,
        out.exit_price,
        out.r_multiple,
        out.planned_rr,
        out.hours,
        out.exit_day,
    )
    out.fill_bar[:] = fills.fill_bar
    return out


def simulate_setups(
    market: MarketArrays,
    *,
    index: np.ndarray,
    direction: np.ndarray,
    entry: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    max_wait_bars: int,
    costs: CostModel,
) -> Outcomes:
    """Run the limit-order fill search and exit resolution for one set of setups."""
    fills = find_fills(market, index=index, direction=direction, entry=entry, stop=stop, max_wait_bars=max_wait_bars)
    return resolve_exits(market, fills, direction=direction, entry=entry, stop=stop, target=target, costs=costs)


def fill_at_next_open(market: MarketArrays, *, index: np.ndarray, direction: np.ndarray, stop: np.ndarray) -> Fills:
    """Return the fills of market orders placed at the close of ``index``: the next candle's open.

    A signal on the last candle has no next candle: ``expired``. The first
    stop touch is searched from the fill candle on, as for limit fills.
    """
    status, fill_bar, stop_bar = _market_fill_kernel(
        market.low,
        market.high,
        market.low_min,
        market.high_max,
        np.ascontiguousarray(np.asarray(index, dtype=np.int64)),
        np.ascontiguousarray(np.asarray(direction, dtype=np.int8)),
        _f64(stop),
    )
    return Fills(status=status, fill_bar=fill_bar, stop_bar=stop_bar)


@njit(cache=True)
def _market_fill_kernel(low, high, low_min, high_max, index, direction, stop):  # pragma: no cover - numba
    n = low.shape[0]
    m = index.shape[0]
    status = np.full(m, STATUS_EXPIRED, np.int8)
    fill_bar = np.full(m, -1, np.int64)
    stop_bar = np.full(m, -1, np.int64)
    for i in range(m):
        f = index[i] + 1
        if index[i] < 0 or f >= n:
            continue
        status[i] = STATUS_FILLED
        fill_bar[i] = f
        s = stop[i]
        if direction[i] > 0:
            stop_bar[i] = _scan_at_or_below(low, low_min, f, n - 1, s)
        else:
            stop_bar[i] = _scan_at_or_above(high, high_max, f, n - 1, s)
    return status, fill_bar, stop_bar


def aggregate_metrics(
    market: MarketArrays,
    outcomes: OutcomeTable | list[Outcomes],
    *,
    masks: np.ndarray,
    combo_level: np.ndarray,
    combo_filter: np.ndarray,
    risk_per_trade_pct: float,
) -> np.ndarray:
    """Return a (combinations x METRIC_NAMES) float array of metrics.

    Combination c uses the setups of level set ``combo_level[c]`` (a row of
    ``outcomes``) selected by ``masks[combo_filter[c]]``; every level set
    indexes the same setup list.
    """
    if risk_per_trade_pct <= 0:
        raise ValueError(f"risk_per_trade_pct must be > 0, got {risk_per_trade_pct}")
    table = outcomes if isinstance(outcomes, OutcomeTable) else OutcomeTable.stack(outcomes)
    # Exit order: a stable sort on the exit bar keeps setup (detection) order on ties; untraded sort last.
    keys = np.where(table.traded, table.exit_bar, np.iinfo(np.int64).max)
    pos = np.ascontiguousarray(np.argsort(keys, axis=1, kind="stable").astype(np.int64, copy=False))
    counts = np.ascontiguousarray(table.traded.sum(axis=1, dtype=np.int64))
    return _aggregate_kernel(
        pos,
        counts,
        np.ascontiguousarray(table.r_multiple),
        np.ascontiguousarray(table.planned_rr),
        np.ascontiguousarray(table.hours),
        np.ascontiguousarray(table.exit_day),
        np.ascontiguousarray(np.asarray(masks, dtype=np.bool_).T),  # setup-major: one cache line per trade
        np.ascontiguousarray(np.asarray(combo_level, dtype=np.int64)),
        np.ascontiguousarray(np.asarray(combo_filter, dtype=np.int64)),
        market.n_days,
        float(risk_per_trade_pct),
        METRIC_CAP,
        float(DAYS_PER_YEAR),
    )


def aggregate_sequences(
    market: MarketArrays,
    outcomes: OutcomeTable,
    *,
    combo_level: np.ndarray,
    offsets: np.ndarray,
    ids: np.ndarray,
    risk_per_trade_pct: float,
) -> np.ndarray:
    """Return the metrics of combinations that each list their own setups, in exit order.

    Combination ``c`` trades setups ``ids[offsets[c]:offsets[c + 1]]`` of
    level set ``combo_level[c]`` (a row of ``outcomes``), every one traded,
    listed in exit order (ties in detection order), as a one-position walk
    takes them. Row ``c`` is what ``aggregate_metrics`` returns for that
    combination alone: the same kernel, one combination at a time, over its
    own trades only.
    """
    if risk_per_trade_pct <= 0:
        raise ValueError(f"risk_per_trade_pct must be > 0, got {risk_per_trade_pct}")
    return _sequences_kernel(
        np.ascontiguousarray(np.asarray(offsets, dtype=np.int64)),
        np.ascontiguousarray(np.asarray(ids, dtype=np.int64)),
        np.ascontiguousarray(np.asarray(combo_level, dtype=np.int64)),
        np.ascontiguousarray(outcomes.r_multiple),
        np.ascontiguousarray(outcomes.planned_rr),
        np.ascontiguousarray(outcomes.hours),
        np.ascontiguousarray(outcomes.exit_day),
        market.n_days,
        float(risk_per_trade_pct),
        METRIC_CAP,
        float(DAYS_PER_YEAR),
    )


@njit(cache=True)
def _sequences_kernel(
    offsets, ids, combo_level, r_mult, planned, hours, exit_day, n_days, risk_pct, cap, days_per_year
):  # pragma: no cover - numba
    n_combos = combo_level.shape[0]
    out = np.zeros((n_combos, 14))
    width = 1
    for c in range(n_combos):
        width = max(width, offsets[c + 1] - offsets[c])
    pos = np.empty((1, width), np.int64)
    counts = np.empty(1, np.int64)
    every = np.ones((r_mult.shape[1], 1), np.bool_)  # one filter holding every setup
    first = np.zeros(1, np.int64)
    for c in range(n_combos):
        lv = combo_level[c]
        counts[0] = offsets[c + 1] - offsets[c]
        for q in range(counts[0]):
            pos[0, q] = ids[offsets[c] + q]
        row = _aggregate_kernel(
            pos,
            counts,
            r_mult[lv : lv + 1],
            planned[lv : lv + 1],
            hours[lv : lv + 1],
            exit_day[lv : lv + 1],
            every,
            first,
            first,
            n_days,
            risk_pct,
            cap,
            days_per_year,
        )
        out[c] = row[0]
    return out


@njit(cache=True)
def _covers(cached, current):  # pragma: no cover - numba
    if cached.shape[0] != current.shape[0]:
        return False
    for i in range(cached.shape[0]):  # noqa: SIM110 - numba compiles no all() over a generator
        if not np.isnan(current[i]) and current[i] != cached[i]:
            return False
    return True


def prices_cover(cached: np.ndarray, current: np.ndarray) -> bool:
    """Return True when ``current`` equals ``cached`` wherever ``current`` is not NaN.

    Fills computed for ``cached`` entry/stop then serve ``current`` too: a
    setup blanked (NaN) in ``current`` is turned invalid by ``resolve_exits``.
    """
    return bool(_covers(_f64(cached), _f64(current)))


def metrics_row_to_dict(row: np.ndarray) -> dict[str, float | int]:
    """Return one metrics row as a JSON-safe dict (counts as int, the rest as float)."""
    return {name: int(v) if name in INT_METRICS else float(v) for name, v in zip(METRIC_NAMES, row, strict=True)}
