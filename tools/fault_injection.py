#!/usr/bin/env python
"""Kill optimization runners with SIGKILL at chosen points, resume, and compare with an uninterrupted run.

Usage:
  python tools/fault_injection.py [--database-url URL] [--data-dir DIR] [--preset default|quick]
         [--symbols A,B] [--timeframes 4h,1d] [--strategies imbalance,macd] [--kills 5] [--seed 15]
         [--validation none|walk_forward] [--workers 2] [--timeout 600] [--reset]

What it does (local only: runner processes on this machine, one local database):
1. builds the schema (Alembic) in the database, imports the candles of
   ``--data-dir`` (default the bundled ``data/candles``; the larger shared set
   is ``--data-dir ../shared/data/candles``) and creates a sweep job the way the
   weekly cron does (``create_sweep_job``: every imported symbol, the
   ``OPTIMIZE_TIMEFRAMES`` stored for all of them, every strategy, ``--preset``
   grids; on the bundled data 5 symbols x 4h, 1d x 5 strategies = 50 slices);
2. runs it uninterrupted with ``scripts/run_optimization.py --job-id`` and
   keeps what it stored (the reference);
3. drops every table and rebuilds the schema so the same job gets the same id (its
   Monte Carlo and lookahead seeds are the job id), imports and creates it
   again, then runs it under ``--kills`` faults, each a SIGKILL of a runner's
   whole process group (the runner and its worker processes, as when a
   machine or container dies), at a seeded random slice store:
   - ``between``: right after a slice store committed, before anything of the
     next one is written;
   - ``store``: inside a slice's store transaction, before one of its
     statements (slice row, runs bulk insert, best-run update, COMMIT), with
     the earlier ones executed and not committed;
   - ``takeover``: the runner is paused (alive) after a store, its heartbeat is
     aged by hand past ``OPTIMIZER_STALE_SECONDS`` and a second runner claims
     the job; then one of the two is killed: the original (the taker carries
     on) or the taker after its first store (the original is then released
     and must notice the lost lease, write nothing and exit 3).
   The first four faults are one of each case (between, store, takeover
   killing the original, takeover killing the taker; seeded order), the rest
   are drawn at random. After each kill the job is resumed with
   ``scripts/run_optimization.py --job-id`` (heartbeat aged by hand first,
   standing in for the wait a cron pick-up makes), until it completes;
4. compares the two: lost slices (in the reference, not completed after the
   faults), duplicated runs (stored rows beyond one per slice and parameter
   set, plus the job's ``completed_runs`` counter beyond the stored runs) and
   differing slices (any difference in a slice's outcome, candles fingerprint,
   best, robust and per-metric best runs, Monte Carlo / walk-forward results,
   or any run's parameters, metrics or stored trades), and prints a table.

How the kill points are hit (the honest choice, written down): every faulted
runner is ``scripts/run_optimization.py``'s own ``main()``, started through
``tools/fault_runner.py``, which registers SQLAlchemy events from outside to
pause the process at the chosen statement and tell this script, which then
SIGKILLs it. No production code path knows about faults (no env-var hook in
``app/``); a pause, unlike a random wall-clock offset, lands exactly inside
the few-millisecond store windows on any machine. The final resume is the
plain script. What it does not do: kill in the middle of one statement (the
database's own atomicity), or kill only the runner and leave its workers.

Bounded: at most ``--kills`` faults, every wait at most ``--timeout`` seconds,
at most three clean resumes. The database must be empty (default: a temporary
SQLite file) or be given with ``--reset``, which DROPS its schema; use a
throw-away database (MariaDB: ``mysql+pymysql://...``). Exit status: 0 when
lost, duplicated and differing are all 0 and every planned kill happened as
expected (the slice killed after its store is stored, the one killed inside it
is not, a released original exits 3), 1 otherwise, 2 for bad input.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, inspect, select, text, update  # noqa: E402

from app.cli.errors import CliCommand  # noqa: E402
from app.enums import JobStatus, SliceStatus, ValidationMode, values  # noqa: E402
from app.errors import ValidationError  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice  # noqa: E402
from app.models._time import utcnow  # noqa: E402
from app.models.optimization import METRIC_COLUMNS  # noqa: E402
from tools.fault_runner import MARKER  # noqa: E402

# (kind, victim): a takeover kills the original runner or the one that took the job over.
CASES = (("between", ""), ("store", ""), ("takeover", "original"), ("takeover", "taker"))
STORE_POINTS = ("slice", "runs", "best", "commit")
MAX_STORE_INDEX = 3  # a fault lands at one of the first three stores of its process
CLEAN_RESUMES = 3


# ---------------------------------------------------------------------------- processes


class Runner:
    """One runner process (own process group), its stderr scanned for the pause marker, logs kept in files."""

    count = 0

    def __init__(self, args: list[str], *, env: dict[str, str], log_dir: Path):
        Runner.count += 1
        self.name = f"runner {Runner.count}"
        self.log = log_dir / f"runner-{Runner.count}.log"
        self.markers: queue.Queue[str] = queue.Queue()
        self.paused_at = ""  # the slice label of its pause point
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=open(log_dir / f"runner-{Runner.count}.out", "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        with open(self.log, "w") as log:
            for line in self.proc.stderr:
                log.write(line)
                log.flush()
                if line.startswith(MARKER):
                    self.markers.put(line.strip())

    def wait_marker(self, timeout: float) -> bool:
        """Wait until the runner pauses at its point; False when it exited (or the timeout passed) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.paused_at = self.markers.get(timeout=0.05).split(" ")[-1]
                return True
            except queue.Empty:
                if self.proc.poll() is not None and self.markers.empty():
                    return False
        return False

    def kill(self) -> None:
        """SIGKILL the runner's whole process group (the runner and its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float) -> int | None:
        """Return the exit status, or None (after killing it) when it did not end within ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def says(self, text: str) -> bool:
        time.sleep(0.1)  # let the reader thread drain the last lines
        return text in self.log.read_text()


