"""Issue 23's acceptance run: sets chosen on earlier data, replayed on the following year, reconciled, monitored.

    .venv/bin/python -m tools.acceptance_outcomes [CANDLE_DIR] [--pairs BTC,ETH] [--timeframes 1h,4h] [--keep FILE]

1. A fresh SQLite file gets the shared candles of the pairs x timeframes.
2. The weekly-style sweep: DEFAULT grids, every strategy, walk-forward, on
   the four years ``IN_SAMPLE`` (nothing later is read).
3. The auto-tuner's gate judges every slice (a dry run: its decision is the
   table's ``gate`` column). Then a second sweep without walk-forward and the
   sets the auto-tuner promoted before the gate (``AUTOTUNE_MIN_DSR`` 0,
   ``AUTOTUNE_MAX_PBO`` 1, walk-forward not required: issue 22's "20 slices
   proposed") are applied and dated at the end of their data, as if chosen
   on ``IN_SAMPLE[1]``: the production sets of the replay, the lottery
   winners the monitor has to catch.
   Slices the tuner leaves alone trade the defaults (not monitored: no
   backtest promised anything).
4. ``flask outcomes replay`` for every pair x timeframe from ``REPLAY_FROM``
   to the newest candle, in daily steps, every strategy: the scanners publish
   as they would have live and the tracker follows each setup.
5. Reconciliation of every slice against the backtest, then the monitor's
   verdict per production set. Printed as one Markdown table.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from tools.benchmark_sweep import SWEEP_PAIRS, fresh_app

IN_SAMPLE = ("2020-09-20", "2024-09-19")
REPLAY_FROM = "2024-09-20"
TIMEFRAMES = ("1h", "4h")
STEP_CANDLES = {"1h": 24, "4h": 6}  # one step per day
UNGATED = {"AUTOTUNE_MIN_DSR": 0.0, "AUTOTUNE_MAX_PBO": 1.0, "AUTOTUNE_REQUIRE_WALK_FORWARD": False}


def _arguments() -> argparse.Namespace:
    from tools.benchmark import default_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candles", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--pairs", default=",".join(SWEEP_PAIRS))
    parser.add_argument("--timeframes", default=",".join(TIMEFRAMES))
    parser.add_argument("--keep", type=Path, default=None, help="Copy the SQLite file here (to look at the pages).")
    return parser.parse_args()


def sweep(symbols: list[str], timeframes: list[str], *, validation: str):
    """Run a DEFAULT-grid sweep of every strategy on the in-sample years; return the job."""
    from app.services.optimizer import jobs
    from app.services.optimizer.runner import JobRunner

    job = jobs.create_sweep_job(
        symbols=symbols, timeframes=timeframes, start_date=IN_SAMPLE[0], end_date=IN_SAMPLE[1], validation=validation
    )
    started = time.perf_counter()
    status = JobRunner().run(job.id).status
    seconds = time.perf_counter() - started
    print(f"sweep ({validation}): job {job.id}, {job.total_runs:,} runs, {status} in {seconds:.1f}s")
    return job


def gate_decisions(symbols: list[str], timeframes: list[str]) -> dict[tuple[str, str, str], str]:
    """Run the weekly sweep (walk-forward); return the gate's decision per slice (a dry run: nothing applied)."""
    from app.services import auto_tuner

    sweep(symbols, timeframes, validation="walk_forward")
    gate = {(d.symbol, d.timeframe, d.strategy): d for d in auto_tuner.apply_best_params(dry_run=True)}
    print(f"gate: {sum(d.decision == 'proposed' for d in gate.values())} of {len(gate)} slices would be promoted")
    return {key: f"{d.decision}: {d.reason}" for key, d in gate.items()}


def choose_sets(app, symbols: list[str], timeframes: list[str]) -> None:
    """Apply what the auto-tuner promoted before the gate (newest job: a sweep without walk-forward), dated."""
    import pandas as pd
    from sqlalchemy import update

    from app.extensions import db
    from app.models import ProductionParameterSet
    from app.services import auto_tuner

    sweep(symbols, timeframes, validation="none")
    saved = {name: app.config[name] for name in UNGATED}
    app.config.update(UNGATED)
    try:
        ungated = auto_tuner.apply_best_params(dry_run=False, actor="acceptance")
    finally:
        app.config.update(saved)
    applied = [d for d in ungated if d.set_id]
    for d in ungated:
        print(f"  ungated {d.symbol} {d.timeframe} {d.strategy}: {d.decision}: {d.reason}")
    chosen_at = pd.Timestamp(IN_SAMPLE[1]) + pd.Timedelta(hours=23, minutes=59)
    db.session.execute(
        update(ProductionParameterSet)
        .where(ProductionParameterSet.id.in_([d.set_id for d in applied]))
        .values(applied_at=chosen_at.to_pydatetime())
    )
    db.session.commit()
    print(f"ungated: {len(applied)} sets applied as of {chosen_at}")


