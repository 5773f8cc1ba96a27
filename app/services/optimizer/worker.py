"""The optimizer's worker service: run jobs as they appear, one at a time, until asked to stop.

``flask optimize worker`` (and ``./dev.sh run`` beside the web server) runs
this loop: every ``OPTIMIZER_POLL_SECONDS`` it asks for the oldest pending job
(or a running one whose heartbeat went stale: its process died) and runs it
with a ``JobRunner``, which heartbeats through the job's lease. ``stop()``
(the CLI calls it on SIGTERM or Ctrl-C) ends the loop gracefully: an idle
worker exits at once; a busy one stores the slices already computing, then
releases the job (pending again, resumed by the next worker) and exits.
Several workers may run at once, on one machine or many: the lease lets
exactly one of them claim a job, the others see a ConflictError and poll on.
Cron stays the fallback (``scripts/run_optimization.py`` every 15 minutes)
and creates the weekly sweep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from app.enums import JobStatus
from app.errors import ConflictError
from app.extensions import db
from app.services.optimizer.jobs import next_runnable_job
from app.services.optimizer.runner import JobRunner, LeaseLostError

log = logging.getLogger(__name__)


@dataclass
class WorkerReport:
    """What a worker did before it stopped (for the CLI's last line and the tests)."""

    jobs: dict[int, str] = field(default_factory=dict)  # job id -> status it was left in

    @property
    def summary(self) -> str:
        if not self.jobs:
            return "worker stopped; no job run"
        return "worker stopped; jobs: " + ", ".join(f"{job_id} {status}" for job_id, status in self.jobs.items())


class OptimizerWorker:
    """Poll for runnable jobs and run them (see the module docstring)."""

    def __init__(
        self,
        *,
        poll_seconds: float | None = None,
        workers: int | None = None,
        runner_factory: Callable[..., JobRunner] = JobRunner,
    ):
        config = current_app.config
        self.poll_seconds = poll_seconds if poll_seconds is not None else config["OPTIMIZER_POLL_SECONDS"]
        self.stale_seconds = config["OPTIMIZER_STALE_SECONDS"]
        self.workers = workers
        self.runner_factory = runner_factory
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler): an idle wait ends now, a job is released."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, max_jobs: int | None = None, exit_when_idle: bool = False) -> WorkerReport:
        """Run jobs until stopped (or ``max_jobs`` ran, or, with ``exit_when_idle``, none is waiting)."""
        report = WorkerReport()
        log.info("optimizer worker started (polling every %ss)", self.poll_seconds)
        while not self.stopping and (max_jobs is None or len(report.jobs) < max_jobs):
            job = next_runnable_job(stale_after_seconds=self.stale_seconds)
            db.session.rollback()  # end the read transaction: the next poll must see new jobs
            if job is None:
                if exit_when_idle:
                    break
                self._stop.wait(self.poll_seconds)
                continue
            status = self._run_one(job.id)
            if status is not None:
                report.jobs[job.id] = status
        log.info("%s", report.summary)
        return report

    def _run_one(self, job_id: int) -> str | None:
        """Run one job; return the status it was left in (None: another worker had it)."""
        runner = self.runner_factory(workers=self.workers)
        try:
            job = runner.run(job_id, stop=lambda: self.stopping)
        except LeaseLostError:
            return None  # taken over by another worker (we were too slow): it carries on
        except ConflictError:
            return None  # another worker claimed it between our poll and our claim
        except Exception:  # noqa: BLE001 - the runner marked the job failed; the service carries on
            log.exception("job %s stopped with an error; the worker carries on", job_id)
            return JobStatus.FAILED.value
        return str(job.status)
