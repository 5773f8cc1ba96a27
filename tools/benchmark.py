"""Benchmark the pure core on real candles and print pattern counts.

Usage: ``.venv/bin/python tools/benchmark.py [--data-dir DIR] [--only SECTION ...]``

Each section is a function in ``SECTIONS`` (add new ones there); every figure
is printed with its input size. Warm timings are the best of several runs
after JIT warm-up; "cold" is the first call in a fresh process with an empty
numba cache (compilation included) and the first call in this process (numba
on-disk cache loaded if present).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from app.core.candles import read_candles_csv  # noqa: E402
from app.core.indicators import wilder_atr  # noqa: E402
from app.core.levels import ENTRY_METHODS, TP_METHODS, compute_levels  # noqa: E402
from app.core.patterns import get_detector  # noqa: E402
from app.strategies import PATTERN, get_strategy, strategy_names  # noqa: E402
from tools.benchmark_cold import section_cold_job  # noqa: E402
from tools.benchmark_coverage import section_coverage  # noqa: E402
from tools.benchmark_outcomes import section_outcomes_follow, section_outcomes_replay  # noqa: E402
from tools.benchmark_params import section_params  # noqa: E402
from tools.benchmark_peer import section_vectorbt_macd  # noqa: E402
from tools.benchmark_runs import section_runs  # noqa: E402
from tools.benchmark_scale import section_scale, section_storage  # noqa: E402
from tools.benchmark_scripts import section_scripts  # noqa: E402
from tools.benchmark_sweep import (  # noqa: E402
    section_optimizer,
    section_sweep,
    section_sweep_all,
    section_sweep_dask,
)
from tools.benchmark_web import section_web  # noqa: E402

PATTERN_TYPES = strategy_names(PATTERN)

BENCH_FILE = "BTC_USDT-30m.csv.gz"
WARM_REPEATS = 7


def default_data_dir() -> Path:
    """Return ../shared/data/candles relative to the repo root if it exists, else data/candles."""
    shared = REPO_ROOT.parent / "shared" / "data" / "candles"
    return shared if shared.is_dir() else REPO_ROOT / "data" / "candles"


def load_ohlc(path: Path) -> tuple[np.ndarray, ...]:
    """Return (open, high, low, close) arrays of a candle CSV."""
    df = read_candles_csv(path)
    return tuple(df[c].to_numpy() for c in ("open", "high", "low", "close"))


def best_of(fn: Callable[[], object], repeats: int = WARM_REPEATS) -> float:
    """Return the fastest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_path(data_dir: Path) -> Path:
    path = data_dir / BENCH_FILE
    if not path.is_file():
        candidates = sorted(data_dir.glob("*.csv.gz"), key=lambda p: p.stat().st_size)
        if not candidates:
            raise SystemExit(f"no candle files in {data_dir}")
        path = candidates[-1]
    return path


def detect_all(o, h, lo, c, *, use_overlap: bool = True) -> dict[str, int]:
    """Run all three detectors (production defaults) and return pattern counts."""
    return {pt: len(get_detector(pt).find(o, h, lo, c, use_overlap=use_overlap)) for pt in PATTERN_TYPES}


_COLD_SNIPPET = """
import sys, time
sys.path.insert(0, {root!r})
from tools.benchmark import load_ohlc, detect_all
from pathlib import Path
o, h, lo, c = load_ohlc(Path({path!r}))
t = time.perf_counter(); detect_all(o, h, lo, c); print(time.perf_counter() - t)
"""


