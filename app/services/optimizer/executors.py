"""Where slices are evaluated: inline, in a local process pool (default) or on a Dask cluster.

An executor takes the runner's slice tasks and yields their results as they
finish; it never touches the database (the runner alone writes, under its
lease). While it waits it calls ``heartbeat`` every ``HEARTBEAT_SECONDS`` so
the runner can prove its lease is alive during long slices. The choice is
configuration (``OPTIMIZER_EXECUTOR``):

- ``local``: ``concurrent.futures`` process pool on this machine (fork: the
  workers share the already compiled strategies and engine at no cost); one
  worker or one task runs inline;
- ``dask``: Dask distributed at ``DASK_SCHEDULER_ADDRESS`` (``dask scheduler``
  plus ``dask worker ADDRESS`` on each machine), or, without an address, a
  ``LocalCluster`` of ``workers`` single-threaded processes. Tasks carry their
  candles as arrays (a pickled DataFrame). A task whose worker dies is
  rescheduled by Dask (up to ``distributed.scheduler.allowed-failures``
  times); one that still fails comes back as a failed slice, which the job
  records and retries on resume: never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_all_start_methods, get_context
from typing import Protocol

from app.services.optimization_worker import SliceResult, SliceTask, candles_fingerprint, evaluate_slice
from config import ConfigError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "dask")
HEARTBEAT_SECONDS = 30
Evaluate = Callable[[SliceTask], SliceResult]
Heartbeat = Callable[[], None]


class SliceExecutor(Protocol):
    """Evaluates slice tasks somewhere and yields their results in completion order."""

    def run(self, tasks: list[SliceTask], *, heartbeat: Heartbeat) -> Iterator[SliceResult]: ...


class LocalExecutor:
    """A process pool on this machine (inline for one worker or one task)."""

    def __init__(self, *, workers: int, evaluate: Evaluate = evaluate_slice):
        self.workers = workers
        self.evaluate = evaluate

    def run(self, tasks: list[SliceTask], *, heartbeat: Heartbeat) -> Iterator[SliceResult]:
        if self.workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield self.evaluate(task)
            return
        # Workers never touch the database (they only compute), so inherited connections stay unused.
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context) as pool:
            pending = {pool.submit(self.evaluate, task) for task in tasks}
            while pending:
                finished, pending = wait(pending, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
                if not finished:
                    heartbeat()
                for future in finished:
                    yield future.result()


class DaskExecutor:
    """Dask distributed: a running scheduler at ``address``, or a LocalCluster of ``workers`` processes."""

    def __init__(self, *, address: str | None, workers: int, evaluate: Evaluate = evaluate_slice):
        self.address = address or None
        self.workers = workers
        self.evaluate = evaluate

    def run(self, tasks: list[SliceTask], *, heartbeat: Heartbeat) -> Iterator[SliceResult]:
        from distributed import Client, LocalCluster  # optional at import time: only this executor needs it

        if not tasks:
            return
        if self.address:
            with Client(self.address) as client:
                yield from self._run_on(client, tasks, heartbeat)
            return
        cluster = LocalCluster(
            n_workers=min(self.workers, len(tasks)), threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            yield from self._run_on(client, tasks, heartbeat)

    def _run_on(self, client, tasks: list[SliceTask], heartbeat: Heartbeat) -> Iterator[SliceResult]:
        from distributed import wait as dask_wait

        # pure=False: every task runs (no result reuse across jobs); keys name the slice in Dask's dashboard.
        futures = {
            client.submit(self.evaluate, task, pure=False, key=f"slice-{'|'.join(task.key)}-{id(task)}"): task
            for task in tasks
        }
        pending = set(futures)
        while pending:
            try:
                done = dask_wait(pending, timeout=HEARTBEAT_SECONDS, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                heartbeat()
                continue
            pending -= done
            for future in done:
                yield _result_of(future, futures[future])


def _result_of(future, task: SliceTask) -> SliceResult:
    """The slice's result, or a failed slice when Dask gave up on it (e.g. its workers kept dying)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - recorded on the slice; the job retries it on resume
        log.error("slice %s failed on the Dask cluster: %s: %s", "|".join(task.key), type(exc).__name__, exc)
        return SliceResult(
            key=task.key,
            fingerprint=candles_fingerprint(task.candles),
            error=f"{type(exc).__name__} on the Dask cluster: {exc}",
        )


def make_executor(*, kind: str, workers: int, address: str | None = None) -> SliceExecutor:
    """Return the executor configured by ``OPTIMIZER_EXECUTOR`` (``kind``); ConfigError for an unknown one."""
    if kind == "local":
        return LocalExecutor(workers=workers)
    if kind == "dask":
        return DaskExecutor(address=address, workers=workers)
    raise ConfigError(f"unknown OPTIMIZER_EXECUTOR {kind!r} (known: {', '.join(EXECUTORS)})")
