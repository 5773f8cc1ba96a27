"""Cold-job benchmark (section ``cold_job`` of tools/benchmark.py): the first job of a fresh process.

``flask optimize new --run`` of 80 imbalance combinations on BTC/USDT 1h (one
slice, Monte Carlo on), each in a new process on a throw-away SQLite file,
timed from the command's start to its end (the process's start-up, imports
and ``create_app``, is printed beside it):

- *first-ever*: an empty numba cache (a new ``NUMBA_CACHE_DIR``) and an empty
  verdict store: every kernel compiles, the lookahead guard runs;
- *cache warm, new candles*: the cache filled by ``flask warm`` (what the setup
  runs), a database that has not seen these candles: the guard runs;
- *cache warm* (issue 24's target, <= 0.3 s): the same, after an earlier job
  checked the same strategy code on the same candles: kernels load from the
  cache, the guard's verdict comes from the table;
- *warm* for comparison: a second job in the same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COLD_FILE = "BTC_USDT-1h.csv.gz"
COLD_GRID = {
    "rr_target": [1.5, 2.0, 2.5, 3.0, 3.5],
    "sl_buffer_pct": [5, 10, 15, 20],
    "min_zone_pct": [0.1, 0.15, 0.2, 0.25],
}
COLD_TARGET_SECONDS = 0.3

# Runs in the fresh process: what `flask optimize new --run` does, timed around the command itself.
_COLD_JOB_SNIPPET = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from app import create_app, finish_startup
app = create_app()
finish_startup()  # as run.py does for every flask command
startup = time.perf_counter() - started
args = ["optimize", "new", "--symbols", "BTC/USDT", "--timeframes", "1h", "--strategies", "imbalance",
        "--grid", {grid!r}, "--run", "--workers", "1"]
jobs, cpu = [], []
for _ in range({repeats}):
    begun, begun_cpu = time.perf_counter(), time.process_time()
    result = app.test_cli_runner().invoke(args=args)
    jobs.append(time.perf_counter() - begun)
    cpu.append(time.process_time() - begun_cpu)  # every thread of the process (the slice computes in one)
    if result.exit_code != 0:
        raise SystemExit(result.output)
print(json.dumps({{"startup": startup, "jobs": jobs, "cpu": cpu, "last": result.output.strip().splitlines()[-1]}}))
"""


def _job_in_fresh_process(env: dict[str, str], *, repeats: int = 1) -> dict:
    code = _COLD_JOB_SNIPPET.format(root=str(REPO_ROOT), grid=json.dumps(COLD_GRID), repeats=repeats)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _flask(env: dict[str, str], *args: str) -> float:
    """Run ``flask ARGS`` in a new process; return its wall seconds (start-up included)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flask", *args], env=env, capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return time.perf_counter() - started


def _fresh_database(tmp: Path, name: str, env: dict[str, str], candles: Path) -> dict[str, str]:
    """Return ``env`` pointing at a new migrated SQLite file holding ``candles`` (BTC/USDT 1h)."""
    env = {**env, "DATABASE_URL": f"sqlite:///{tmp / name}"}
    _flask(env, "db", "upgrade")
    _flask(env, "candles", "import", str(candles), "--symbol", "BTC/USDT", "--timeframe", "1h")
    return env


def section_cold_job(data_dir: Path) -> None:
    """Time a first job in a fresh process: first-ever, with the numba cache warm, and warm in-process."""
    candles = data_dir / COLD_FILE
    if not candles.is_file():
        print(f"cold_job: skipped, {candles} missing")
        return
    print(f"cold_job: `flask optimize new --run`, {COLD_FILE}, 80 imbalance combinations, one slice, Monte Carlo on")
    base = {**os.environ, "FLASK_APP": "run.py", "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        first_env = {**_fresh_database(tmp, "first.db", base, candles), "NUMBA_CACHE_DIR": str(tmp / "numba")}
        first = _job_in_fresh_process(first_env)
        warm_seconds = _flask(base, "warm")  # the setup's step (the cache as ./dev.sh leaves it)
        env = _fresh_database(tmp, "cold.db", base, candles)
        unseen = _job_in_fresh_process(env)  # the guard checks these candles: nothing stored yet
        cold = [_job_in_fresh_process(env) for _ in range(3)]  # the verdict comes from the table
        same_process = _job_in_fresh_process(env, repeats=4)
        process_wall = _flask(
            env,
            *("optimize", "new", "--symbols", "BTC/USDT", "--timeframes", "1h", "--strategies", "imbalance"),
            *("--grid", json.dumps(COLD_GRID), "--run", "--workers", "1"),
        )
    best = min(run["jobs"][0] for run in cold)
    best_cpu = min(run["cpu"][0] for run in cold)
    print("  (wall s / CPU s of the job; on a shared machine compare the CPU figures)")
    print(f"  first-ever (empty numba cache, empty verdict store):  {_pair(first, 0)}")
    print(f"  cache warm, candles new to the verdict store:        {_pair(unseen, 0)}")
    print(
        f"  cache warm (verdict stored), best of {len(cold)} processes:   {best:6.3f} / {best_cpu:6.3f} "
        f"(target <= {COLD_TARGET_SECONDS} s: {'met' if min(best, best_cpu) <= COLD_TARGET_SECONDS else 'MISSED'}; "
        f"runs {', '.join(_pair(run, 0) for run in cold)})"
    )
    warm = min(range(1, 4), key=lambda i: same_process["jobs"][i])
    print(f"  warm (the same process's 2nd..4th job), best:        {_pair(same_process, warm)}")
    print(
        f"  beside the job: process start-up (imports, create_app) {unseen['startup']:.2f} s; "
        f"a whole `flask optimize new --run` process {process_wall:.2f} s; `flask warm` {warm_seconds:.1f} s"
    )


def _pair(run: dict, i: int) -> str:
    return f"{run['jobs'][i]:6.3f} / {run['cpu'][i]:6.3f}"