@dataclass
class Fault:
    """One planned fault: its kind, where it lands and what happened."""

    kind: str
    preferred_store: int
    point: str
    victim: str
    store: int = 0
    outcome: str = "not injected"
    killed: bool = False
    as_expected: bool = False  # killed, and what must hold right after it held

    def arm(self, remaining: int, *, later: int) -> bool:
        """Choose the store to hit among the ``remaining`` slices; False when too few are left.

        Two slices are kept for each of the ``later`` faults (a takeover needs one
        left after its pause for the taker), so a small job still gets every fault.
        """
        usable = remaining - 2 * later - (1 if self.kind == "takeover" else 0)
        self.store = max(0, min(self.preferred_store, usable))
        return self.store >= 1

    @property
    def spec(self) -> str:
        if self.kind == "store":
            return f"in-store:{self.store}:{self.point}"
        return f"after-store:{self.store}"

    @property
    def label(self) -> str:
        where = {
            "between": f"after store {self.store} committed",
            "store": f"store {self.store}, before {self.point}",
            "takeover": f"after store {self.store}, kill the {self.victim}",
        }[self.kind]
        return f"{self.kind}: {where}"


def plan_faults(kills: int, rng: random.Random) -> list[Fault]:
    """Each case once first (seeded order), then cases at random; the store hit and the store point seeded."""
    cases = rng.sample(CASES, len(CASES))[:kills] + [rng.choice(CASES) for _ in range(kills - len(CASES))]
    return [
        Fault(kind=kind, victim=victim, preferred_store=rng.randint(1, MAX_STORE_INDEX), point=rng.choice(STORE_POINTS))
        for kind, victim in cases
    ]