def section_detect(data_dir: Path) -> None:
    """Time all three detectors together (candidates + min-zone + overlap filters)."""
    path = bench_path(data_dir)
    o, h, lo, c = load_ohlc(path)
    n = len(c)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = _COLD_SNIPPET.format(root=str(REPO_ROOT), path=str(path))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        compile_cold = float(out.stdout.strip().splitlines()[-1])
    start = time.perf_counter()
    counts = detect_all(o, h, lo, c)
    first = time.perf_counter() - start
    warm = best_of(lambda: detect_all(o, h, lo, c))
    warm_skip = best_of(lambda: detect_all(o, h, lo, c, use_overlap=False))
    print(f"detect  {path.name}: {n:,} bars, all 3 detectors, patterns {counts}")
    print(f"  cold, fresh process + empty numba cache (JIT compile): {compile_cold:8.3f} s")
    print(f"  first call in this process (numba disk cache):         {first:8.3f} s")
    print(f"  warm, with overlap filter (best of {WARM_REPEATS}):              {warm * 1000:8.2f} ms")
    print(f"  warm, skip_overlap (best of {WARM_REPEATS}):                     {warm_skip * 1000:8.2f} ms")
    for pt in PATTERN_TYPES:
        det = get_detector(pt)
        t_cand = best_of(lambda det=det: det.find_candidates(o, h, lo, c))
        cands = det.find_candidates(o, h, lo, c)
        t_find = best_of(lambda det=det: det.find(o, h, lo, c))
        print(
            f"  {pt:16s} {n:,} bars: find_candidates {t_cand * 1000:7.2f} ms ({len(cands):,} candidates), "
            f"find {t_find * 1000:7.2f} ms"
        )


def section_levels(data_dir: Path) -> None:
    """Time Wilder ATR and compute_levels for every entry x tp method on all order blocks."""
    path = bench_path(data_dir)
    o, h, lo, c = load_ohlc(path)
    n = len(c)
    wilder_atr(h, lo, c)
    t_atr = best_of(lambda: wilder_atr(h, lo, c))
    atr = wilder_atr(h, lo, c)
    pats = get_detector("order_block").find(o, h, lo, c, use_overlap=False)
    print(f"levels  {path.name}: {n:,} bars; wilder_atr {t_atr * 1000:.2f} ms")
    for entry in ENTRY_METHODS:
        for tp in TP_METHODS:

            def run(entry=entry, tp=tp):
                return compute_levels(
                    patterns=pats,
                    high=h,
                    low=lo,
                    close=c,
                    atr=atr,
                    entry_method=entry,
                    sl_buffer_pct=10.0,
                    tp_method=tp,
                    rr_target=2.0,
                )

            run()
            print(f"  {entry:10s} x {tp:12s} {len(pats):,} patterns: {best_of(run) * 1000:7.2f} ms")


def section_counts(data_dir: Path) -> None:
    """Print pattern counts per type and direction (production defaults) for every file."""
    files = sorted(data_dir.glob("*.csv*"))
    if not files:
        raise SystemExit(f"no candle files in {data_dir}")
    header = "".join(f"{pt + ' bull/bear':>28s}" for pt in PATTERN_TYPES)
    print(f"counts  {data_dir}")
    print(f"  {'file':32s}{'bars':>9s}{header}")
    missing = []
    for path in files:
        o, h, lo, c = load_ohlc(path)
        cells = []
        for pt in PATTERN_TYPES:
            found = get_detector(pt).find(o, h, lo, c)
            bull = int((found.direction == 1).sum())
            bear = int((found.direction == -1).sum())
            if bull == 0 or bear == 0:
                missing.append(f"{path.name} {pt}")
            cells.append(f"{bull:>14,d} / {bear:<11,d}")
        print(f"  {path.name:32s}{len(c):>9,d}" + "".join(cells))
    if missing:
        print(f"  WARNING: no patterns of one direction for: {', '.join(missing)}")


BACKTEST_FILE = "BTC_USDT-1h.csv.gz"