def replay_all(symbols: list[str], timeframes: list[str]) -> None:
    from app.extensions import db
    from app.services.outcomes import replay

    for symbol in symbols:
        for tf in timeframes:
            started = time.perf_counter()
            report = replay.replay(symbol, tf, start=REPLAY_FROM, step=STEP_CANDLES[tf])
            db.session.commit()
            print(
                f"replay {symbol} {tf}: {report.steps} steps, {sum(report.new_setups.values())} setups "
                f"in {time.perf_counter() - started:.1f}s"
            )


def reconcile_all(symbols: list[str], timeframes: list[str]) -> dict[tuple[str, str, str], dict]:
    from app.services.outcomes.reconciliation import reconcile
    from app.strategies import strategy_names

    return {
        (s, tf, name): reconcile(symbol=s, timeframe=tf, strategy=name, start=REPLAY_FROM)
        for s in symbols
        for tf in timeframes
        for name in strategy_names()
    }


def print_table(gate: dict, checked: dict) -> None:
    from app.services.outcomes import monitor
    from app.strategies.param_view import diff_text

    states = {(s["symbol"], s["timeframe"], s["strategy"]): s for s in monitor.monitor_states()}
    print(
        "\n| symbol | tf | strategy | gate | production set (vs defaults) | expected R/trade | live trades | "
        "live R/trade | cum R | band | CUSUM | SPRT | verdict | trades for verdict | reconciled |"
    )
    print("|---" * 15 + "|")
    for key, check in checked.items():
        state = states.get(key)
        gate_text = gate.get(key, "-").split(":")[0]
        recon = f"{check['matched']}/{check['compared']}"
        if state is None:
            blanks = " | ".join("-" * 7)
            print(f"| {' | '.join(key)} | {gate_text} | defaults | {blanks} | not monitored | - | {recon} |")
            continue
        exp, band = state["expectation"], state["band"]
        band_text = f"{band['low']:+.1f}..{band['high']:+.1f}" if band else "-"
        print(
            f"| {' | '.join(key)} | {gate_text} | set {state['set_id']}: "
            f"{diff_text(key[2], None, after=state['params']) or 'defaults'} | "
            f"{exp['mean_r']:+.3f} ({exp['source']}) | {state['trades']} | {state['live_mean_r']:+.3f} | "
            f"{state['cumulative_r']:+.1f} | {band_text} | "
            f"{state['cusum']:.1f} | {state['sprt']} | {state['verdict']} | {state['trades_for_verdict'] or '-'} | "
            f"{recon} |"
        )
    compared = sum(c["compared"] for c in checked.values())
    matched = sum(c["matched"] for c in checked.values())
    print(f"\nreconciliation: {matched:,} of {compared:,} tracked setups identical to the backtest")
    first = next((c["first_mismatch"] for c in checked.values() if c["first_mismatch"]), None)
    if first:
        print(f"first mismatch: {first}")


def main() -> None:
    args = _arguments()
    pairs = [p.strip().upper() for p in args.pairs.split(",") if p.strip()]
    timeframes = [t.strip() for t in args.timeframes.split(",") if t.strip()]
    files = [args.candles / f"{pair}_USDT-{tf}.csv.gz" for pair in pairs for tf in timeframes]
    symbols = [f"{pair}/USDT" for pair in pairs]
    with fresh_app(files) as (app, db_path):
        gate = gate_decisions(symbols, timeframes)
        choose_sets(app, symbols, timeframes)
        replay_all(symbols, timeframes)
        print_table(gate, reconcile_all(symbols, timeframes))
        if args.keep:  # SQLite's backup API: a file copy would miss what is still in the WAL
            with sqlite3.connect(db_path) as source, sqlite3.connect(args.keep) as target:
                source.backup(target)


if __name__ == "__main__":
    main()