@dataclass
class Harness:
    """The job under faults: launches runners, injects each fault, resumes until the job completes."""

    job_id: int
    workers: int
    timeout: float
    env: dict[str, str]
    log_dir: Path
    events: list[str] = field(default_factory=list)

    def launch(self, spec: str | None) -> Runner:
        """A runner on the job: the plain cron script (``spec`` None) or it through fault_runner.py."""
        args = ["--job-id", str(self.job_id), "--workers", str(self.workers)]
        script = ["scripts/run_optimization.py"] if spec is None else ["tools/fault_runner.py", spec]
        runner = Runner([*script, *args], env=self.env, log_dir=self.log_dir)
        self.events.append(f"{runner.name}: {' '.join(script)} --job-id {self.job_id}")
        return runner

    def run(self, faults: list[Fault]) -> None:
        runner: Runner | None = None
        for index, fault in enumerate(faults):
            following = faults[index + 1] if index + 1 < len(faults) else None
            if runner is None:  # else a takeover's taker carries this fault already
                if not fault.arm(remaining_slices(self.job_id), later=len(faults) - index - 1):
                    fault.outcome = "skipped: too few slices left"
                    continue
                age_heartbeat(self.job_id)
                runner = self.launch(fault.spec)
            runner = self.inject(fault, runner, following, later=len(faults) - index - 1)
        if runner is not None:
            self.finish(runner)
        self.resume()

    def inject(self, fault: Fault, runner: Runner, following: Fault | None, *, later: int) -> Runner | None:
        """Wait for ``runner`` to pause at the fault's point and act; return the runner that carries on, if any."""
        if not runner.wait_marker(self.timeout):
            fault.outcome = f"not reached: {runner.name} ended with {runner.wait(self.timeout)}"
            return None
        if fault.kind != "takeover":
            runner.kill()
            fault.killed = True
            fault.as_expected, text = stored_text(self.job_id, runner.paused_at, expected=fault.kind == "between")
            fault.outcome = f"SIGKILL {runner.name}; {text}"
            return None
        return self.takeover(fault, runner, following, later)

    def takeover(self, fault: Fault, original: Runner, following: Fault | None, later: int) -> Runner | None:
        """The paused original keeps its claim while a second runner takes the job over; kill one of them."""
        lease = job_row(self.job_id)["lease"]
        age_heartbeat(self.job_id)
        carry = None
        if fault.victim == "taker":
            carry = "after-store:1"
        elif following is not None and following.arm(remaining_slices(self.job_id), later=later - 1):
            carry = following.spec
        taker = self.launch(carry)
        if not wait_for(lambda: job_row(self.job_id)["lease"] > lease or taker.proc.poll() is not None, self.timeout):
            fault.outcome = "takeover did not happen in time"
        elif job_row(self.job_id)["lease"] <= lease:
            fault.outcome = f"takeover refused: {taker.name} ended with {taker.wait(self.timeout)}"
        elif fault.victim == "original":
            original.kill()
            fault.killed = fault.as_expected = True
            fault.outcome = (
                f"{taker.name} claimed the live job; SIGKILL {original.name} (paused after {original.paused_at})"
            )
            return taker if carry else self.finish(taker)
        else:
            fault.killed, fault.as_expected, fault.outcome = self.kill_taker(taker, original)
            return None
        original.kill()
        taker.kill()
        return None

    def kill_taker(self, taker: Runner, original: Runner) -> tuple[bool, bool, str]:
        """Kill the taker after its first store, release the original: it must stop on its lost lease (exit 3).

        Returns (killed, as expected, what happened).
        """
        if not taker.wait_marker(self.timeout):
            original.kill()
            return False, False, f"taker never stored: {taker.name} ended with {taker.wait(self.timeout)}"
        taker.kill()
        stored, text = stored_text(self.job_id, taker.paused_at, expected=True)
        original.release()
        started = time.monotonic()
        status = original.wait(self.timeout)
        seconds = time.monotonic() - started
        stopped = status == 3 and original.says("taken over")
        return (
            True,
            stored and stopped,
            f"SIGKILL {taker.name} after its first store ({text}); {original.name} released: exit {status}"
            f" in {seconds:.1f}s{' (lease lost, wrote nothing more)' if stopped else ' (UNEXPECTED)'}",
        )

    def finish(self, runner: Runner) -> None:
        status = runner.wait(self.timeout)
        self.events.append(f"{runner.name} ran to its end: exit {status}")

    def resume(self) -> None:
        """Resume with the plain cron script until the job completes (at most CLEAN_RESUMES times)."""
        for _ in range(CLEAN_RESUMES):
            if job_row(self.job_id)["status"] == JobStatus.COMPLETED:
                return
            age_heartbeat(self.job_id)
            self.finish(self.launch(None))