_BACKTEST_COLD_SNIPPET = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tools.benchmark import backtest_inputs
from app.evaluation.backtest import run_backtest_grid
df, combos = backtest_inputs(Path({path!r}))
t = time.perf_counter(); run_backtest_grid(df, strategy={pattern_type!r}, combinations=combos)
print(time.perf_counter() - t)
"""


def backtest_inputs(path: Path, strategy: str = "imbalance") -> tuple[object, list[dict]]:
    """Return (candles DataFrame, the combinations of the strategy's default grid)."""
    space = get_strategy(strategy).space
    return read_candles_csv(path), space.expand(space.preset("default"))


def _cold_grid_seconds(path: Path, pattern_type: str, env: dict[str, str]) -> float:
    code = _BACKTEST_COLD_SNIPPET.format(root=str(REPO_ROOT), path=str(path), pattern_type=pattern_type)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def section_backtest(data_dir: Path) -> None:
    """Time one run_backtest and the 960-combination default grid per pattern strategy (runs/s)."""
    from app.evaluation.backtest import run_backtest, run_backtest_grid

    path = data_dir / BACKTEST_FILE if (data_dir / BACKTEST_FILE).is_file() else bench_path(data_dir)
    df, combos = backtest_inputs(path)
    n = len(df)
    with tempfile.TemporaryDirectory() as cache:
        first_ever = _cold_grid_seconds(path, "imbalance", dict(os.environ, NUMBA_CACHE_DIR=cache))
    run_backtest(df, strategy="imbalance")  # warm-up; also writes the on-disk numba cache
    single = best_of(lambda: run_backtest(df, strategy="imbalance"))
    print(f"backtest  {path.name}: {n:,} bars, default grid of {len(combos)} combinations")
    print(f"  first-ever grid, fresh process + empty numba cache (JIT compile): {first_ever:8.3f} s")
    print(f"  run_backtest, one run, candles given (warm, best of {WARM_REPEATS}):       {single * 1000:8.2f} ms")
    for pt in PATTERN_TYPES:
        r = run_backtest(df, strategy=pt)
        print(
            f"  {pt:16s} production defaults: {r['total_trades']:,} trades, win rate {r['win_rate']:.1f}%, "
            f"expectancy {r['expectancy_r']:.3f} R, setups {r['setups']}"
        )
    for pt in PATTERN_TYPES:
        run_backtest_grid(df, strategy=pt, combinations=combos)
        cold = _cold_grid_seconds(path, pt, dict(os.environ))
        warm = best_of(lambda pt=pt: run_backtest_grid(df, strategy=pt, combinations=combos))
        print(
            f"  {pt:16s} grid: warm {warm * 1000:7.1f} ms = {len(combos) / warm:7,.0f} runs/s; "
            f"cold (fresh process, numba cache present) {cold * 1000:7.1f} ms = {len(combos) / cold:7,.0f} runs/s"
        )


INDICATOR_STRATEGIES = ("ema_cross", "macd")


def section_indicators(data_dir: Path) -> None:
    """Time the DEFAULT grid of each indicator strategy on BTC/USDT 1h (warm runs/s, one core)."""
    from app.core.costs import resolve_costs
    from app.evaluation.backtest import market_arrays, run_backtest_grid
    from app.strategies import get_strategy

    path = data_dir / BACKTEST_FILE if (data_dir / BACKTEST_FILE).is_file() else bench_path(data_dir)
    df = read_candles_csv(path)
    market = market_arrays(df)
    costs = resolve_costs()
    print(f"indicators  {path.name}: {len(df):,} bars, default cost model, DEFAULT grid per strategy")
    for name in INDICATOR_STRATEGIES:
        strategy = get_strategy(name)
        combos = strategy.space.expand(strategy.space.preset("default"))
        start = time.perf_counter()
        strategy.grid_metrics(market, combos, costs=costs, max_wait_bars=1)
        first = time.perf_counter() - start
        warm = best_of(lambda s=strategy, c=combos: s.grid_metrics(market, c, costs=costs, max_wait_bars=1))
        full = best_of(lambda n=name, c=combos: run_backtest_grid(df, strategy=n, combinations=c), repeats=3)
        print(
            f"  {name:10s} {len(combos):5,d} combinations: grid_metrics warm {warm * 1000:7.1f} ms = "
            f"{len(combos) / warm:7,.0f} runs/s; run_backtest_grid (validation + frame) {full * 1000:7.1f} ms = "
            f"{len(combos) / full:7,.0f} runs/s; first call {first:6.2f} s"
        )


SECTIONS: dict[str, Callable[[Path], None]] = {
    "detect": section_detect,
    "levels": section_levels,
    "counts": section_counts,
    "backtest": section_backtest,
    "optimizer": section_optimizer,
    "cold_job": section_cold_job,
    "sweep": section_sweep,
    "sweep_all": section_sweep_all,
    "sweep_dask": section_sweep_dask,
    "coverage": section_coverage,
    "indicators": section_indicators,
    "vectorbt_macd": section_vectorbt_macd,
    "scripts": section_scripts,
    "runs": section_runs,
    "web": section_web,
    "params": section_params,
    "storage": section_storage,
    "scale": section_scale,
    "outcomes_follow": section_outcomes_follow,
    "outcomes_replay": section_outcomes_replay,
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the selected sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(), help="directory of candle CSV files")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections")
    args = parser.parse_args(argv)
    for name in args.only or SECTIONS:
        SECTIONS[name](args.data_dir)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
