"""The ``outcomes_follow`` and ``outcomes_replay`` sections of tools/benchmark.py (issue 23's targets).

``outcomes_follow``: a fresh SQLite file gets 5 pairs x 30m/1h/4h/1d of real
candles; every strategy scans each slice once over all candles but the newest
(the setups and outcomes production would hold), then the newest candle
"arrives": the tracker's follow path of the hourly scan (``tracker.follow_all``,
what ``pattern_scanner.scan`` / ``signal_scanner.scan_all`` run after publishing
every slice) follows all open setups of the 100 slices over their candles; for
comparison, ``tracker.follow_slice`` slice by slice (the path before). Loading
the candles is not timed (the scan loaded them already). Best of 3, each inside
a transaction rolled back. Target < 50 ms.

``outcomes_replay``: ``replay.replay`` of one year of BTC/USDT 1h candles
(2024-09-20 .. 2025-09-19, after all earlier history as warm-up) for one
slice per strategy, in steps of ``REPLAY_STEPS`` candles, each on an empty
outcome table; printed: the steps and the scans run (only the steps that can
change what is stored are scanned, docs/outcomes.md#history-replay), wall and
CPU time. Target < 5 s.
"""

from __future__ import annotations

import time
from pathlib import Path

from tools.benchmark_sweep import SWEEP_PAIRS, SWEEP_TIMEFRAMES, fresh_app

FOLLOW_TARGET_S = 0.050
REPLAY_TARGET_S = 5.0
REPLAY_FILE = "BTC_USDT-1h.csv.gz"
REPLAY_FROM, REPLAY_TO = "2024-09-20", "2025-09-19"
REPLAY_STEPS = (24,)  # steps of 1 candle: 8,760 full scans, about 15 minutes per strategy; not run


def _verdict(seconds: float, target: float) -> str:
    return "met" if seconds < target else "NOT met"


def section_outcomes_follow(data_dir: Path) -> None:
    """Follow all open setups of 5 pairs x 4 timeframes x 5 strategies after one new candle."""
    from sqlalchemy import func, select

    from app.core.patterns import get_detector
    from app.extensions import db
    from app.models import SetupOutcome
    from app.services.candles.candle_store import load_candles
    from app.services.outcomes import tracker
    from app.services.scanning import pattern_scanner, signal_scanner
    from app.strategies import PATTERN, get_strategy, strategy_names

    files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
    print(f"outcomes_follow  {len(files)} files x {len(strategy_names())} strategies")
    with fresh_app(files):
        slices, bars = [], 0
        started = time.perf_counter()
        for pair in SWEEP_PAIRS:
            for tf in SWEEP_TIMEFRAMES:
                symbol = f"{pair}/USDT"
                candles = load_candles(symbol, tf)
                bars += len(candles)
                before = candles.index[-2].tz_convert("UTC").tz_localize(None).to_pydatetime()
                for name in strategy_names():
                    if get_strategy(name).kind == PATTERN:
                        pattern_scanner.scan_detector(get_detector(name), symbol=symbol, timeframe=tf, until=before)
                    else:
                        signal_scanner.scan_signals(symbol=symbol, timeframe=tf, strategy=name, until=before)
                    slices.append((symbol, tf, name, candles))
        followed = db.session.scalar(
            select(func.count()).select_from(SetupOutcome).where(SetupOutcome.state.in_(tracker.FOLLOWED_STATES))
        )
        total = db.session.scalar(select(func.count()).select_from(SetupOutcome))
        print(
            f"  scanned {len(slices)} slices ({bars:,} candles) up to their next-to-last candle in "
            f"{time.perf_counter() - started:.1f}s: {total:,} outcomes, {followed:,} open (waiting or open)"
        )
        batch = {(s, tf, n): c for s, tf, n, c in slices}
        paths = {
            "follow_all (production)": lambda: sum(tracker.follow_all(batch).values()),
            "follow_slice per slice": lambda: sum(
                tracker.follow_slice(symbol=s, timeframe=tf, strategy=n, candles=c) for s, tf, n, c in slices
            ),
        }
        for label, follow in paths.items():
            _time_follow(label, follow, db)


def _time_follow(label: str, follow, db) -> None:
    times, cpu, changed = [], [], 0
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        changed = follow()
        db.session.flush()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        db.session.rollback()
    best = min(times)
    print(
        f"  {label}: follow all open setups after one new candle: {best * 1000:.1f} ms wall, "
        f"{min(cpu) * 1000:.1f} ms CPU (best of 3; {changed} outcomes changed), "
        f"target < {FOLLOW_TARGET_S * 1000:.0f} ms: {_verdict(best, FOLLOW_TARGET_S)}"
    )


def section_outcomes_replay(data_dir: Path) -> None:
    """Replay one year of 1h candles for one slice per strategy in daily steps (24 candles)."""
    from sqlalchemy import delete, func, select

    from app.extensions import db
    from app.models import Pattern, SetupOutcome, Signal
    from app.services.outcomes import replay
    from app.strategies import strategy_names

    path = data_dir / REPLAY_FILE
    print(f"outcomes_replay  {path.name}: {REPLAY_FROM} .. {REPLAY_TO}, one slice per strategy")
    with fresh_app([path]):
        for step in REPLAY_STEPS:
            for name in strategy_names():
                for model in (SetupOutcome, Pattern, Signal):
                    db.session.execute(delete(model))
                db.session.commit()
                start, start_cpu = time.perf_counter(), time.process_time()
                report = replay.replay("BTC/USDT", "1h", start=REPLAY_FROM, end=REPLAY_TO, strategies=[name], step=step)
                seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
                tracked = db.session.scalar(select(func.count()).select_from(SetupOutcome))
                print(
                    f"  {name:16s} step {step:3d}: {report.steps:,d} steps, {report.scans[name]:,d} scans, "
                    f"{report.candles:,} candles, "
                    f"{tracked:,} outcomes, {seconds:6.2f} s wall, {cpu:6.2f} s CPU, target < {REPLAY_TARGET_S:.0f} s: "
                    f"{_verdict(seconds, REPLAY_TARGET_S)}"
                )