def stored_text(job_id: int, label: str, *, expected: bool) -> tuple[bool, str]:
    """Whether the slice a runner was killed at is stored as ``expected`` (after a store it must be, inside
    one it must not), and that said in words."""
    stored = slice_stored(job_id, label)
    text = f"{label} {'stored' if stored else 'not stored (rolled back)'}"
    return stored == expected, text + ("" if stored == expected else " (UNEXPECTED)")


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------- database


def job_row(job_id: int) -> dict[str, Any]:
    """The job's status, lease and counters as committed now (a fresh transaction, no cached object)."""
    db.session.rollback()
    row = db.session.execute(
        select(OptimizationJob.status, OptimizationJob.lease, OptimizationJob.completed_runs).where(
            OptimizationJob.id == job_id
        )
    ).one()
    db.session.rollback()
    return row._asdict()


def remaining_slices(job_id: int) -> int:
    db.session.rollback()
    job = db.session.get(OptimizationJob, job_id)
    total = len(job.symbols) * len(job.timeframes) * len(job.strategies)
    done = db.session.scalar(
        select(func.count()).where(
            OptimizationSlice.job_id == job_id, OptimizationSlice.status == SliceStatus.COMPLETED
        )
    )
    db.session.rollback()
    return total - done


def slice_stored(job_id: int, label: str) -> bool:
    symbol, timeframe, strategy = label.split("|")
    db.session.rollback()
    found = db.session.scalar(
        select(func.count()).where(
            OptimizationSlice.job_id == job_id,
            OptimizationSlice.symbol == symbol,
            OptimizationSlice.timeframe == timeframe,
            OptimizationSlice.strategy == strategy,
        )
    )
    db.session.rollback()
    return bool(found)


def age_heartbeat(job_id: int) -> None:
    """Make the job's heartbeat older than OPTIMIZER_STALE_SECONDS: what waiting that long would do."""
    from flask import current_app

    stale = timedelta(seconds=current_app.config["OPTIMIZER_STALE_SECONDS"] + 60)
    db.session.rollback()
    db.session.execute(
        update(OptimizationJob).where(OptimizationJob.id == job_id).values(heartbeat_at=utcnow() - stale)
    )
    db.session.commit()


def build_job(*, data_dir: Path, reset: bool, scope: dict[str, Any]) -> OptimizationJob:
    """(Re)build the schema with Alembic, import the candles and create the sweep job."""
    from flask_migrate import upgrade

    from app.services.candles.candle_store import import_directory
    from app.services.optimizer import jobs

    db.session.remove()
    tables = inspect(db.engine).get_table_names()
    if tables and not reset:
        raise ValidationError(
            f"the database holds {len(tables)} tables; fault_injection.py builds its own schema: "
            "give an empty database or --reset (drops every table)"
        )
    if tables:
        drop_every_table()
    upgrade()
    import_directory(data_dir)
    return jobs.create_sweep_job(name="fault injection", **scope)


def drop_every_table() -> None:
    """Empty the database as tests/conftest.py does for MySQL (SQLite's full-text tables first).

    Not ``flask db downgrade base``: on MariaDB 0001's downgrade drops ``ix_patterns_scan``
    while a foreign key still needs it (error 1553).
    """
    with db.engine.begin() as connection:
        quote = connection.dialect.identifier_preparer.quote
        if connection.dialect.name == "mysql":
            connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        if connection.dialect.name == "sqlite":  # a virtual table drops its shadow tables with it
            virtual = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            for name in connection.execute(text(virtual)).scalars().all():
                connection.execute(text(f"DROP TABLE {quote(name)}"))
        for name in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE IF EXISTS {quote(name)}"))


@dataclass
class Snapshot:
    """What a job stored, slice by slice, in comparable form."""

    status: str
    completed_runs: int
    slices: dict[str, dict[str, Any]]  # label -> record (the first row when a label is stored twice)
    slice_rows: int
    run_rows: int

    @property
    def completed(self) -> set[str]:
        return {key for key, s in self.slices.items() if s["status"] == SliceStatus.COMPLETED}

    @property
    def distinct_runs(self) -> int:
        return sum(len(s["runs"]) for s in self.slices.values())


