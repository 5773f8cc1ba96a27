"""tools/fault_injection.py: a reduced run (6 slices, 2 kills) on SQLite ends 0/0/0; its comparison can fail."""

from __future__ import annotations

import copy
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import BUNDLED_DIR, REPO_ROOT
from tools.fault_injection import Snapshot, compare


def _fault_injection(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "fault_injection.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )


@pytest.fixture
def small_data(tmp_path):
    """Three daily files: 3 symbols x 1d, so 2 strategies make 6 slices."""
    data = tmp_path / "candles"
    data.mkdir()
    for pair in ("BTC", "ETH", "SOL"):
        shutil.copy(BUNDLED_DIR / f"{pair}_USDT-1d.csv.gz", data)
    return data


def test_a_takeover_and_a_kill_inside_a_store_lose_duplicate_and_change_nothing(small_data):
    # seed 13 plans: a second runner takes the live job over and the original is killed; then the taker is
    # killed inside a store, its slice row inserted and not committed (4 runner processes: the test's time)
    result = _fault_injection(
        *("--data-dir", str(small_data), "--preset", "quick", "--strategies", "imbalance,macd"),
        *("--kills", "2", "--workers", "1", "--seed", "13"),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-2000:]
    assert "6 slices" in out
    assert "kills done: 2 of 2, as expected: 2; result: PASS" in out
    assert "takeover: after store" in out and "claimed the live job; SIGKILL runner 2" in out
    assert "store: store" in out and "before runs" in out
    assert "not stored (rolled back)" in out  # the kill inside the store left nothing of that slice
    rows = {line[:20].strip(): line[20:].split() for line in out.splitlines() if line[:20].strip()}
    assert rows["lost slices"] == ["0", "0"]
    assert rows["duplicated runs"] == ["0", "0"]
    assert rows["differing slices"] == ["0", "0"]


def test_a_database_that_is_not_empty_is_refused_without_reset(tmp_path, small_data):
    path = tmp_path / "busy.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE keep_me (id INTEGER)")
    result = _fault_injection("--database-url", f"sqlite:///{path}", "--data-dir", str(small_data), "--kills", "0")
    assert result.returncode == 2
    assert "Error:" in result.stderr and "--reset" in result.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("keep_me",)]


def _snapshot() -> Snapshot:
    run = {"params": {"rr_target": 2.0}, "composite_score": 1.5, "results_json": None}
    record = {"status": "completed", "checks": {"monte_carlo": {"p50": 3.0}}, "best_run": "a", "runs": {"a": run}}
    slices = {"BTC/USDT|1d|imbalance": record, "ETH/USDT|1d|imbalance": copy.deepcopy(record)}
    return Snapshot(status="completed", completed_runs=2, slices=slices, slice_rows=2, run_rows=2)


def test_the_comparison_counts_lost_duplicated_and_differing():
    reference = _snapshot()
    assert compare(reference, _snapshot()) == {"lost": [], "duplicates": 0, "differing": {}}
    faulted = _snapshot()
    faulted.slices["ETH/USDT|1d|imbalance"]["status"] = "failed"  # lost
    faulted.slices["BTC/USDT|1d|imbalance"]["checks"]["monte_carlo"]["p50"] = 2.9  # differs
    faulted.completed_runs = 3  # counted once more than stored
    result = compare(reference, faulted)
    assert result["lost"] == ["ETH/USDT|1d|imbalance"]
    assert result["duplicates"] == 1
    assert result["differing"] == {"BTC/USDT|1d|imbalance": ["checks"]}
