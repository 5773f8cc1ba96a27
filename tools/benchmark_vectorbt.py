"""The MACD grid of ``tools/benchmark.py --only vectorbt_macd``, run in vectorbt (the peer we measure against).

Usage (vectorbt is NOT a project dependency; a throw-away virtualenv)::

    python3 -m venv /tmp/vbt-venv && /tmp/vbt-venv/bin/pip install vectorbt==1.2.0
    NUMBA_NUM_THREADS=1 /tmp/vbt-venv/bin/python tools/benchmark_vectorbt.py [CSV]

The same work as the CryptoLens section (constants below mirror
``tools/benchmark_peer.py``; this script imports nothing from ``app``): MACD
fast 6..16 step 2 x slow 20..32 step 2 x signal 5/7/8/9/11 = 210 period sets x
rr 1.5/2/2.5/3 = 840 runs on BTC/USDT 1h, long and short, one position at a
time; timed warm (after one untimed run: JIT), best of 3, on one core.
The timed call computes MACD (``vbt.MACD.run``, EMAs), the crosses and
``Portfolio.from_signals`` (``engine="numba"``) with:

- entries: the line crossing above (long) / below (short) its signal line at
  the close of candle ``t``, shifted one candle: filled at ``price=open`` of
  ``t + 1`` (the next open);
- stops: ``sl_stop = 1.5 x ATR(14)[t] / open[t + 1]`` and ``tp_stop = rr x
  sl_stop`` (fractions of the fill price, ``stop_entry_price=Price``: from
  the open, before slippage); Wilder ATR(14) computed here with numpy;
  ``stop_exit_price=StopMarket`` (at the stop, at the open on a gap);
- ``fees=0.001``, ``slippage=0.0005`` on every order; an opposite signal
  while in a trade is ignored (``upon_opposite_entry=Ignore``), no
  accumulation.

Where vectorbt's rules differ from CryptoLens's (they change a few trades,
not the work): vectorbt cannot exit on the entry candle (one order per bar
and column), charges slippage on target exits too (CryptoLens: a target is a
maker limit, no slippage) and uses its MACD's EMA warm-up (NaN for the
first ``window - 1`` values) where CryptoLens starts signals at
``max(slow + signal - 1, 14)``. The trade count of 12/26/9 rr 2 is printed
to show the two do the same work.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402
from vectorbt.portfolio.enums import OppositeEntryMode, StopEntryPrice, StopExitPrice  # noqa: E402

DEFAULT_CSV = "/work/shared/data/candles/BTC_USDT-1h.csv.gz"
FAST = [6, 8, 10, 12, 14, 16]
SLOW = [20, 22, 24, 26, 28, 30, 32]
SIGNAL = [5, 7, 8, 9, 11]
RR = [1.5, 2.0, 2.5, 3.0]
ATR_MULTIPLE = 1.5
ATR_PERIOD = 14
FEES = 0.001
SLIPPAGE = 0.0005
REPEATS = 3


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """Return Wilder's ATR (the mean of the first ``period`` true ranges, then Wilder smoothing; NaN before)."""
    previous = np.concatenate([[np.nan], close[:-1]])
    tr = np.fmax(high - low, np.fmax(np.abs(high - previous), np.abs(low - previous)))
    atr = np.full(close.shape[0], np.nan)
    value = tr[:period].mean()
    atr[period - 1] = value
    for t in range(period, close.shape[0]):
        value = (value * (period - 1) + tr[t]) / period
        atr[t] = value
    return atr


def run_grid(df: pd.DataFrame) -> vbt.Portfolio:
    """Return the portfolio of all 840 runs (210 MACD period sets x 4 rr targets), one column each."""
    return simulate(signals(df))


def signals(df: pd.DataFrame) -> dict:
    """Return the arguments of ``Portfolio.from_signals``: MACD crosses and ATR stops of every run."""
    macd = vbt.MACD.run(
        df["close"],
        fast_window=FAST,
        slow_window=SLOW,
        signal_window=SIGNAL,
        macd_ewm=True,
        signal_ewm=True,
        param_product=True,
    )
    long_cross = macd.macd_crossed_above(macd.signal).to_numpy()
    short_cross = macd.macd_crossed_below(macd.signal).to_numpy()
    n, sets = long_cross.shape
    entries = np.zeros((n, sets), np.bool_)
    short_entries = np.zeros((n, sets), np.bool_)
    entries[1:] = long_cross[:-1]  # signal at the close of t, order filled at the open of t + 1
    short_entries[1:] = short_cross[:-1]
    open_ = df["open"].to_numpy()
    atr = wilder_atr(df["high"].to_numpy(), df["low"].to_numpy(), df["close"].to_numpy())
    sl = np.full(n, np.nan)
    sl[1:] = ATR_MULTIPLE * atr[:-1] / open_[1:]
    rr = np.repeat(np.asarray(RR), sets)
    columns = pd.MultiIndex.from_tuples(
        [(r, *key) for r in RR for key in macd.wrapper.columns], names=["rr", *macd.wrapper.columns.names]
    )
    frame = lambda values: pd.DataFrame(values, index=df.index, columns=columns)  # noqa: E731
    return dict(
        close=df["close"],
        entries=frame(np.tile(entries, (1, len(RR)))),
        short_entries=frame(np.tile(short_entries, (1, len(RR)))),
        price=df["open"],
        open=df["open"],
        high=df["high"],
        low=df["low"],
        sl_stop=sl[:, None],
        tp_stop=sl[:, None] * rr[None, :],
        stop_entry_price=StopEntryPrice.Price,
        stop_exit_price=StopExitPrice.StopMarket,
        upon_opposite_entry=OppositeEntryMode.Ignore,
        accumulate=False,
        fees=FEES,
        slippage=SLIPPAGE,
        freq="1h",
        engine="numba",
    )


def simulate(arguments: dict) -> vbt.Portfolio:
    """Return ``Portfolio.from_signals`` over prepared arguments (the simulation alone)."""
    return vbt.Portfolio.from_signals(**arguments)


def best_of(fn, repeats: int = REPEATS) -> tuple[float, object]:
    """Return the fastest of ``repeats`` timed calls (seconds) and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else DEFAULT_CSV
    df = pd.read_csv(path, index_col="timestamp")  # candle open times, epoch milliseconds
    df.index = pd.to_datetime(df.index, unit="ms", utc=True)
    runs = len(FAST) * len(SLOW) * len(SIGNAL) * len(RR)
    run_grid(df)  # warm-up: numba compilation
    best, portfolio = best_of(lambda: run_grid(df))
    arguments = signals(df)
    simulation, _ = best_of(lambda: simulate(arguments))
    counts = portfolio.trades.count()
    names = list(counts.index.names)
    wanted = {"rr": 2.0, "macd_fast_window": 12, "macd_slow_window": 26, "macd_signal_window": 9}
    chosen = [k for k in counts.index if all(k[names.index(name)] == value for name, value in wanted.items())]
    reference = int(counts[chosen[0]])
    print(f"vectorbt {vbt.__version__} MACD grid: {len(df):,} candles, {runs} runs, one core, warm, best of {REPEATS}")
    print(
        f"  MACD, crosses, from_signals {best:8.3f} s = {runs / best:8,.0f} runs/s; 12/26/9 rr 2: {reference:,} trades"
    )
    print(f"  from_signals alone          {simulation:8.3f} s = {runs / simulation:8,.0f} runs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