def snapshot(job_id: int) -> Snapshot:
    """Read every slice and run of the job (ids, timings and stored_at left out: they may differ)."""
    db.session.rollback()
    job = db.session.get(OptimizationJob, job_id)
    slice_rows = db.session.scalars(
        select(OptimizationSlice).where(OptimizationSlice.job_id == job_id).order_by(OptimizationSlice.id)
    ).all()
    columns = [OptimizationRun.slice_id, OptimizationRun.id, OptimizationRun.param_key, OptimizationRun.params]
    columns += [getattr(OptimizationRun, name) for name in (*METRIC_COLUMNS, "stability_score", "results_json")]
    runs_by_slice: dict[int, list[Any]] = {}
    run_rows = 0
    for row in db.session.execute(select(*columns).where(OptimizationRun.job_id == job_id)):
        runs_by_slice.setdefault(row.slice_id, []).append(row)
        run_rows += 1
    slices: dict[str, dict[str, Any]] = {}
    for item in slice_rows:
        slices.setdefault(item.label, _slice_record(item, runs_by_slice.get(item.id, [])))
    result = Snapshot(job.status, job.completed_runs, slices, len(slice_rows), run_rows)
    db.session.rollback()
    return result


def _slice_record(item: OptimizationSlice, runs: list[Any]) -> dict[str, Any]:
    keys = {run.id: run.param_key for run in runs}
    return {
        "status": item.status,
        "run_count": item.run_count,
        "candles_fingerprint": item.candles_fingerprint,
        "error_message": item.error_message,
        "checks": item.checks_json,
        "best_run": keys.get(item.best_run_id),
        "robust_run": keys.get(item.robust_run_id),
        "best_runs": {metric: keys.get(run_id) for metric, run_id in (item.best_runs or {}).items()},
        "runs": {run.param_key: _run_values(run) for run in runs},
    }


def _run_values(run: Any) -> dict[str, Any]:
    values = run._asdict()
    for name in ("slice_id", "id", "param_key"):
        values.pop(name)
    return json.loads(json.dumps(values, sort_keys=True, default=str))


# ---------------------------------------------------------------------------- comparison


def compare(reference: Snapshot, faulted: Snapshot) -> dict[str, Any]:
    """Lost slices, duplicated runs and differing slices of ``faulted`` against ``reference``.

    Duplicated: stored run rows beyond one per (slice, parameter set), a slice's rows
    stored twice included, plus ``completed_runs`` counted beyond the distinct stored runs.
    """
    lost = sorted(reference.completed - faulted.completed)
    distinct = faulted.distinct_runs
    duplicates = (faulted.run_rows - distinct) + max(0, faulted.completed_runs - distinct)
    differing = {}
    for key in sorted(reference.completed & faulted.completed):
        ref, got = reference.slices[key], faulted.slices[key]
        fields = [name for name in ref if name != "runs" and ref[name] != got[name]]
        run_keys = sorted(set(ref["runs"]) | set(got["runs"]))
        fields += [f"run {k}" for k in run_keys if ref["runs"].get(k) != got["runs"].get(k)]
        if fields:
            differing[key] = fields
    return {"lost": lost, "duplicates": duplicates, "differing": differing}


def report(reference: Snapshot, faulted: Snapshot, result: dict[str, Any]) -> str:
    rows = [
        ("job status", reference.status, faulted.status, "completed"),
        ("slices stored", reference.slice_rows, faulted.slice_rows, reference.slice_rows),
        ("runs stored", reference.run_rows, faulted.run_rows, reference.run_rows),
        ("job completed_runs", reference.completed_runs, faulted.completed_runs, reference.run_rows),
        ("lost slices", "", len(result["lost"]), 0),
        ("duplicated runs", "", result["duplicates"], 0),
        ("differing slices", "", len(result["differing"]), 0),
    ]
    lines = [f"{'check':<20}{'reference':>11}{'faulted':>11}{'goal':>11}"]
    lines += [f"{name:<20}{ref!s:>11}{got!s:>11}{goal!s:>11}" for name, ref, got, goal in rows]
    lines += [f"  lost: {key}" for key in result["lost"][:10]]
    lines += [f"  differs: {key}: {', '.join(fields[:5])}" for key, fields in list(result["differing"].items())[:10]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command


def _split(value: str | None) -> list[str] | None:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return items or None


@click.command(cls=CliCommand, help=__doc__.split("\n\n")[0])
@click.option("--database-url", default=None, help="SQLAlchemy URL of a throw-away database (default: temp SQLite).")
@click.option(
    "--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=REPO / "data" / "candles"
)
@click.option("--preset", type=click.Choice(("default", "quick")), default="default", show_default=True)
@click.option("--symbols", default=None, help="Comma-separated (default: every imported symbol).")
@click.option("--timeframes", default=None, help="Comma-separated (default: OPTIMIZE_TIMEFRAMES stored for all).")
@click.option("--strategies", default=None, help="Comma-separated (default: every strategy).")
@click.option("--validation", type=click.Choice(values(ValidationMode)), default=ValidationMode.NONE.value)
@click.option("--kills", type=click.IntRange(min=0, max=20), default=5, show_default=True)
@click.option("--seed", type=int, default=15, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds per wait.")
@click.option("--reset", is_flag=True, help="Drop the database's existing schema first.")
def fault_injection_command(database_url, data_dir, preset, symbols, timeframes, strategies, validation, **options):
    """Parse the options, run the experiment in a temporary directory, exit with its status."""
    scope = {"grids": preset, "symbols": _split(symbols), "timeframes": _split(timeframes)}
    scope.update(strategies=_split(strategies), validation=validation)
    with tempfile.TemporaryDirectory(prefix="fault-injection-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'fault_injection.db'}"
        log_dir = Path(tmp) / "logs"
        log_dir.mkdir()
        code = run_experiment(url=url, data_dir=data_dir, scope=scope, log_dir=log_dir, **options)
        if code:
            kept = shutil.copytree(log_dir, tempfile.mkdtemp(prefix="fault-injection-logs-"), dirs_exist_ok=True)
            click.echo(f"runner logs kept in {kept}")
    raise click.exceptions.Exit(code)


def run_experiment(*, url, data_dir, scope, log_dir, kills, seed, workers, timeout, reset) -> int:
    """Reference run, faulted run, comparison; return the exit status."""
    os.environ["DATABASE_URL"] = url
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
    from app import create_app

    with create_app().app_context():
        job = build_job(data_dir=data_dir, reset=reset, scope=scope)
        job_id, slices = job.id, remaining_slices(job.id)
        click.echo(
            f"fault injection on {db.engine.dialect.name}: job {job_id} '{job.description}', {slices} slices,"
            f" {job.total_runs:,} runs ({scope['grids']} grids), {workers} workers, {kills} kills, seed {seed}"
        )
        started = time.monotonic()
        harness = Harness(job_id=job_id, workers=workers, timeout=timeout, env=env, log_dir=log_dir)
        harness.finish(harness.launch(None))
        reference = snapshot(job_id)
        click.echo(f"reference: {reference.status} in {time.monotonic() - started:.1f}s ({harness.events.pop()})")
        if reference.status != JobStatus.COMPLETED:
            click.echo("the uninterrupted reference did not complete: nothing to compare with")
            return 1
        harness.events.clear()
        rebuilt = build_job(data_dir=data_dir, reset=True, scope=scope)
        if rebuilt.id != job_id:
            click.echo(f"the rebuilt job got id {rebuilt.id}, not {job_id}: its seeds would differ, no comparison")
            return 1
        faults = plan_faults(kills, random.Random(seed))
        started = time.monotonic()
        harness.run(faults)
        faulted = snapshot(job_id)
        click.echo(
            f"faulted: {faulted.status} in {time.monotonic() - started:.1f}s, {Runner.count - 1} runner processes"
        )
        for number, fault in enumerate(faults, 1):
            click.echo(f"  {number}. {fault.label:<44} {fault.outcome}")
        for event in harness.events:
            click.echo(f"     {event}")
        result = compare(reference, faulted)
        click.echo(report(reference, faulted, result))
    ok = not (result["lost"] or result["duplicates"] or result["differing"])
    ok = ok and faulted.status == JobStatus.COMPLETED and all(f.as_expected for f in faults)
    click.echo(
        f"kills done: {sum(f.killed for f in faults)} of {len(faults)}, as expected:"
        f" {sum(f.as_expected for f in faults)}; result: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    fault_injection_command(prog_name="fault_injection.py")
